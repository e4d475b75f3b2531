// Device loss and rerouting: follow_default, pinned with backoff, an open that hangs.
#include <openae/control/context.h>

#include "test_engine.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <sndfile.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <vector>

namespace {

struct recorder {
    std::mutex mutex;
    std::vector<ae::event> events;
    void operator()(const ae::event& e) {
        const std::lock_guard lock(mutex);
        events.push_back(e);
    }
    [[nodiscard]] std::vector<ae::event> of(ae::event_kind kind) {
        const std::lock_guard lock(mutex);
        std::vector<ae::event> out;
        for (const auto& e : events) {
            if (e.kind == kind) out.push_back(e);
        }
        return out;
    }
};

// The test thread as an event-driven engine: passes until `done()` or `max_passes`.
template <typename Done>
int render_until(ae::render_endpoint& ep, ae::test::event_fd& wake, Done&& done, int max_passes) {
    std::uint64_t written = 0;
    int passes = 0;
    for (; passes < max_passes && !done(); ++passes) {
        ae::test::render_pass(ep.rt(), written, ~std::uint64_t{0}, [](std::uint64_t, float* f) { f[0] = f[1] = 0.1f; });
        (void)wake.wait(50);
    }
    return passes;
}

} // namespace

TEST_CASE("device loss: follow_default reroutes to the default device, frames counted, route reported") {
    recorder rec;
    ae::context_options options;
    options.log_level = "off";
    options.default_device = "null?period=10"; // a longer period than the lost device's: more latency
    ae::context ctx(options);
    ctx.subscribe(std::ref(rec));
    ae::endpoint_config config;
    config.name = "follow";
    config.device = "faulty:null?period=5&unplug_at_ms=200";
    config.period = ae::hns{100'000};
    auto ep = ctx.create_render_endpoint(config);
    REQUIRE(ep);
    ae::test::event_fd wake;
    REQUIRE_FALSE(ep->set_event_handle(wake.get()));
    REQUIRE_FALSE(ep->start());
    render_until(*ep, wake, [&] { return !rec.of(ae::event_kind::rerouted).empty(); }, 400);
    // And a little more on the new device.
    render_until(*ep, wake, [] { return false; }, 40);
    const auto lost = rec.of(ae::event_kind::device_lost);
    const auto rerouted = rec.of(ae::event_kind::rerouted);
    REQUIRE(lost.size() == 1);
    REQUIRE(rerouted.size() == 1);
    CHECK(rerouted[0].device == "faulty:null?period=5&unplug_at_ms=200");
    CHECK(rerouted[0].to == "null?period=10");
    CHECK(ep->device() == "null?period=10");
    // 20 ms of buffer + the device's period: 5 ms before, 10 ms after.
    const auto latency = rec.of(ae::event_kind::latency_changed);
    REQUIRE(latency.size() == 1);
    CHECK(latency[0].latency == ae::hns{300'000});
    CHECK(ep->latency() == ae::hns{300'000});
    const double ms = static_cast<double>((rerouted[0].time - lost[0].time).count()) / 1e4;
    MESSAGE("device loss -> audio on the fallback: ", ms, " ms (the device thread seeing the loss -> rerouted)");
    CHECK(ms < 500);
    std::uint64_t lost_frames = 0;
    for (const auto& g : rec.of(ae::event_kind::glitch)) {
        if (g.glitch == ae::glitch_kind::device_lost) lost_frames += g.frames;
    }
    CHECK(lost_frames > 0); // what played into nothing between the loss and the reroute
    CHECK(ep->state() == ae::endpoint_state::running);
}

TEST_CASE("device loss: pinned retries the same device with exponential backoff until it is back") {
    const std::string path = "/tmp/openae-pinned-" + std::to_string(::getpid()) + ".wav";
    auto write_source = [&] {
        SF_INFO info{};
        info.samplerate = 48000;
        info.channels = 2;
        info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
        SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
        REQUIRE(f != nullptr);
        std::vector<short> zeros(2 * 48000);
        sf_writef_short(f, zeros.data(), 48000);
        sf_close(f);
    };
    write_source();
    const std::string log_path = "/tmp/openae-pinned-" + std::to_string(::getpid()) + ".jsonl";
    std::remove(log_path.c_str());
    recorder rec;
    {
        ae::context_options options;
        options.log_file = log_path;
        options.retry_first = ae::hns{200'000}; // 20 ms, doubling
        options.retry_max = ae::hns{1'600'000}; // capped at 160 ms
        ae::context ctx(options);
        ctx.subscribe(std::ref(rec));
        ae::endpoint_config config;
        config.name = "pinned";
        config.device = "faulty:wav:" + path + "?realtime=1&unplug_at_ms=100";
        config.period = ae::hns{100'000};
        config.routing = ae::routing_policy::pinned;
        auto ep = ctx.create_capture_endpoint(config);
        REQUIRE(ep);
        ae::test::event_fd wake;
        REQUIRE_FALSE(ep->set_event_handle(wake.get()));
        std::remove(path.c_str()); // reopening fails until the file is back
        REQUIRE_FALSE(ep->start());
        // Read until six retries have failed, then bring the file back.
        std::uint64_t read = 0;
        auto log_lines = [&](const char* event_name) {
            std::ifstream in(log_path);
            std::string line;
            std::vector<nlohmann::json> out;
            while (std::getline(in, line)) {
                auto j = nlohmann::json::parse(line, nullptr, false);
                if (!j.is_discarded() && j.value("event", "") == event_name) out.push_back(j);
            }
            return out;
        };
        for (int passes = 0; passes < 2000 && log_lines("reopen_scheduled").size() < 6; ++passes) {
            ae::test::capture_pass(ep->rt(), read, [](std::uint64_t, const float*) {});
            (void)wake.wait(50);
        }
        write_source();
        for (int passes = 0; passes < 2000 && rec.of(ae::event_kind::rerouted).empty(); ++passes) {
            ae::test::capture_pass(ep->rt(), read, [](std::uint64_t, const float*) {});
            (void)wake.wait(50);
        }
        const auto scheduled = log_lines("reopen_scheduled");
        REQUIRE(scheduled.size() >= 6);
        std::vector<double> delays;
        for (const auto& j : scheduled) delays.push_back(j["delay_ms"].get<double>());
        CHECK(delays[0] == 20);
        CHECK(delays[1] == 40);
        CHECK(delays[2] == 80);
        CHECK(delays[3] == 160);
        CHECK(delays[4] == 160); // capped
        CHECK(scheduled[0]["attempt"] == 1);
        CHECK(scheduled[0]["code"] == "device_unavailable");
        const auto rerouted = rec.of(ae::event_kind::rerouted);
        REQUIRE(rerouted.size() == 1);
        CHECK(rerouted[0].to == config.device); // the same device, back
        CHECK(ep->device() == config.device);
        CHECK(read > 0);
    }
    std::remove(path.c_str());
    std::remove(log_path.c_str());
}

TEST_CASE("device loss: a fallback whose open hangs is device_unresponsive; the actor stays responsive") {
    recorder rec;
    ae::context_options options;
    options.log_level = "off";
    options.default_device = "faulty:null?period=5&open_delay_ms=3000"; // hangs 3 s on open
    options.open_timeout = ae::hns{2'000'000};                          // 200 ms
    options.retry_first = ae::hns{50'000'000};                          // no retry within the test
    ae::context ctx(options);
    ctx.subscribe(std::ref(rec));
    ae::endpoint_config config;
    config.name = "hang";
    config.device = "faulty:null?period=5&unplug_at_ms=50";
    config.period = ae::hns{100'000};
    auto ep = ctx.create_render_endpoint(config);
    REQUIRE(ep);
    ae::test::event_fd wake;
    REQUIRE_FALSE(ep->set_event_handle(wake.get()));
    REQUIRE_FALSE(ep->start());
    const ae::hns begin = ae::monotonic_now();
    // While the open hangs, the control thread answers: creating and starting another endpoint
    // takes a blink.
    render_until(*ep, wake, [&] { return !rec.of(ae::event_kind::device_lost).empty(); }, 400);
    const ae::hns before_create = ae::monotonic_now();
    ae::endpoint_config other;
    other.name = "other";
    other.device = "null?period=5";
    other.period = ae::hns{100'000};
    auto second = ctx.create_render_endpoint(other);
    REQUIRE(second);
    CHECK_FALSE(second->start());
    const double create_ms = static_cast<double>((ae::monotonic_now() - before_create).count()) / 1e4;
    MESSAGE("control calls during a hanging open: ", create_ms, " ms");
    CHECK(create_ms < 150);
    render_until(*ep, wake, [&] { return !rec.of(ae::event_kind::device_unresponsive).empty(); }, 400);
    const auto unresponsive = rec.of(ae::event_kind::device_unresponsive);
    REQUIRE(unresponsive.size() == 1);
    CHECK(unresponsive[0].device == options.default_device);
    const double after_ms = static_cast<double>((unresponsive[0].time - begin).count()) / 1e4;
    CHECK(after_ms < 1500); // reported at the timeout, not when the open finally returns
    CHECK(ep->state() == ae::endpoint_state::running);
    CHECK(rec.of(ae::event_kind::rerouted).empty());
}
