// An RDP client's speakers and microphone through the control API, against xfreerdp
// (tests/pipeline/rdp_rig.h): announced by `device_added` when the client connects, endpoints made
// on `rdp` (the most recent session), the speakers' latency from the Wave Confirms reported by
// `latency_changed`, and the client killed: both endpoints rerouted by their policy, the frames of
// the time between counted, the devices announced gone.
#include <openae/control/context.h>
#include <openae/pipeline/rdp.h>

#include "rdp_rig.h"
#include "stepped_rig.h"
#include "test_engine.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <numbers>

namespace {

// Counts the context's device_added / device_removed events and lets the test wait for them.
class device_announcements {
public:
    void operator()(const ae::event& e) {
        // Only RDP's: the context's other watches (JACK servers, PipeWire) may tell of others'.
        if (e.kind != ae::event_kind::device_added && e.kind != ae::event_kind::device_removed) return;
        if (!e.device.starts_with("rdp:")) return;
        const std::lock_guard lock(mutex_);
        (e.kind == ae::event_kind::device_added ? added_ : removed_).push_back(e);
        changed_.notify_all();
    }
    std::vector<ae::event> wait_added(std::size_t count, std::chrono::seconds within) { return wait(added_, count, within); }
    std::vector<ae::event> wait_removed(std::size_t count, std::chrono::seconds within) { return wait(removed_, count, within); }

private:
    std::vector<ae::event> wait(const std::vector<ae::event>& which, std::size_t count, std::chrono::seconds within) {
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, within, [&] { return which.size() >= count; });
        return which;
    }
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<ae::event> added_, removed_;
};

bool has(const std::vector<ae::event>& events, const std::string& device, const std::string& directions) {
    return std::ranges::any_of(events, [&](const ae::event& e) { return e.device == device && e.message == directions; });
}

} // namespace

