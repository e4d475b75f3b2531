// reset() and pre-fill, as a host relies on them (WASAPI's Reset and "write the buffer before
// Start"): when reset() returns, the RT view's padding is 0 and what it discarded is counted
// apart from glitches; a stopped endpoint keeps what the engine queued, and the first device
// period after start() plays it, sample for sample.
#include <openae/control/context.h>

#include "test_engine.h"

#include <doctest/doctest.h>
#include <sndfile.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

// A frame value no silence or ramp-up can produce: frame n of the pre-fill, channel c.
float prefill_value(std::uint64_t n, std::uint32_t c) { return static_cast<float>(n + 1) / 4096.0f + (c == 0 ? 0.0f : 0.5f); }

// Polls `done` (explicit synchronisation on device progress, bounded by a generous deadline that
// only a hung device thread reaches).
template <typename Fn>
bool eventually(Fn&& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::yield();
    }
    return true;
}

// Glitch events by kind, collected until the context is gone (its last drain reports them all).
struct glitch_log {
    std::mutex mutex;
    std::vector<ae::event> events;
    void subscribe(ae::context& ctx) {
        ctx.subscribe([this](const ae::event& e) {
            if (e.kind != ae::event_kind::glitch) return;
            const std::lock_guard lock(mutex);
            events.push_back(e);
        });
    }
    std::size_t count(ae::glitch_kind kind) {
        const std::lock_guard lock(mutex);
        std::size_t n = 0;
        for (const auto& e : events) n += e.glitch == kind ? 1 : 0;
        return n;
    }
};

// Pre-fills a stopped render endpoint: the whole buffer, in packets. Returns the frames written.
std::uint64_t prefill(ae::render_endpoint_rt& rt) {
    (void)rt.current_padding(); // a pass starts here (the view picks up its buffer)
    std::uint64_t written = 0;
    const std::uint32_t channels = rt.format().channels;
    while (written < rt.buffer_frames()) {
        const auto frames = static_cast<std::uint32_t>(std::min<std::uint64_t>(rt.frames_per_packet(), rt.buffer_frames() - written));
        auto span = rt.output_data_pointer(frames);
        if (!span) break;
        auto* out = reinterpret_cast<float*>(*span);
        for (std::uint32_t i = 0; i < frames; ++i) {
            for (std::uint32_t c = 0; c < channels; ++c) out[i * channels + c] = prefill_value(written + i, c);
        }
        rt.release_output_data_pointer({*span, frames, ae::buffer_flags::valid});
        written += frames;
    }
    rt.processing_complete();
    return written;
}

std::vector<float> read_wav(const std::string& path, SF_INFO& info) {
    info = SF_INFO{};
    SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
    if (!file) return {};
    std::vector<float> x(static_cast<std::size_t>(info.frames) * static_cast<std::size_t>(info.channels));
    sf_readf_float(file, x.data(), info.frames);
    sf_close(file);
    return x;
}

// A quiet context whose device threads run under `device_guard`.
ae::context_options guarded_options(ae::test::rt_guard& device_guard) {
    ae::context_options options;
    options.log_level = "off";
    options.device_hooks = ae::test::armed_hooks(device_guard);
    return options;
}

ae::endpoint_config endpoint(const std::string& name, const std::string& device, ae::hns period) {
    ae::endpoint_config config;
    config.name = name;
    config.device = device;
    config.period = period;
    return config;
}

} // namespace

