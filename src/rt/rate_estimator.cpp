#include <openae/rt/rate_estimator.h>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace ae {
namespace {
constexpr double hns_per_second = 1e7;
constexpr std::uint64_t settle_observations = 16;
} // namespace

void rate_estimator::reset(const options& opts) noexcept {
    options_ = opts;
    observations_ = 0;
    rejected_ = 0;
    position_ = 0;
    origin_seconds_ = 0;
    time_ = 0;
    seconds_per_frame_ = 1.0 / opts.nominal_rate;
    elapsed_seconds_ = 0;
    error_mean_square_ = 0;
}

void rate_estimator::observe(std::uint64_t device_position, hns time) noexcept {
    const double seconds = static_cast<double>(time.count()) / hns_per_second;
    if (observations_ == 0) {
        position_ = device_position;
        origin_seconds_ = seconds;
        time_ = 0;
        observations_ = 1;
        return;
    }
    if (device_position <= position_) {
        ++rejected_;
        return;
    }
    const double frames = static_cast<double>(device_position - position_);
    const double predicted = time_ + frames * seconds_per_frame_;
    const double error = (seconds - origin_seconds_) - predicted;
    const double period = frames * seconds_per_frame_;

    // The bandwidth narrows exponentially from start to final as stream time accumulates.
    const double fall = std::exp(-elapsed_seconds_ / options_.narrowing_seconds);
    const double bandwidth = options_.final_bandwidth_hz +
                             (options_.start_bandwidth_hz - options_.final_bandwidth_hz) * fall;
    // Keep the loop stable for long periods: omega below 1 per update.
    const double omega = std::min(2.0 * std::numbers::pi * bandwidth * period, 0.9);
    const double b = std::numbers::sqrt2 * omega;
    const double c = omega * omega;

    time_ = predicted + b * error;
    seconds_per_frame_ += c * error / frames;
    position_ = device_position;
    elapsed_seconds_ += period;
    ++observations_;

    const double weight = observations_ < settle_observations ? 1.0 / static_cast<double>(observations_) : 0.05;
    error_mean_square_ += weight * (error * error - error_mean_square_);

    // A huge error is a clock jump (suspend, a device that skipped): re-anchor on the observation.
    if (std::abs(error) > 0.25) {
        origin_seconds_ = seconds;
        time_ = 0;
        elapsed_seconds_ = 0;
        error_mean_square_ = 0;
        observations_ = 1;
    }
}

hns rate_estimator::filtered_time() const noexcept {
    return hns{static_cast<std::int64_t>(std::llround((origin_seconds_ + time_) * hns_per_second))};
}

hns rate_estimator::time_of(std::uint64_t device_position) const noexcept {
    const double frames = static_cast<double>(static_cast<std::int64_t>(device_position - position_));
    return hns{static_cast<std::int64_t>(
        std::llround((origin_seconds_ + time_ + frames * seconds_per_frame_) * hns_per_second))};
}

hns rate_estimator::time_error() const noexcept {
    return hns{static_cast<std::int64_t>(std::llround(3.0 * std::sqrt(error_mean_square_) * hns_per_second))};
}

bool rate_estimator::settled() const noexcept { return observations_ >= settle_observations; }

} // namespace ae
