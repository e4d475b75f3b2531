// What the tests against a sound server (JACK, PipeWire) do with openae's device and the
// server's own clients of the test: render a marked signal into the device while a recorder
// client records what the server plays (optionally changing the server mid-stream), capture what a
// player client plays, and kill the server under a render endpoint. Each runs the device's
// callback under the RT-safety harness and hands back what it measured for the test to check.
#pragma once

#include "signal_rig.h"
#include "signal_walk.h"
#include "timing_checks.h"

#include <doctest/doctest.h>

#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ae::test {

using device_result = std::expected<std::unique_ptr<pipeline::device>, pipeline::device_error>;

// A client of the test's own in the server's graph: frames recorded or played so far, the
// recording (interleaved stereo), and the frames of cycles the server ran without it.
template <typename Peer>
concept server_peer = requires(const Peer& p) {
    { p.count() } -> std::convertible_to<std::size_t>;
    { p.frames() } -> std::convertible_to<const std::vector<float>&>;
    { p.missed() } -> std::convertible_to<std::size_t>;
};

// A device on openae's device thread, started, with one endpoint (`Core`) attached whose buffer
// holds `buffer_periods` of the device's periods; the device's callbacks run under `device_guard`.
template <typename Core>
struct device_rig {
    rt_guard device_guard;
    std::unique_ptr<pipeline::device_thread> thread;
    Core endpoint;
    event_fd wake;
    std::uint32_t period = 0;

    device_rig(device_result dev, std::uint32_t id, double buffer_periods) : endpoint(id) {
        const std::string why = dev ? std::string{} : dev.error().message;
        CAPTURE(why);
        REQUIRE(dev);
        period = (*dev)->period_frames();
        // At the priority openae's device threads take by default (SCHED_FIFO where allowed), as
        // in a host: the tests' engines and relays run at RT priority too (realtime_scope.h).
        auto made = pipeline::device_thread::create(std::move(*dev), {.hooks = armed_hooks(device_guard)});
        REQUIRE(made);
        thread = std::move(*made);
        const auto buffer = static_cast<std::uint64_t>(buffer_periods * period);
        REQUIRE_FALSE(endpoint.set_buffer({48000, 2, sample_type::f32}, period, buffer));
        REQUIRE_FALSE(endpoint.set_event_handle(wake.get()));
        REQUIRE(thread->control().attach(endpoint));
        REQUIRE(thread->start());
    }
    // The thread stops before the endpoint it reads or writes goes (members go in reverse order).
    ~device_rig() {
        if (thread) thread->stop();
    }
    device_rig(const device_rig&) = delete;
    device_rig& operator=(const device_rig&) = delete;
    // The device's callbacks broke no RT rule.
    void check_device_rt() const {
        const std::string first = device_guard.first_violation();
        CAPTURE(first);
        CHECK(device_guard.violations() == 0);
    }
};

struct device_events {
    std::uint64_t dropped = 0;    // device_dropped frames
    std::uint64_t new_period = 0; // the last period_changed
    bool lost = false;
    void take(pipeline::device_thread& thread) {
        pipeline::device_event event;
        while (thread.control().try_pop_event(event)) {
            if (event.kind == pipeline::device_event_kind::device_dropped) dropped += event.frames;
            if (event.kind == pipeline::device_event_kind::period_changed) new_period = event.frames;
            lost |= event.kind == pipeline::device_event_kind::lost;
        }
    }
};

struct render_report {
    signal_walk walk;
    glitch_totals glitches;
    device_events events;
    std::size_t silence_before = 0; // the recording's frames before the signal's first
    std::size_t recorder_missed = 0;
};

