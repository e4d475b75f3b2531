// openae — rate_estimator: a delay-locked loop that turns (device position, time) observations
// into a smooth time line and a measured frame rate, as JACK's frame timer does
// (F. Adriaensen, "Using a DLL to filter time", LAC 2005).
//
// Observations may come at irregular intervals (variable device periods, late wake-ups). The loop
// starts wide (it locks within a few observations) and narrows its bandwidth as it settles, so
// the rate converges fast and then stays quiet. One thread owns an estimator; nothing allocates.
#pragma once

#include <openae/rt/types.h>

#include <cstdint>

namespace ae {

class rate_estimator {
public:
    struct options {
        double nominal_rate = 48'000.0; // frames per second the device claims
        double start_bandwidth_hz = 2.0; // loop bandwidth right after (re)start
        double final_bandwidth_hz = 0.05; // bandwidth once settled
        double narrowing_seconds = 1.0;  // time constant of the bandwidth's fall
    };

    rate_estimator() noexcept = default;
    explicit rate_estimator(const options& opts) noexcept { reset(opts); }

    // Forgets everything; the next observation restarts the loop.
    // rt-safe: wait-free
    void reset(const options& opts) noexcept;

    // Feeds one observation: the device had reached `device_position` frames at `time`.
    // Positions must not go backwards (a backwards or stalled one is ignored and counted).
    // rt-safe: wait-free
    void observe(std::uint64_t device_position, hns time) noexcept;

    // The filtered time at which the device reached the last observed position.
    // rt-safe: wait-free
    [[nodiscard]] hns filtered_time() const noexcept;
    // The filtered time of any position near the last one (extrapolated with the measured rate).
    // rt-safe: wait-free
    [[nodiscard]] hns time_of(std::uint64_t device_position) const noexcept;
    // The measured rate in frames per second (nominal until two observations arrived).
    [[nodiscard]] double frames_per_second() const noexcept { return 1.0 / seconds_per_frame_; }
    // A bound on the error of `filtered_time()`: three times the running RMS of the loop error.
    [[nodiscard]] hns time_error() const noexcept;
    // True once the loop has seen enough observations for its rate to be trusted.
    [[nodiscard]] bool settled() const noexcept;
    [[nodiscard]] std::uint64_t observations() const noexcept { return observations_; }
    [[nodiscard]] std::uint64_t rejected_observations() const noexcept { return rejected_; }
    [[nodiscard]] std::uint64_t last_position() const noexcept { return position_; }

private:
    options options_{};
    std::uint64_t observations_ = 0;
    std::uint64_t rejected_ = 0;
    std::uint64_t position_ = 0;      // position of the last observation
    double origin_seconds_ = 0;       // first observation's time: keeps the doubles small
    double time_ = 0;                 // filtered time of `position_`, seconds after origin
    double seconds_per_frame_ = 1.0 / 48'000.0;
    double elapsed_seconds_ = 0;      // stream time seen, drives the bandwidth schedule
    double error_mean_square_ = 0;    // running mean of the squared loop error, seconds^2
};

} // namespace ae
