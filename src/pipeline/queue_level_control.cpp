// Drift control of a queue between two clocks (queue_level_control.h).
#include "queue_level_control.h"

#include <algorithm>
#include <cmath>

namespace ae::pipeline {
namespace {

// Stream time: the queue is averaged over ~2 s; the PI loop's natural period is ~60 s (critically
// damped), far below anything audible, far above the averaging.
constexpr double average_s = 2;
constexpr double settle_s = 1; // the set point: the average over the first second
constexpr double kp_ppm_per_ms = 200;
constexpr double ki_ppm_per_ms_s = 10;
// A queue grown by late packets comes back down to where it settled once none came late for a
// while: at 0.5 ms a second (drift control resamples ~500 ppm faster meanwhile, 0.9 cents).
// If packets come late again after it came down, the path needs the longer queue: the next wait
// doubles (5 s, 10 s, ... 5 min).
constexpr double relax_first_wait_s = 5;
constexpr double relax_longest_wait_s = 300;
constexpr double relax_ms_per_s = 0.5;

double seconds(hns t) noexcept { return static_cast<double>(t.count()) * 1e-7; }

} // namespace

void queue_level_control::restart(hns now) noexcept { // rt-safe: bounded
    setpoint_known_ = false;
    average_known_ = false;
    settle_sum_ = settle_seconds_ = 0;
    settle_from_ = now;
    integral_ = 0;
    last_refill_ = now;
    relax_wait_s_ = relax_first_wait_s;
    relaxed_since_refill_ = false;
}

void queue_level_control::grew(double frames, hns now) noexcept { // rt-safe: bounded
    if (setpoint_known_) {
        setpoint_ += frames;
        average_ += frames;
    }
    if (relaxed_since_refill_) relax_wait_s_ = std::min(relax_wait_s_ * 2, relax_longest_wait_s);
    relaxed_since_refill_ = false;
    last_refill_ = now;
}

void queue_level_control::shift_target(double frames) noexcept { // rt-safe: wait-free
    if (!setpoint_known_) return;
    setpoint_ += frames;
    settled_setpoint_ += frames;
}

void queue_level_control::lost(double frames) noexcept { // rt-safe: wait-free
    if (!setpoint_known_) return;
    setpoint_ -= frames;
    settled_setpoint_ -= frames;
    average_ -= frames;
    previous_queued_ -= frames;
}

void queue_level_control::raise_target(double frames, hns now) noexcept { // rt-safe: wait-free
    if (!setpoint_known_) return;
    setpoint_ += frames;
    if (relaxed_since_refill_) relax_wait_s_ = std::min(relax_wait_s_ * 2, relax_longest_wait_s);
    relaxed_since_refill_ = false;
    last_refill_ = now;
}

void queue_level_control::lower_floor(double frames) noexcept { // rt-safe: wait-free
    if (setpoint_known_) settled_setpoint_ -= frames;
}

std::optional<double> queue_level_control::sample(double queued, hns now, bool steer) noexcept { // rt-safe: bounded
    const double dt = average_known_ ? std::max(0.0, seconds(now - last_sample_)) : 0.0;
    last_sample_ = now;
    // Samples come unevenly (after every packet, and between them on a timer), so both the set
    // point and the average weigh the queue by the time it held (the interval's mean): a plain
    // mean of samples counts the moments after a packet's arrival more often and sat 0.3 ms
    // above the average, which drift control then chased.
    const double held = average_known_ ? 0.5 * (previous_queued_ + queued) : queued;
    previous_queued_ = queued;
    if (!average_known_) {
        average_ = queued;
        average_known_ = true;
    } else {
        average_ += (held - average_) * std::min(1.0, dt / average_s);
    }
    if (!setpoint_known_) {
        settle_sum_ += held * dt;
        settle_seconds_ += dt;
        if (seconds(now - settle_from_) >= settle_s) {
            setpoint_ = settle_seconds_ > 0 ? settle_sum_ / settle_seconds_ : queued;
            settled_setpoint_ = setpoint_;
            setpoint_known_ = true;
            average_ = setpoint_;
        }
        return std::nullopt;
    }
    if (!steer) return std::nullopt;
    if (setpoint_ > settled_setpoint_ && seconds(now - last_refill_) >= relax_wait_s_) {
        setpoint_ = std::max(settled_setpoint_, setpoint_ - relax_ms_per_s * dt * rate_ / 1000.0);
        relaxed_since_refill_ = true;
    }
    const double error_ms = (average_ - setpoint_) * 1000.0 / rate_;
    integral_ = std::clamp(integral_ + error_ms * dt, lowest_ppm_ / ki_ppm_per_ms_s, max_correction_ppm_ / ki_ppm_per_ms_s);
    correction_ = std::clamp(kp_ppm_per_ms * error_ms + ki_ppm_per_ms_s * integral_, lowest_ppm_, max_correction_ppm_);
    return correction_;
}

} // namespace ae::pipeline
