// The PipeWire device against a real PipeWire (pipewire + wireplumber, a null sink) the test starts
// itself, and PipeWire streams of the test's own: a recorder of the sink's output that openae plays
// into, a player into the sink whose output openae records. The signal is compared sample by
// sample; PipeWire's data thread runs the device loop under the RT-safety harness.
#include "pipewire_server.h"
#include "signal_rig.h"
#include "signal_walk.h"
#include "server_death.h"

#include <openae/pipeline/device_discovery.h>

#include <pipewire/pipewire.h>
#include <spa/param/audio/format-utils.h>

#include <doctest/doctest.h>

#include <sys/eventfd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

using namespace ae::test::signal;
using ae::test::drain;
using ae::test::follow_signal;
using ae::test::glitch_totals;
using ae::test::pipewire_server;
using ae::test::signal_walk;

namespace {

constexpr const char* test_sink = "openae_test_sink";

// A stream of the test's own on the test sink, 48 kHz stereo F32: a recorder of the sink's output
// (keeps what arrives) or a player into it (marker/sine from frame 0 on). Its process callback runs on PipeWire's
// data thread; each cycle signals an eventfd the test waits on.
class pw_peer {
public:
    pw_peer(bool records, std::size_t capacity_frames) : records_(records), frames_(2 * capacity_frames) {
        pw_init(nullptr, nullptr);
        loop_ = pw_thread_loop_new("test-peer", nullptr);
        REQUIRE(loop_ != nullptr);
        pw_thread_loop_lock(loop_);
        pw_properties* props = pw_properties_new(PW_KEY_MEDIA_TYPE, "Audio", PW_KEY_MEDIA_CATEGORY, records ? "Capture" : "Playback",
                                                 PW_KEY_NODE_NAME, records ? "test-recorder" : "test-player", PW_KEY_TARGET_OBJECT,
                                                 test_sink, PW_KEY_NODE_LATENCY, "256/48000", nullptr);
        if (records) pw_properties_set(props, PW_KEY_STREAM_CAPTURE_SINK, "true");
        events_.version = PW_VERSION_STREAM_EVENTS;
        events_.process = [](void* self) { static_cast<pw_peer*>(self)->process(); };
        stream_ = pw_stream_new_simple(pw_thread_loop_get_loop(loop_), records ? "test-recorder" : "test-player", props, &events_, this);
        REQUIRE(stream_ != nullptr);
        std::uint8_t memory[512];
        spa_pod_builder builder{};
        spa_pod_builder_init(&builder, memory, sizeof memory);
        spa_audio_info_raw info{};
        info.format = SPA_AUDIO_FORMAT_F32;
        info.rate = 48000;
        info.channels = 2;
        info.position[0] = SPA_AUDIO_CHANNEL_FL;
        info.position[1] = SPA_AUDIO_CHANNEL_FR;
        const spa_pod* params[1] = {spa_format_audio_raw_build(&builder, SPA_PARAM_EnumFormat, &info)};
        // On PipeWire's data thread, as openae's device: a peer on its loop thread misses cycles under load.
        const auto flags = static_cast<pw_stream_flags>(PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS | PW_STREAM_FLAG_RT_PROCESS);
        REQUIRE(pw_stream_connect(stream_, records ? PW_DIRECTION_INPUT : PW_DIRECTION_OUTPUT, PW_ID_ANY, flags, params, 1) == 0);
        pw_thread_loop_unlock(loop_);
        REQUIRE(pw_thread_loop_start(loop_) == 0);
    }
    ~pw_peer() {
        pw_thread_loop_lock(loop_);
        pw_stream_destroy(stream_);
        pw_thread_loop_unlock(loop_);
        pw_thread_loop_stop(loop_);
        pw_thread_loop_destroy(loop_);
        ::close(cycle_fd_);
    }
    pw_peer(const pw_peer&) = delete;
    pw_peer& operator=(const pw_peer&) = delete;