TEST_CASE("reset: a render endpoint's queue is gone when reset returns, counted apart, not a glitch") {
    const std::string path = "/tmp/openae-reset-" + std::to_string(::getpid()) + ".wav";
    for (const std::string& device : {std::string("null?period=5"), "wav:" + path + "?sample=f32"}) {
        CAPTURE(device);
        std::remove(path.c_str());
        ae::test::rt_guard device_guard;
        ae::test::rt_guard engine_guard;
        glitch_log glitches;
        std::uint64_t discarded = 0;
        {
            ae::test::event_fd wake; // outlives the context: its device threads signal it
            ae::context ctx(guarded_options(device_guard));
            glitches.subscribe(ctx);
            // 10 ms: 960 frames of buffer (32 device periods of 40 ms offline)
            auto ep = ctx.create_render_endpoint(endpoint("music", device, ae::hns{100'000}));
            REQUIRE(ep);
            REQUIRE_FALSE(ep->set_event_handle(wake.get()));
            ae::render_endpoint_rt& rt = ep->rt();
            (void)rt.current_padding();
            const std::uint64_t buffer = rt.buffer_frames();
            CHECK(buffer == (device.starts_with("null") ? 960 : 32 * 1920));
            std::uint64_t prefilled = 0, padding = 0;
            std::expected<std::byte*, ae::errc> beyond;
            {
                auto armed = engine_guard.arm(); // this thread plays the engine's RT thread here
                prefilled = prefill(rt);
                padding = rt.current_padding();
                beyond = rt.output_data_pointer(480);
            }
            CHECK(prefilled == buffer);
            CHECK(padding == buffer);
            // Full: the pre-fill's end, not an overrun.
            REQUIRE_FALSE(beyond.has_value());
            CHECK(beyond.error() == ae::errc::busy);
            if (device.starts_with("null")) {
                // The device runs on; a stopped endpoint's queue waits for start.
                const std::uint64_t periods = ctx.devices()[0].periods;
                REQUIRE(eventually([&] { return ctx.devices()[0].periods >= periods + 3; }));
                CHECK(rt.current_padding() == buffer);
            }
            REQUIRE_FALSE(ep->reset());
            CHECK(rt.current_padding() == 0); // at once, no pass, no start in between
            auto stats = ep->stats();
            REQUIRE(stats);
            CHECK(stats->discarded_frames == buffer);

            // The same after playing: start, a full buffer, stop, reset.
            REQUIRE_FALSE(ep->start());
            {
                auto armed = engine_guard.arm();
                prefilled = prefill(rt);
            }
            CHECK(prefilled == buffer);
            REQUIRE_FALSE(ep->stop());
            const std::uint64_t queued = rt.current_padding();
            REQUIRE_FALSE(ep->reset());
            CHECK(rt.current_padding() == 0);
            stats = ep->stats();
            REQUIRE(stats);
            // What was queued when stop returned, or up to a device period less (a period under
            // way then, docs/contract.md: 240 frames on null?period=5, 1920 on the offline wav,
            // which took 1440 in an ASan run).
            const std::uint64_t device_period = ctx.devices()[0].period_frames;
            CHECK(device_period == (device.starts_with("null") ? 240u : 1920u));
            CHECK(stats->discarded_frames <= buffer + queued);
            CHECK(stats->discarded_frames + device_period >= buffer + queued);
            discarded = stats->discarded_frames;
            CHECK(ep->reset() == std::error_code{}); // nothing left: still fine
            CHECK(ep->stats()->discarded_frames == discarded);
            REQUIRE_FALSE(ep->start());
            CHECK(ep->reset() == ae::errc::already_running);
            REQUIRE_FALSE(ep->stop());
            REQUIRE_FALSE(ctx.destroy("music"));
        }
        MESSAGE(device, ": discarded ", discarded, " frames in two resets");
        CHECK(glitches.count(ae::glitch_kind::dropped) == 0);
        CHECK(glitches.count(ae::glitch_kind::overrun) == 0);
        CHECK(device_guard.violations() == 0);
        CHECK(engine_guard.violations() == 0);
    }
    std::remove(path.c_str());
}

TEST_CASE("reset: a capture endpoint's captured frames are gone when reset returns") {
    ae::test::rt_guard device_guard;
    glitch_log glitches;
    {
        ae::test::event_fd wake;
        ae::context ctx(guarded_options(device_guard));
        glitches.subscribe(ctx);
        // 20 ms packets, 40 ms of buffer
        auto ep = ctx.create_capture_endpoint(endpoint("mic", "null?period=5", ae::hns{200'000}));
        REQUIRE(ep);
        REQUIRE_FALSE(ep->set_event_handle(wake.get()));
        ae::capture_endpoint_rt& rt = ep->rt();
        REQUIRE_FALSE(ep->start());
        REQUIRE(eventually([&] { return rt.current_padding() >= 960; }));
        REQUIRE_FALSE(ep->stop());
        REQUIRE_FALSE(ep->reset());
        ae::position pos;
        CHECK(rt.current_padding(&pos) == 0);
        auto stats = ep->stats();
        REQUIRE(stats);
        CHECK(stats->discarded_frames >= 960);
        // Started again, it captures again from now on.
        REQUIRE_FALSE(ep->start());
        REQUIRE(eventually([&] { return rt.current_padding() >= 240; }));
        std::uint64_t read = 0;
        CHECK(ae::test::capture_pass(rt, read, [](std::uint64_t, const float*) {}));
        CHECK(read >= 240);
        REQUIRE_FALSE(ep->stop());
        REQUIRE_FALSE(ctx.destroy("mic"));
    }
    CHECK(glitches.count(ae::glitch_kind::dropped) == 0);
    CHECK(device_guard.violations() == 0);
}

TEST_CASE("pre-fill: the first device period after start plays the pre-filled frames, sample for sample") {
    const std::string path = "/tmp/openae-prefill-" + std::to_string(::getpid()) + ".wav";
    // Paced (the device plays silence until start) and offline (the file starts with the endpoint).
    for (const std::string& options_text : {std::string("&realtime=1&period=5"), std::string()}) {
        const bool paced = !options_text.empty();
        CAPTURE(paced);
        std::remove(path.c_str());
        ae::test::rt_guard device_guard;
        std::uint64_t written = 0;
        {
            ae::test::event_fd wake;
            ae::context ctx(guarded_options(device_guard));
            auto ep = ctx.create_render_endpoint(endpoint("music", "wav:" + path + "?sample=f32" + options_text, ae::hns{100'000}));
            REQUIRE(ep);
            REQUIRE_FALSE(ep->set_event_handle(wake.get()));
            ae::render_endpoint_rt& rt = ep->rt();
            written = prefill(rt);
            REQUIRE(written == rt.buffer_frames());
            REQUIRE(written >= 960);
            if (paced) {
                // Periods of silence go by while it is stopped: none of them takes a frame.
                REQUIRE(eventually([&] { return ctx.devices()[0].periods >= 4; }));
                CHECK(rt.current_padding() == written);
            }
            REQUIRE_FALSE(ep->start());
            REQUIRE(eventually([&] { return rt.current_padding() == 0; }));
            REQUIRE_FALSE(ep->stop());
            REQUIRE_FALSE(ctx.destroy("music"));
        }
        CHECK(device_guard.violations() == 0);
        SF_INFO info;
        const std::vector<float> x = read_wav(path, info);
        REQUIRE(info.channels == 2);
        std::size_t first = 0;
        while (first < static_cast<std::size_t>(info.frames) && x[first * 2] == 0.0f && x[first * 2 + 1] == 0.0f) ++first;
        CAPTURE(first);
        REQUIRE(first + written <= static_cast<std::size_t>(info.frames));
        // The pre-fill begins a device period: it is what the first period after start played.
        CHECK(first % 240 == 0);
        if (!paced) CHECK(first == 0);
        std::size_t mismatches = 0;
        for (std::size_t n = 0; n < written; ++n) {
            for (std::uint32_t c = 0; c < 2; ++c) mismatches += x[(first + n) * 2 + c] != prefill_value(n, c) ? 1 : 0;
        }
        CHECK(mismatches == 0);
    }
    std::remove(path.c_str());
}

TEST_CASE("control inbox: glitch records from a device thread reach ae-ctl through the many-to-one queue, nothing allocated on the RT side") {
    // An endpoint fed once and then starved: its device thread reports an underrun every period,
    // each one a try_enqueue into the control inbox under the RT-safety harness.
    ae::test::rt_guard device_guard;
    std::promise<void> enough;
    std::atomic<int> underruns{0};
    {
        ae::context ctx(guarded_options(device_guard));
        ctx.subscribe([&](const ae::event& e) {
            if (e.kind == ae::event_kind::glitch && e.glitch == ae::glitch_kind::underrun && underruns.fetch_add(1) + 1 == 200) enough.set_value();
        });
        auto ep = ctx.create_render_endpoint(endpoint("starved", "null?period=1", ae::hns{10'000}));
        REQUIRE(ep);
        std::uint64_t written = 0;
        ae::test::render_pass(ep->rt(), written, ~std::uint64_t{0}, [](std::uint64_t, float* f) { f[0] = f[1] = 0.1f; });
        REQUIRE_FALSE(ep->start()); // pre-filled once, then starved
        // Each record wakes ae-ctl through the inbox's eventfd; bounded, not a pace.
        REQUIRE(enough.get_future().wait_for(std::chrono::seconds(20)) == std::future_status::ready);
        const auto stats = ep->stats();
        REQUIRE(stats);
        CHECK(stats->glitch_count[static_cast<int>(ae::glitch_kind::underrun)] >= 200);
        CHECK(stats->glitch_overflows == 0);
    }
    MESSAGE("underrun records through the inbox: ", underruns.load(), "; RT-side allocations ", device_guard.allocations(),
            ", locks ", device_guard.locks(), ", blocking calls ", device_guard.blocking_calls());
    CHECK(device_guard.allocations() == 0);
    CHECK(device_guard.violations() == 0);
}
