// openae — rate_estimator: turns (device position, time) observations into a smooth time line and
// a measured frame rate — the job JACK's delay-locked loop does (F. Adriaensen, "Using a DLL to
// filter time", LAC 2005), done here as a least-squares line fit with exponential forgetting.
//
// Why not the plain second-order DLL: its rate integrator is driven by every observation's error,
// so a device that reports positions quantised to one frame at jittered wake-ups leaves it 2–6 ppm
// off after 2 s. A weighted least-squares fit of time against position does better with that
// noise: after 2 s of a ±100 ppm clock with 200 µs of wake-up jitter (2000 seeded runs each), the
// rate is off 0.52 ppm RMS (worst 1.72) at 5 ms periods and 0.75 ppm RMS (worst 2.73; 99.35%
// within 2 ppm) at 10 ms periods (see tests/rt/test_rate_estimator.cpp).
// Forgetting (`memory_seconds` of stream time) lets it follow a clock that drifts slowly; a jump
// of more than 250 ms (suspend, a device that skipped) re-anchors it. Observations may come at
// irregular intervals. One thread owns an estimator; nothing allocates.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/types.h>

#include <cstdint>

namespace ae {

class rate_estimator {
public:
    struct options {
        double nominal_rate = 48'000.0; // frames per second the device claims
        double memory_seconds = 10.0;   // stream time after which an observation's weight falls to 1/e
    };

    rate_estimator() noexcept = default;
    explicit rate_estimator(const options& opts) noexcept { reset(opts); }

    // Forgets everything; the next observation restarts the fit.
    // rt-safe: wait-free
    void reset(const options& opts) noexcept;

    // Feeds one observation: the device had reached `device_position` frames at `time`.
    // Positions must not go backwards (a backwards or stalled one is ignored and counted).
    // rt-safe: wait-free
    void observe(std::uint64_t device_position, hns time) noexcept;

    // The fitted time at which the device reached the last observed position.
    // rt-safe: wait-free
    [[nodiscard]] hns filtered_time() const noexcept;
    // The fitted time of any position near the last one (extrapolated with the measured rate).
    // rt-safe: wait-free
    [[nodiscard]] hns time_of(std::uint64_t device_position) const noexcept;
    // The measured rate in frames per second (nominal until two observations arrived).
    [[nodiscard]] double frames_per_second() const noexcept { return 1.0 / seconds_per_frame_; }
    // A bound on the error of `filtered_time()`: three times the running RMS of the fit's residual.
    [[nodiscard]] hns time_error() const noexcept;
    // True once the fit has seen enough observations for its rate to be trusted.
    [[nodiscard]] bool settled() const noexcept;
    [[nodiscard]] std::uint64_t observations() const noexcept { return observations_; }
    [[nodiscard]] std::uint64_t rejected_observations() const noexcept { return rejected_; }
    [[nodiscard]] std::uint64_t last_position() const noexcept { return position_; }

private:
    void refit() noexcept;

    options options_{};
    std::uint64_t observations_ = 0;
    std::uint64_t rejected_ = 0;
    std::uint64_t position_ = 0; // position of the last observation: x = 0 of the sums below
    double last_seconds_ = 0;    // raw time of the last observation: y = 0 of the sums below
    // Exponentially weighted sums over observations (x: frames before the last one, y: seconds
    // relative to the last one). Re-centred at every observation, so they stay small.
    double weight_ = 0, sum_x_ = 0, sum_y_ = 0, sum_xx_ = 0, sum_xy_ = 0;
    double fitted_offset_ = 0; // fitted time of the last position minus its raw time, seconds
    double seconds_per_frame_ = 1.0 / 48'000.0;
    double residual_mean_square_ = 0; // running mean of squared prediction errors, seconds^2
};

} // namespace ae

#pragma GCC visibility pop