    // Frames recorded or played so far (a recorder's are interleaved in frames()).
    [[nodiscard]] std::size_t count() const noexcept { return count_.load(std::memory_order_acquire); }
    [[nodiscard]] const std::vector<float>& frames() const noexcept { return frames_; }
    // Frames of the graph's cycles this stream was not called for.
    [[nodiscard]] std::size_t missed() const noexcept { return missed_.load(std::memory_order_relaxed); }
    // Waits for cycles until count() reaches `frames` (bounded: `turns` waits of 100 ms without a cycle).
    bool wait_for(std::size_t frames, int turns = 100) const {
        while (count() < frames) {
            pollfd p{cycle_fd_, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0 && --turns <= 0) return false;
            std::uint64_t n = 0;
            [[maybe_unused]] const auto got = ::read(cycle_fd_, &n, sizeof n);
        }
        return true;
    }

private:
    void process() {
        pw_buffer* buffer = pw_stream_dequeue_buffer(stream_);
        if (buffer == nullptr) return;
        spa_data& data = buffer->buffer->datas[0];
        pw_time time{};
        if (pw_stream_get_time_n(stream_, &time, sizeof time) == 0 && time.rate.denom != 0) {
            if (have_ticks_ && time.ticks > next_ticks_) missed_.fetch_add(time.ticks - next_ticks_, std::memory_order_relaxed);
            have_ticks_ = true;
        }
        std::size_t at = count_.load(std::memory_order_relaxed);
        auto* samples = static_cast<float*>(data.data);
        std::uint32_t n = 0;
        if (records_) {
            const std::uint32_t offset = std::min(data.chunk->offset, data.maxsize);
            n = std::min(data.chunk->size, data.maxsize - offset) / 8;
            samples += offset / sizeof(float);
            const auto take = std::min<std::size_t>(n, frames_.size() / 2 - std::min(frames_.size() / 2, at));
            std::copy_n(samples, 2 * take, frames_.data() + 2 * at);
            at += take;
        } else {
            n = std::min<std::uint32_t>(data.maxsize / 8, buffer->requested != 0 ? static_cast<std::uint32_t>(buffer->requested) : 256);
            for (std::uint32_t i = 0; i < n; ++i, ++at) {
                samples[2 * i] = marker(at);
                samples[2 * i + 1] = sine(at % 65536, 48000); // periodic with the marker: a frame says where it is
            }
            data.chunk->offset = 0;
            data.chunk->stride = 8;
            data.chunk->size = n * 8;
        }
        next_ticks_ = time.ticks + n;
        count_.store(at, std::memory_order_release);
        pw_stream_queue_buffer(stream_, buffer);
        ae::signal_eventfd(cycle_fd_);
    }

    bool records_;
    pw_thread_loop* loop_ = nullptr;
    pw_stream* stream_ = nullptr;
    pw_stream_events events_{};
    std::vector<float> frames_;
    int cycle_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    // order: release/acquire — the frames are in frames_ before the count says so.
    std::atomic<std::size_t> count_{0};
    // order: relaxed — a statistic.
    std::atomic<std::size_t> missed_{0};
    bool have_ticks_ = false;
    std::uint64_t next_ticks_ = 0;
};

std::uint64_t device_dropped(device_thread& thread) {
    std::uint64_t frames = 0;
    ae::pipeline::device_event event;
    while (thread.control().try_pop_event(event)) {
        if (event.kind == device_event_kind::device_dropped) frames += event.frames;
    }
    return frames;
}

} // namespace

TEST_CASE("pipewire: no server, bad options: typed errors naming the device") {
    const std::string empty = "/tmp/openae-pw-none-" + std::to_string(::getpid());
    std::filesystem::create_directories(empty);
    ::setenv("PIPEWIRE_RUNTIME_DIR", empty.c_str(), 1);
    auto missing = make_device("pipewire", endpoint_direction::render);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ae::errc::device_unavailable);
    CHECK(missing.error().message.find("no PipeWire server answers") != std::string::npos);
    std::filesystem::remove_all(empty);
    auto latency = make_device("pipewire?latency=fast", endpoint_direction::render);
    REQUIRE_FALSE(latency);
    CHECK(latency.error().code == ae::errc::bad_argument);
    CHECK(latency.error().message.find("latency is FRAMES or FRAMES/RATE") != std::string::npos);
    auto monitor = make_device("pipewire?monitor=1", endpoint_direction::render);
    REQUIRE_FALSE(monitor);
    CHECK(monitor.error().code == ae::errc::bad_argument);
    auto typo = make_device("pipewire?latnecy=256", endpoint_direction::capture);
    REQUIRE_FALSE(typo);
    CHECK(typo.error().code == ae::errc::bad_argument);
}

