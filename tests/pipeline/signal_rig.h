// The end-to-end rig: a known signal (a counting marker on the left, exact in s16, a sine on the
// right) rendered from an endpoint through a device thread into an offline sink, or captured from
// an offline source into an endpoint, with the RT harness armed on the engine thread.
#pragma once

#include <openae/openae.hpp>
#include <openae/pipeline/device_thread.h>
#include <openae/pipeline/devices.h>

#include "realtime_scope.h"
#include "rt_guard.h"
#include "test_engine.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

namespace ae::test::signal {

using namespace ae::pipeline;
using ae::endpoint_direction;

inline constexpr double tone_hz = 997;

// Frame n of the test signal: left a counting marker (exact in s16), right a sine.
inline float marker(std::uint64_t n) { return static_cast<float>(static_cast<int>(n % 65536) - 32768) / 32768.0f; }
inline float sine(std::uint64_t n, double rate) {
    return static_cast<float>(0.8 * std::sin(2 * std::numbers::pi * tone_hz * static_cast<double>(n) / rate));
}
// What openae's f32 → s16 conversion makes of `value` (nearest, ties to even, clipped).
inline std::int16_t to_s16(float value) {
    const double scaled = std::nearbyint(static_cast<double>(value) * 32768.0);
    return static_cast<std::int16_t>(std::clamp(scaled, -32768.0, 32767.0));
}

// What render_through saw.
struct render_result {
    std::size_t underruns = 0;
    std::size_t dropped = 0;
};

// Renders the test signal from a 48 kHz f32 stereo endpoint into `device_text`, exactly
// `device_frames` device frames; the engine writes `engine_frames`, the buffer pre-filled before
// start (so a paced device's first period does not depend on how fast the engine starts). An
// offline sink must take it without a glitch (`offline`); a paced one reports what it saw.
inline render_result render_through(const std::string& device_text, std::uint64_t device_frames, std::uint64_t engine_frames,
                                    bool offline = true) {
    ae::render_endpoint_core endpoint{1};
    REQUIRE_FALSE(endpoint.set_buffer({48000, 2, ae::sample_type::f32}, 480, 1920));
    ae::test::event_fd wake;
    REQUIRE_FALSE(endpoint.set_event_handle(wake.get()));
    auto dev = make_device(device_text, endpoint_direction::render);
    REQUIRE(dev);
    const bool paced = (*dev)->realtime();
    auto thread = device_thread::create(std::move(*dev), {.stop_after_frames = device_frames, .realtime_priority = 0});
    REQUIRE(thread);
    REQUIRE((*thread)->control().attach(endpoint));
    auto signal = [](std::uint64_t n, float* frame) {
        frame[0] = marker(n);
        frame[1] = sine(n, 48000);
    };
    std::uint64_t written = 0;
    REQUIRE(ae::test::render_pass(endpoint.rt(), written, engine_frames, signal));
    REQUIRE_FALSE(endpoint.start());
    REQUIRE((*thread)->start());

    ae::test::rt_guard guard;
    bool ok = true;
    int timeouts = 0;
    {
        // A host's engine runs at RT priority against a paced device. (Against an offline one it
        // runs flat out: at SCHED_FIFO it would hold a CPU from the tests beside it.)
        std::optional<ae::test::realtime_scope> priority;
        if (paced) priority.emplace();
        auto armed = guard.arm();
        // The engine: a pass per device period until the device has taken everything it needs.
        while (!(*thread)->finished() && timeouts < 50) {
            ok = ae::test::render_pass(endpoint.rt(), written, engine_frames, signal) && ok;
            if (!wake.wait(100)) ++timeouts;
        }
    }
    CHECK(ok);
    CHECK(timeouts < 50);
    const std::string first = guard.first_violation();
    CAPTURE(first);
    CHECK(guard.violations() == 0);
    CHECK((*thread)->frames_processed() == device_frames);
    render_result result;
    endpoint.drain_glitches([&](const ae::glitch_record& r) {
        result.underruns += r.kind == ae::glitch_kind::underrun;
        result.dropped += r.kind == ae::glitch_kind::dropped;
    });
    if (offline) {
        CHECK(result.underruns == 0);
        CHECK(result.dropped == 0);
    }
    (*thread)->stop();
    return result;
}

// Captures everything `device_text` (an offline source) delivers into a 48 kHz f32 stereo
// endpoint and returns the interleaved frames: up to its end of stream, or `stop_after_frames`
// device frames when not 0. `buffer_frames`: the endpoint's buffer.
inline std::vector<float> capture_through(const std::string& device_text, std::uint64_t stop_after_frames = 0,
                                          std::uint32_t buffer_frames = 1920) {
    ae::capture_endpoint_core endpoint{2};
    REQUIRE_FALSE(endpoint.set_buffer({48000, 2, ae::sample_type::f32}, 480, buffer_frames));
    ae::test::event_fd wake;
    REQUIRE_FALSE(endpoint.set_event_handle(wake.get()));
    auto dev = make_device(device_text, endpoint_direction::capture);
    REQUIRE(dev);
    const bool paced = (*dev)->realtime();
    auto thread = device_thread::create(std::move(*dev), {.stop_after_frames = stop_after_frames, .realtime_priority = 0});
    REQUIRE(thread);
    REQUIRE((*thread)->control().attach(endpoint));
    REQUIRE_FALSE(endpoint.start());
    REQUIRE((*thread)->start());

    std::vector<float> received;
    received.reserve(2 * 60000);
    ae::test::rt_guard guard;
    std::uint64_t read = 0;
    bool ok = true;
    int timeouts = 0;
    {
        std::optional<ae::test::realtime_scope> priority;
        if (paced) priority.emplace();
        auto armed = guard.arm();
        for (;;) {
            const bool finished = (*thread)->finished(); // read before draining: nothing comes after
            ok = ae::test::capture_pass(endpoint.rt(), read, [&](std::uint64_t, const float* frame) {
                     if (received.size() + 2 <= received.capacity()) received.insert(received.end(), frame, frame + 2);
                 }) && ok;
            if (finished && endpoint.rt().current_padding() == 0) break;
            if (!wake.wait(100) && ++timeouts >= 50) break;
        }
    }
    CHECK(ok);
    CHECK(timeouts < 50);
    const std::string first = guard.first_violation();
    CAPTURE(first);
    CHECK(guard.violations() == 0);
    ae::pipeline::device_event event;
    bool end_of_stream = false;
    while ((*thread)->control().try_pop_event(event)) end_of_stream |= event.kind == device_event_kind::end_of_stream;
    CHECK(end_of_stream == (stop_after_frames == 0));
    std::size_t overruns = 0, dropped = 0;
    endpoint.drain_glitches([&](const ae::glitch_record& r) {
        overruns += r.kind == ae::glitch_kind::overrun;
        dropped += r.kind == ae::glitch_kind::dropped;
    });
    CHECK(overruns == 0);
    CHECK(dropped == 0);
    (*thread)->stop();
    return received;
}

} // namespace ae::test::signal
