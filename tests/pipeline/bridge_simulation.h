// The bridge pump between two simulated devices on two clocks, on virtual time: a capture device
// delivering 1,024-frame periods of a 1 kHz tone on a clock `capture_ppm` fast, a render device
// taking 960-frame periods (an RDP client's 20 ms blocks) on the nominal one. One thread drives
// both, event by event, so minutes of audio run in a second and replay exactly. The pump runs
// where a device loop runs it: right after each capture period, under the RT harness. Shared by
// tests/pipeline/test_bridge_pump.cpp and bench/bench_bridge_drift.cpp.
#pragma once

#include <openae/pipeline/bridge_pump.h>
#include <openae/rt/endpoint_core.h>
#include <openae/rt/virtual_time.h>

#include "rt_guard.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

namespace ae::test::bridge_simulation {

inline constexpr std::uint32_t rate = 48'000;
inline constexpr std::uint32_t capture_period = 1024;
inline constexpr std::uint32_t render_period = 960;
inline constexpr double tone_hz = 1000;

struct run_result {
    double first_queue_ms = 0; // the render ring's level before each pull, averaged over 40 to 50 s
    double last_queue_ms = 0;  // the same over the last 10 s
    double drift_ppm = 0;
    std::uint64_t underrun_frames = 0; // the render device found fewer frames than its period
    std::uint64_t dropped_frames = 0;
    double largest_step = 0;           // between consecutive output samples once the tone runs
    std::uint64_t violations = 0;
    std::vector<float> tail;           // the last render periods, for replay comparisons
    double worst_queue_off_ms = 0;     // after settling: the pump's queue from the level it holds, at its worst
    double worst_average_off_ms = 0;   // the same for its 2 s average
};

inline run_result run(double capture_ppm, double seconds, bool drift_control, std::uint64_t extra_prefill = 0) {
    virtual_time time{hns{0}};
    const frame_format format{rate, 2, sample_type::f32};
    capture_endpoint_core capture{1};
    render_endpoint_core render{2};
    REQUIRE_FALSE(capture.set_buffer(format, 4096, 8192));
    REQUIRE_FALSE(render.set_buffer(format, 960, 9600));
    auto pump = pipeline::bridge_pump::create(capture.rt(), render.rt(), {rate, 2, drift_control});
    REQUIRE(pump);
    // The first level: a period of each device, the resampler's delay and 2 ms.
    const std::uint64_t prefill = render_period + capture_period + 100 + 96 + extra_prefill;
    REQUIRE((*pump)->prefill(prefill) == prefill);
    capture.control_link().set_consumer(pump->get());
    REQUIRE_FALSE(render.start());
    REQUIRE_FALSE(capture.start());

    const double capture_step_s = capture_period / (rate * (1 + capture_ppm * 1e-6));
    const double render_step_s = static_cast<double>(render_period) / rate;
    double next_capture = capture_step_s; // the first capture period ends one period in
    double next_render = 0;
    double now = 0;
    std::uint64_t tone_frame = 0;
    std::vector<float> period(std::size_t{capture_period} * 2);
    run_result result;
    rt_guard guard;
    float previous = 0;
    bool tone_heard = false;
    double first_sum = 0, last_sum = 0;
    int first_n = 0, last_n = 0;
    // Drift control settles within ~40 s (its averaging, the level placed after the first second
    // and raised when a phase the first second did not show comes near empty).
    const double settle_s = 40;
    double tone_since = -1;
    while (now < seconds) {
        const bool capture_next = next_capture <= next_render;
        const double at = capture_next ? next_capture : next_render;
        time.advance(hns{static_cast<std::int64_t>(std::llround(at * 1e7)) - time.now().count()});
        now = at;
        if (capture_next) {
            for (std::uint32_t i = 0; i < capture_period; ++i, ++tone_frame) {
                const auto v = static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * tone_hz * static_cast<double>(tone_frame) / rate));
                period[2 * i] = period[2 * i + 1] = v;
            }
            auto& port = capture.device();
            (void)port.begin_period();
            REQUIRE(port.write(reinterpret_cast<const std::byte*>(period.data()), capture_period) == capture_period);
            {
                const auto armed = guard.arm();
                port.run_consumer();
            }
            next_capture += capture_step_s;
            continue;
        }
        auto& port = render.device();
        (void)port.begin_period();
        port.publish_read_time(time.now()); // as a device loop does at its period's start
        const double queue_ms = 1000.0 * static_cast<double>(port.available_frames()) / rate;
        if (now >= settle_s) {
            const auto f = (*pump)->read_figures();
            if (f.target_frames > 0) {
                result.worst_queue_off_ms = std::max(result.worst_queue_off_ms, std::abs(f.queue_frames - f.target_frames) * 1000.0 / rate);
                result.worst_average_off_ms = std::max(result.worst_average_off_ms, std::abs(f.average_frames - f.target_frames) * 1000.0 / rate);
            }
        }
        if (now >= settle_s && now < settle_s + 10) {
            first_sum += queue_ms;
            ++first_n;
        }
        if (now >= seconds - 10) {
            last_sum += queue_ms;
            ++last_n;
        }
        std::uint32_t got = 0;
        while (got < render_period) {
            const auto view = port.acquire(render_period - got);
            if (view.frames == 0) break;
            const auto* samples = reinterpret_cast<const float*>(view.data);
            for (std::uint32_t i = 0; i < view.frames; ++i) {
                const float v = samples[2 * i];
                if (v != 0 && !tone_heard) {
                    tone_heard = true;
                    tone_since = now;
                }
                // The tone's first second: its onset rings in the resampler's filter.
                if (tone_heard && now > tone_since + 1) result.largest_step = std::max(result.largest_step, static_cast<double>(std::abs(v - previous)));
                previous = v;
                if (now >= seconds - 0.1) result.tail.push_back(v);
            }
            port.release(view.frames);
            got += view.frames;
        }
        if (tone_heard) result.underrun_frames += render_period - got;
        next_render += render_step_s;
    }
    result.first_queue_ms = first_sum / std::max(first_n, 1);
    result.last_queue_ms = last_sum / std::max(last_n, 1);
    result.drift_ppm = (*pump)->read_figures().drift_ppm;
    result.dropped_frames = (*pump)->read_figures().dropped_frames;
    result.violations = guard.violations();
    capture.control_link().set_consumer(nullptr);
    return result;
}

} // namespace ae::test::bridge_simulation