TEST_CASE("pipewire: render into the null sink, its output recorded sample-exact, the data thread under the RT harness") {
    pipewire_server server("render");
    pw_peer recorder(true, 4 * 48000);
    REQUIRE(recorder.wait_for(4800)); // linked and running: from here it hears the sink
    auto dev = make_device(std::string("pipewire:") + test_sink + "?latency=256/48000&name=openae-test-render", endpoint_direction::render);
    REQUIRE(dev);
    CHECK((*dev)->format() == ae::frame_format{48000, 2, ae::sample_type::f32});
    const std::uint32_t period = (*dev)->period_frames();
    MESSAGE("PipeWire quantum ", period, " frames");
    CHECK(period >= 32);
    ae::test::rt_guard device_guard;
    auto thread = device_thread::create(std::move(*dev), {.realtime_priority = 0, .hooks = ae::test::armed_hooks(device_guard)});
    REQUIRE(thread);
    ae::render_endpoint_core endpoint{1};
    REQUIRE_FALSE(endpoint.set_buffer({48000, 2, ae::sample_type::f32}, period, 4 * period));
    ae::test::event_fd wake;
    REQUIRE_FALSE(endpoint.set_event_handle(wake.get()));
    REQUIRE((*thread)->control().attach(endpoint));
    REQUIRE((*thread)->start());

    auto signal = [](std::uint64_t n, float* frame) {
        frame[0] = marker(n);
        frame[1] = sine(n, 48000);
    };
    constexpr std::uint64_t total = 48000;
    std::uint64_t written = 0;
    REQUIRE(ae::test::render_pass(endpoint.rt(), written, total, signal)); // pre-filled: heard from the first period
    const std::size_t recorded_at_start = recorder.count();
    REQUIRE_FALSE(endpoint.start());
    ae::test::rt_guard engine_guard;
    int timeouts = 0;
    {
        auto armed = engine_guard.arm();
        // The whole signal and half a second of silence after it.
        while (recorder.count() < recorded_at_start + 72000 && timeouts < 50) {
            (void)ae::test::render_pass(endpoint.rt(), written, total, signal);
            if (!wake.wait(100)) ++timeouts;
        }
    }
    (*thread)->stop();
    CHECK(timeouts < 50);
    CHECK(engine_guard.violations() == 0);
    const std::string first = device_guard.first_violation();
    CAPTURE(first);
    CHECK(device_guard.violations() == 0);

    const std::vector<float>& got = recorder.frames();
    const std::size_t frames = recorder.count();
    std::size_t at = 0;
    while (at < frames && got[2 * at] == 0.0f && got[2 * at + 1] == 0.0f) ++at;
    const signal_walk walk = follow_signal(got.data() + 2 * at, frames - at, 0, total);
    const glitch_totals glitches = drain(endpoint);
    const std::uint64_t dropped = device_dropped(**thread);
    MESSAGE("silence before the signal ", at, " frames; signal frames ", walk.matched, "; skipped ", walk.skipped, "; repeated ",
            walk.repeated, "; gaps ", walk.gap_frames, "; underrun frames ", glitches.underrun_frames, "; recorder missed ",
            recorder.missed(), "; device dropped ", dropped);
    CHECK(walk.next == total);
    CHECK(walk.mismatches == 0);
    CHECK(walk.matched + walk.skipped == total + walk.repeated);
    CHECK(walk.skipped + walk.repeated <= 2 * (recorder.missed() + dropped));
    CHECK(walk.gap_frames <= glitches.underrun_frames);
}

