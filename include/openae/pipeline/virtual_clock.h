// openae — virtual_clock: paces a device that has no hardware clock (null, realtime wav, a lost
// device's stand-in) with clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME).
//
// The clock runs at `rate × (1 + drift_ppm / 10^6)` frames per real second — a device crystal
// that is fast or slow — and wakes at the end of each period, late by a random 0..jitter_us (a
// busy scheduler). Like a sound card with hardware timestamps, it reports the position its
// clock had reached at the moment of waking, in whole frames: jitter changes which position is
// observed, never the pairing of position and time. Periods are anchored to the start, so
// lateness never accumulates; after a stall, overdue periods return at once (a burst).
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/device.h>

#include <cstdint>

namespace ae::pipeline {

class virtual_clock {
public:
    struct options {
        double rate = 48'000;
        std::uint32_t period_frames = 480;
        double drift_ppm = 0;
        double jitter_us = 0;
        std::uint32_t seed = 1;
    };

    virtual_clock() noexcept = default;
    explicit virtual_clock(const options& opts) noexcept : options_(opts) {}

    // Starts counting at `now`: position 0, first wake one period later.
    // rt-safe: wait-free
    void start(hns now) noexcept;
    // Sleeps until the end of the next period (plus jitter) and returns the timing at waking.
    // rt-safe: waits for the clock only (a device loop's one wait point: clock_nanosleep)
    [[nodiscard]] device_timing wait_next() noexcept;
    // When the next wait_next() wakes, jitter aside (CLOCK_MONOTONIC).
    [[nodiscard]] hns next_wake() const noexcept {
        const double seconds = static_cast<double>(periods_ + 1) * options_.period_frames / true_rate();
        return origin_ + hns{static_cast<std::int64_t>(seconds * 1e7 + 0.5)} + extra_lateness_;
    }
    // Delays every later wake-up by `delay` without moving the clock (a stall of the thread).
    void add_lateness(hns delay) noexcept { extra_lateness_ = extra_lateness_ + delay; }
    // Runs the clock at `drift_ppm` from its last wake on, with no step in time or position (a
    // device whose pace is steered against a far clock: drift control).
    // rt-safe: wait-free
    void set_drift_ppm(double drift_ppm) noexcept;
    // Shifts the times reported from now on by `jump` (a clock that jumped).
    void jump(hns offset) noexcept { time_offset_ = time_offset_ + offset; }

    [[nodiscard]] std::uint64_t periods() const noexcept { return periods_; }
    [[nodiscard]] double true_rate() const noexcept { return options_.rate * (1 + options_.drift_ppm * 1e-6); }
    [[nodiscard]] const options& settings() const noexcept { return options_; }

private:
    [[nodiscard]] std::uint32_t next_random() noexcept;

    options options_{};
    hns origin_{0};
    std::uint64_t periods_ = 0;
    hns extra_lateness_{0};
    hns time_offset_{0};
    std::uint32_t random_state_ = 1;
};

} // namespace ae::pipeline

#pragma GCC visibility pop