TEST_CASE("rdp through a context: announced on connect - endpoints on rdp - latency from the confirms - a killed client rerouted with frames counted") {
    const std::string state = (std::filesystem::temp_directory_path() / ("openae-rdp-state-ctl-" + std::to_string(::getpid()))).string();
    auto server = ae::pipeline::rdp_server::start({.address = "127.0.0.1", .port = 0, .state_dir = state});
    REQUIRE(server);
    ae::test::event_recorder rec;
    device_announcements announced;
    ae::test::event_fd wake, capture_wake; // outlive the context: its device threads signal them
    ae::context_options options;
    options.default_device = "null";
    options.watch_devices = true;
    options.log_level = "warn";
    ae::context ctx(options);
    ctx.subscribe(std::ref(rec));
    ctx.subscribe(std::ref(announced));

    ae::endpoint_config config;
    config.device = "rdp"; // the most recently connected session
    config.period = ae::hns{100'000};
    config.routing = ae::routing_policy::follow_default;
    config.name = "early";
    const auto early = ctx.create_render_endpoint(config);
    REQUIRE_FALSE(early);
    CHECK(early.error() == ae::make_error_code(ae::errc::device_unavailable));

    ae::test::rdp_client_rig client((*server)->port());
    REQUIRE(client.ready());
    const auto added = announced.wait_added(2, std::chrono::seconds(30));
    if (added.size() < 2) MESSAGE("xfreerdp's log:\n", client.log("xfreerdp.log"));
    REQUIRE(added.size() == 2);
    const auto sessions = ae::pipeline::rdp_sessions();
    REQUIRE(sessions.size() == 1);
    const std::string spec = "rdp:" + sessions[0].id;
    CHECK(has(added, spec, "render"));
    CHECK(has(added, spec, "capture"));

    config.name = "speakers";
    auto speakers = ctx.create_render_endpoint(config);
    REQUIRE(speakers);
    config.name = "microphone";
    auto microphone = ctx.create_capture_endpoint(config);
    REQUIRE(microphone);
    REQUIRE_FALSE(speakers->set_event_handle(wake.get()));
    REQUIRE_FALSE(microphone->set_event_handle(capture_wake.get()));
    REQUIRE_FALSE(speakers->start());
    REQUIRE_FALSE(microphone->start());
    CHECK(speakers->device() == "rdp");
    const ae::hns latency_at_start = speakers->latency();

    std::uint64_t written = 0, read = 0;
    const auto pass = [&] {
        (void)ae::test::render_pass(speakers->rt(), written, ~std::uint64_t{0}, [](std::uint64_t n, float* f) {
            f[0] = f[1] = static_cast<float>(0.25 * std::sin(2 * std::numbers::pi * 1000 * static_cast<double>(n) / 48000));
        });
        (void)ae::test::capture_pass(microphone->rt(), read, [](std::uint64_t, const float*) {});
        (void)wake.wait(100);
    };
    // The speakers' latency: a 20 ms block until the client's confirms say how long it holds a
    // block before playing it (a few hundred ms with xfreerdp's PulseAudio defaults).
    const auto latency_reported = [&] {
        for (const auto& e : rec.of(ae::event_kind::latency_changed)) {
            if (e.endpoint == "speakers" && e.latency > latency_at_start + ae::hns{500'000}) return true;
        }
        return false;
    };
    for (int passes = 0; passes < 1000 && !latency_reported(); ++passes) pass();
    REQUIRE(latency_reported());
    const ae::hns latency_confirmed = rec.of(ae::event_kind::latency_changed).back().latency;
    MESSAGE("speakers' latency ", static_cast<double>(latency_at_start.count()) / 1e4, " ms at start, ",
            static_cast<double>(latency_confirmed.count()) / 1e4, " ms from the confirms; ", written, " frames written, ", read, " read");
    CHECK(written > 0);
    CHECK(read > 0);

    // The microphone's periods the client left short (it sends in bursts: 1.7 s every 2 s here)
    // reach the endpoint as `dropped` glitches.
    auto figures = ae::pipeline::rdp_sessions();
    for (int passes = 0; passes < 800 && figures.size() == 1 && figures[0].microphone_short_frames == 0; ++passes) {
        pass();
        figures = ae::pipeline::rdp_sessions();
    }
    REQUIRE(figures.size() == 1);
    const std::uint64_t short_before_kill = figures[0].microphone_short_frames;
    CHECK(short_before_kill > 0);

    // The client killed: both devices lost, both endpoints follow the default (null).
    client.stop_client();
    const auto both_rerouted = [&] {
        std::size_t done = 0;
        for (const auto& e : rec.of(ae::event_kind::rerouted)) done += e.endpoint == "speakers" || e.endpoint == "microphone";
        return done == 2;
    };
    for (int passes = 0; passes < 1000 && !both_rerouted(); ++passes) pass();
    REQUIRE(both_rerouted());
    for (const auto& e : rec.of(ae::event_kind::rerouted)) {
        CHECK(e.device == "rdp");
        CHECK(e.to == "null");
    }
    CHECK(speakers->device() == "null");
    CHECK(microphone->device() == "null");
    CHECK(rec.of(ae::event_kind::device_lost).size() == 2);
    const auto removed = announced.wait_removed(2, std::chrono::seconds(10));
    CHECK(has(removed, spec, "render"));
    CHECK(has(removed, spec, "capture"));
    CHECK(ae::pipeline::rdp_sessions().empty());

    // Both go on, on null; the time between was carried on a virtual clock and its frames counted.
    const std::uint64_t written_at_reroute = written, read_at_reroute = read;
    for (int passes = 0; passes < 20; ++passes) pass();
    CHECK(written > written_at_reroute);
    CHECK(read > read_at_reroute);
    auto speakers_stats = speakers->stats();
    auto microphone_stats = microphone->stats();
    REQUIRE(speakers_stats);
    REQUIRE(microphone_stats);
    const auto lost = static_cast<std::size_t>(ae::glitch_kind::device_lost);
    MESSAGE("device_lost frames: speakers ", speakers_stats->glitch_frames[lost], ", microphone ", microphone_stats->glitch_frames[lost],
            "; stages ", rec.stages());
    // The lost time is as long as the reroute takes, which may be under one period: no floor.
    CHECK(speakers_stats->glitch_frames[lost] < 48000);
    CHECK(microphone_stats->glitch_frames[lost] < 48000);
    CHECK(speakers_stats->glitch_overflows == 0);
    const auto dropped = static_cast<std::size_t>(ae::glitch_kind::dropped);
    MESSAGE("microphone: ", short_before_kill, " frames short before the kill; the endpoint counted ", microphone_stats->glitch_frames[dropped], " dropped");
    CHECK(microphone_stats->glitch_frames[dropped] >= short_before_kill * 48000 / figures[0].microphone_rate);
    std::filesystem::remove_all(state);
}