// Renders `total` frames of the signal (marker left, sine right, then silence the engine writes)
// into `dev`, pre-filled, until the recorder has them and half a second more; `midway` runs once
// the device has played a second (a live change to the server), the engine going on meanwhile.
template <server_peer Recorder>
render_report render_to_recorder(device_result dev, const Recorder& recorder, std::uint64_t total, std::uint64_t buffer_frames,
                                 const std::function<void()>& midway = {}) {
    const std::uint32_t first_period = dev ? (*dev)->period_frames() : 1;
    device_rig<render_endpoint_core> rig(std::move(dev), 1, static_cast<double>(buffer_frames) / first_period); // from here the recorder hears it
    auto& endpoint = rig.endpoint;
    auto& thread = rig.thread;
    auto& wake = rig.wake;
    auto signal = [total](std::uint64_t n, float* frame) {
        frame[0] = n < total ? signal::marker(n) : 0.0f;
        frame[1] = n < total ? signal::sine(n % 65536, 48000) : 0.0f; // periodic with the marker: a frame says where it is
    };
    std::uint64_t written = 0;
    REQUIRE(render_pass(endpoint.rt(), written, ~std::uint64_t{0}, signal)); // pre-filled: heard from the first period
    const std::size_t recorded_at_start = recorder.count();
    REQUIRE_FALSE(endpoint.start());
    render_report report;
    rt_guard engine_guard;
    int timeouts = 0;
    bool changed = !midway;
    {
        const realtime_scope priority; // a host's engine runs at RT priority
        auto armed = engine_guard.arm();
        while (recorder.count() < recorded_at_start + total + 24000 && timeouts < 50) {
            (void)render_pass(endpoint.rt(), written, ~std::uint64_t{0}, signal);
            timeouts += wake.wait(100) ? 0 : 1;
            if (!changed && thread->frames_processed() >= 48000) {
                rt_guard::disarm_current_thread();
                midway();
                engine_guard.arm_current_thread();
                changed = true;
            }
            report.events.take(*thread);
        }
    }
    thread->stop();
    report.events.take(*thread);
    CHECK(timeouts < 50);
    CHECK(changed);
    CHECK(engine_guard.violations() == 0);
    rig.check_device_rt();

    const std::vector<float>& got = recorder.frames();
    const std::size_t frames = recorder.count();
    std::size_t at = 0;
    while (at < frames && got[2 * at] == 0.0f && got[2 * at + 1] == 0.0f) ++at;
    report.silence_before = at;
    report.walk = follow_signal(got.data() + 2 * at, frames - at, 0, total);
    report.glitches = drain(endpoint);
    report.recorder_missed = recorder.missed();
    MESSAGE("silence before the signal ", at, " frames; signal frames ", report.walk.matched, "; skipped ", report.walk.skipped,
            "; repeated ", report.walk.repeated, "; gaps ", report.walk.gap_frames, "; torn ", report.walk.mismatches, "; underrun frames ",
            report.glitches.underrun_frames, "; lost frames ", report.glitches.lost_frames, "; recorder missed ", report.recorder_missed,
            "; device dropped ", report.events.dropped, "; new period ", report.events.new_period, "; first gap at signal frame ",
            static_cast<std::int64_t>(report.walk.first_gap), ", first skip to ", static_cast<std::int64_t>(report.walk.first_skip));
    return report;
}

// What every rendered recording must show: the whole signal in order; a frame skipped or repeated
// only where the server ran a cycle without the recorder or the device (counted by each); a gap
// only where openae counted an underrun or such a cycle; a torn frame (a late cycle reading a
// buffer the next one already rewrites) only in such a cycle.
inline void check_recording(const render_report& r, std::uint64_t total) {
    const std::uint64_t server_missed = r.recorder_missed + r.events.dropped;
    CHECK(r.walk.next == total);
    CHECK(r.walk.matched + r.walk.skipped == total + r.walk.repeated);
    AE_CHECK_TIMING(r.walk.mismatches <= server_missed);
    AE_CHECK_TIMING(r.walk.skipped + r.walk.repeated <= 2 * server_missed);
    AE_CHECK_TIMING(r.walk.gap_frames <= r.glitches.underrun_frames + server_missed);
}

struct capture_report {
    signal_walk walk;
    glitch_totals glitches;
    device_events events;
};