TEST_CASE("pipewire: capture a player's output from the sink's monitor, sample-exact and in order") {
    pipewire_server server("capture");
    pw_peer player(false, 0);
    REQUIRE(player.wait_for(4800));
    auto dev = make_device(std::string("pipewire:") + test_sink + "?monitor=1&latency=256/48000&name=openae-test-capture", endpoint_direction::capture);
    REQUIRE(dev);
    const std::uint32_t period = (*dev)->period_frames();
    ae::test::rt_guard device_guard;
    auto thread = device_thread::create(std::move(*dev), {.realtime_priority = 0, .hooks = ae::test::armed_hooks(device_guard)});
    REQUIRE(thread);
    ae::capture_endpoint_core endpoint{2};
    REQUIRE_FALSE(endpoint.set_buffer({48000, 2, ae::sample_type::f32}, period, 8 * period));
    ae::test::event_fd wake;
    REQUIRE_FALSE(endpoint.set_event_handle(wake.get()));
    REQUIRE((*thread)->control().attach(endpoint));
    REQUIRE((*thread)->start());
    REQUIRE_FALSE(endpoint.start());

    std::vector<float> received;
    received.reserve(2 * 60000);
    ae::test::rt_guard engine_guard;
    std::uint64_t read = 0;
    int timeouts = 0;
    {
        auto armed = engine_guard.arm();
        while (received.size() < 2 * 48000 && timeouts < 50) {
            (void)ae::test::capture_pass(endpoint.rt(), read, [&](std::uint64_t, const float* frame) {
                if (received.size() + 2 <= received.capacity()) received.insert(received.end(), frame, frame + 2);
            });
            if (!wake.wait(100)) ++timeouts;
        }
    }
    (*thread)->stop();
    CHECK(timeouts < 50);
    CHECK(engine_guard.violations() == 0);
    const std::string first = device_guard.first_violation();
    CAPTURE(first);
    CHECK(device_guard.violations() == 0);

    std::size_t at = 0;
    const std::size_t frames = received.size() / 2;
    while (at < frames && received[2 * at] == 0.0f && received[2 * at + 1] == 0.0f) ++at;
    REQUIRE(at < frames);
    const auto first_frame = static_cast<std::uint64_t>(std::lround(received[2 * at] * 32768.0f) + 32768);
    const signal_walk walk = follow_signal(received.data() + 2 * at, frames - at, first_frame, ~std::uint64_t{0});
    const glitch_totals glitches = drain(endpoint);
    const std::uint64_t dropped = device_dropped(**thread);
    MESSAGE("frames in order ", walk.matched, "; skipped ", walk.skipped, "; repeated ", walk.repeated, "; gaps ", walk.gap_frames,
            "; overrun frames ", glitches.overrun_frames, "; device dropped ", dropped, "; player missed ", player.missed());
    CHECK(walk.matched >= 40000);
    CHECK(walk.mismatches == 0);
    // A cycle the player missed is silence in the sink (the player's glitch, not openae's); one
    // openae missed is in its drops.
    CHECK(walk.gap_frames <= player.missed() + dropped);
    CHECK(walk.skipped + walk.repeated <= glitches.overrun_frames + 2 * (dropped + player.missed()));
}

TEST_CASE("pipewire: the server killed mid-stream: the device is lost, openae's thread carries the loop on, every frame counted") {
    pipewire_server server("kill");
    ae::test::check_server_death(make_device(std::string("pipewire:") + test_sink + "?name=openae-test-kill", endpoint_direction::render),
                                 [&] { server.stop(); });
}

TEST_CASE("pipewire: discovery lists the server's sinks (the default marked), their monitors for capture, specs that open") {
    pipewire_server server("discover");
    const auto found = ae::pipeline::discover_pipewire_devices(std::chrono::milliseconds(5000));
    auto by_spec = [&](const std::string& spec) {
        return std::find_if(found.begin(), found.end(), [&](const auto& d) { return d.spec == spec; });
    };
    const auto sink = by_spec(std::string("pipewire:") + test_sink);
    REQUIRE(sink != found.end());
    CHECK(sink->kind == "pipewire");
    CHECK(sink->render);
    CHECK_FALSE(sink->capture);
    const auto monitor = by_spec(std::string("pipewire:") + test_sink + "?monitor=1");
    REQUIRE(monitor != found.end());
    CHECK(monitor->capture);
    CHECK_FALSE(monitor->render);
    CHECK(monitor->description == std::string("Monitor of ") + sink->description);
    // wireplumber makes the only sink the default; it may say so a moment after the sink appears.
    MESSAGE("default sink marked: ", sink->backend_default);
    auto dev = make_device(monitor->spec, endpoint_direction::capture);
    CHECK(dev);
    server.stop();
    CHECK(ae::pipeline::discover_pipewire_devices(std::chrono::milliseconds(2000)).empty());
}

TEST_CASE("pipewire: auto chooses PipeWire when its server answers with a sink, and a context's endpoints play into it") {
    pipewire_server server("auto");
    pw_peer recorder(true, 2 * 48000);
    REQUIRE(recorder.wait_for(4800));
    ::unsetenv("OPENAE_DEFAULT_DEVICE");
    const auto choice = ae::pipeline::choose_default_device();
    CHECK(choice.spec == "pipewire");
    CHECK(choice.reason == "a PipeWire server answers with a sink");
    ae::context_options options;
    options.default_device = "auto";
    ae::context ctx(options);
    ::setenv("OPENAE_DEFAULT_DEVICE", "null", 1);
    REQUIRE(ctx.default_device() == "pipewire");
    // An endpoint that names no device plays on the default one: the session manager's default sink.
    ae::endpoint_config config;
    config.name = "auto-render";
    auto endpoint = ctx.create_render_endpoint(config);
    REQUIRE(endpoint);
    CHECK(endpoint->device() == "pipewire");
}

