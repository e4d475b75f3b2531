// Following a marked test signal through a recording, and totting up an endpoint's glitches:
// what the tests against real peers (JACK, PipeWire) compare a recording with.
#pragma once

#include "signal_rig.h"

#include <openae/rt/glitch.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace ae::test {

struct glitch_totals {
    std::uint64_t underrun_frames = 0;
    std::uint64_t overrun_frames = 0;
    std::uint64_t lost_frames = 0;
    std::uint64_t other = 0;
};
template <typename Endpoint>
glitch_totals drain(Endpoint& endpoint) {
    glitch_totals t;
    endpoint.drain_glitches([&](const ae::glitch_record& r) {
        if (r.kind == ae::glitch_kind::underrun) t.underrun_frames += r.frames;
        else if (r.kind == ae::glitch_kind::overrun) t.overrun_frames += r.frames;
        else if (r.kind == ae::glitch_kind::device_lost) t.lost_frames += r.frames;
        else ++t.other;
    });
    return t;
}


// Follows the test signal through `count` interleaved stereo frames from frame `next` on (the
// marker says which frame each is, modulo 65536), until `end`. A silent frame is a gap; a
// frame further on is a skip, one already seen a repeat (a cycle JACK ran without one of the
// clients: it read a stale buffer or none).
struct signal_walk {
    std::uint64_t next = 0;
    std::uint64_t matched = 0, gap_frames = 0, skipped = 0, repeated = 0, mismatches = 0;
    // Where the first gap began and the first skip landed, as the signal's frame (for the report).
    std::uint64_t first_gap = ~std::uint64_t{0}, first_skip = ~std::uint64_t{0};
};
inline signal_walk follow_signal(const float* frames, std::size_t count, std::uint64_t next, std::uint64_t end) {
    signal_walk w;
    w.next = next;
    for (std::size_t at = 0; at < count && w.next < end; ++at) {
        const float left = frames[2 * at], right = frames[2 * at + 1];
        const auto seen = static_cast<std::int64_t>(std::lround(left * 32768.0f) + 32768);
        // The step from the expected frame, in (-32768, 32768].
        std::int64_t step = (seen - static_cast<std::int64_t>(w.next % 65536) + 65536) % 65536;
        if (step > 32768) step -= 65536;
        const auto n = static_cast<std::uint64_t>(static_cast<std::int64_t>(w.next) + step);
        if (static_cast<std::int64_t>(w.next) + step >= 0 && left == signal::marker(n) && right == signal::sine(n % 65536, 48000)) {
            if (step > 0 && w.skipped == 0) w.first_skip = n;
            if (step > 0) w.skipped += static_cast<std::uint64_t>(step);
            if (step < 0) w.repeated += static_cast<std::uint64_t>(-step);
            w.next = n + 1;
            ++w.matched;
        } else if (left == 0.0f && right == 0.0f) {
            if (w.gap_frames == 0) w.first_gap = w.next;
            ++w.gap_frames;
        } else {
            ++w.mismatches;
        }
    }
    return w;
}

} // namespace ae::test