// Records 48,000 frames from `dev` while a player client plays the signal into what it captures.
inline capture_report capture_from_player(device_result dev, std::uint64_t buffer_periods) {
    device_rig<capture_endpoint_core> rig(std::move(dev), 2, static_cast<double>(buffer_periods));
    auto& endpoint = rig.endpoint;
    auto& thread = rig.thread;
    auto& wake = rig.wake;
    REQUIRE_FALSE(endpoint.start());
    std::vector<float> received;
    received.reserve(2 * 60000);
    rt_guard engine_guard;
    std::uint64_t read = 0;
    int timeouts = 0;
    {
        const realtime_scope priority;
        auto armed = engine_guard.arm();
        while (received.size() < 2 * 48000 && timeouts < 50) {
            (void)capture_pass(endpoint.rt(), read, [&](std::uint64_t, const float* frame) {
                if (received.size() + 2 <= received.capacity()) received.insert(received.end(), frame, frame + 2);
            });
            if (!wake.wait(100)) ++timeouts;
        }
    }
    thread->stop();
    CHECK(timeouts < 50);
    CHECK(engine_guard.violations() == 0);
    rig.check_device_rt();

    // Before the connection: silence. Then the player's frames, each the one after the last.
    std::size_t at = 0;
    const std::size_t frames = received.size() / 2;
    while (at < frames && received[2 * at] == 0.0f && received[2 * at + 1] == 0.0f) ++at;
    REQUIRE(at < frames);
    // The first marker names the player's frame (the marker counts modulo 65536).
    const auto first_frame = static_cast<std::uint64_t>(std::lround(received[2 * at] * 32768.0f) + 32768);
    capture_report report;
    report.walk = follow_signal(received.data() + 2 * at, frames - at, first_frame, ~std::uint64_t{0});
    report.glitches = drain(endpoint);
    report.events.take(*thread);
    MESSAGE("frames in order ", report.walk.matched, "; skipped ", report.walk.skipped, "; repeated ", report.walk.repeated, "; gaps ",
            report.walk.gap_frames, "; torn ", report.walk.mismatches, "; overrun frames ", report.glitches.overrun_frames,
            "; device dropped ", report.events.dropped);
    return report;
}

// `kill` ends the server once the device has played 9,600 frames: the device is reported lost,
// openae's own thread carries the loop on, the endpoint's frames from then on are device_lost.
template <typename Kill>
void check_server_death(device_result dev, Kill&& kill) {
    device_rig<render_endpoint_core> rig(std::move(dev), 1, 4);
    auto& endpoint = rig.endpoint;
    auto& thread = rig.thread;
    auto& wake = rig.wake;
    std::uint64_t written = 0;
    auto signal = [](std::uint64_t n, float* f) { f[0] = f[1] = signal::marker(n); };
    REQUIRE_FALSE(endpoint.start());
    int timeouts = 0;
    while (thread->frames_processed() < 9600 && timeouts < 50) {
        (void)render_pass(endpoint.rt(), written, ~std::uint64_t{0}, signal);
        timeouts += wake.wait(100) ? 0 : 1;
    }
    REQUIRE(thread->frames_processed() >= 9600);
    kill();
    device_events events;
    std::uint64_t frames_at_loss = 0;
    for (int passes = 0; passes < 400 && !events.lost; ++passes) {
        (void)render_pass(endpoint.rt(), written, ~std::uint64_t{0}, signal);
        (void)wake.wait(100);
        events.take(*thread);
        if (events.lost) frames_at_loss = thread->frames_processed();
    }
    REQUIRE(events.lost);
    // The endpoint goes on, on the lost device's virtual clock: its frames are device_lost.
    for (int passes = 0; passes < 20; ++passes) {
        (void)render_pass(endpoint.rt(), written, ~std::uint64_t{0}, signal);
        (void)wake.wait(100);
    }
    thread->stop();
    CHECK(thread->frames_processed() > frames_at_loss);
    const glitch_totals glitches = drain(endpoint);
    MESSAGE("lost after ", frames_at_loss, " device frames; device_lost frames ", glitches.lost_frames);
    CHECK(glitches.lost_frames > 0);
    rig.check_device_rt();
}

} // namespace ae::test