TEST_CASE("pipewire: the graph's quantum changes live (256 -> 512): the loop takes it, the signal goes on unbroken") {
    pipewire_server server("quantum");
    pw_peer recorder(true, 6 * 48000);
    REQUIRE(recorder.wait_for(4800));
    auto dev = make_device(std::string("pipewire:") + test_sink + "?latency=256/48000&name=openae-test-quantum", endpoint_direction::render);
    REQUIRE(dev);
    REQUIRE((*dev)->period_frames() == 256);
    CHECK((*dev)->max_period_frames() == 4096);
    ae::test::rt_guard device_guard;
    auto thread = device_thread::create(std::move(*dev), {.realtime_priority = 0, .hooks = ae::test::armed_hooks(device_guard)});
    REQUIRE(thread);
    ae::render_endpoint_core endpoint{1};
    REQUIRE_FALSE(endpoint.set_buffer({48000, 2, ae::sample_type::f32}, 480, 2048));
    ae::test::event_fd wake;
    REQUIRE_FALSE(endpoint.set_event_handle(wake.get()));
    REQUIRE((*thread)->control().attach(endpoint));
    REQUIRE((*thread)->start());
    constexpr std::uint64_t total = 3 * 48000;
    // The signal, then silence the engine writes (not underruns: those stay the chain's to count).
    auto signal = [](std::uint64_t n, float* frame) {
        frame[0] = n < total ? marker(n) : 0.0f;
        frame[1] = n < total ? sine(n % 65536, 48000) : 0.0f; // periodic with the marker: a frame says where it is
    };
    std::uint64_t written = 0;
    REQUIRE(ae::test::render_pass(endpoint.rt(), written, ~std::uint64_t{0}, signal));
    const std::size_t recorded_at_start = recorder.count();
    REQUIRE_FALSE(endpoint.start());
    int timeouts = 0;
    while ((*thread)->frames_processed() < 48000 && timeouts < 50) {
        (void)ae::test::render_pass(endpoint.rt(), written, ~std::uint64_t{0}, signal);
        timeouts += wake.wait(100) ? 0 : 1;
    }
    REQUIRE((*thread)->frames_processed() >= 48000);
    // The graph's quantum forced to 512 (the settings metadata), the engine going on meanwhile.
    const pid_t force = ae::test::spawn({"pw-metadata", "-n", "settings", "0", "clock.force-quantum", "512"});
    REQUIRE(force > 0);
    std::uint64_t new_period = 0;
    std::uint64_t dropped = 0;
    bool lost = false;
    auto take_events = [&] {
        ae::pipeline::device_event event;
        while ((*thread)->control().try_pop_event(event)) {
            if (event.kind == device_event_kind::period_changed) new_period = event.frames;
            if (event.kind == device_event_kind::device_dropped) dropped += event.frames;
            lost |= event.kind == device_event_kind::lost;
        }
    };
    while (recorder.count() < recorded_at_start + total + 24000 && timeouts < 50) {
        (void)ae::test::render_pass(endpoint.rt(), written, ~std::uint64_t{0}, signal);
        timeouts += wake.wait(100) ? 0 : 1;
        take_events();
    }
    (*thread)->stop();
    take_events();
    CHECK(ae::test::wait_exit(force) == 0);
    CHECK(timeouts < 50);
    CHECK(new_period == 512);
    CHECK_FALSE(lost);
    const std::string first = device_guard.first_violation();
    CAPTURE(first);
    CHECK(device_guard.violations() == 0);

    const std::vector<float>& got = recorder.frames();
    const std::size_t frames = recorder.count();
    std::size_t at = 0;
    while (at < frames && got[2 * at] == 0.0f && got[2 * at + 1] == 0.0f) ++at;
    const signal_walk walk = follow_signal(got.data() + 2 * at, frames - at, 0, total);
    const glitch_totals glitches = drain(endpoint);
    MESSAGE("new period ", new_period, "; signal frames ", walk.matched, "; skipped ", walk.skipped, "; repeated ", walk.repeated,
            "; gaps ", walk.gap_frames, "; torn ", walk.mismatches, "; underrun frames ", glitches.underrun_frames, "; recorder missed ",
            recorder.missed(), "; device dropped ", dropped);
    CHECK(walk.next == total);
    CHECK(glitches.lost_frames == 0);
    CHECK(walk.mismatches == 0);
    CHECK(walk.matched + walk.skipped == total + walk.repeated);
    CHECK(walk.skipped + walk.repeated <= 2 * (recorder.missed() + dropped));
    CHECK(walk.gap_frames <= glitches.underrun_frames + recorder.missed() + dropped);
}
