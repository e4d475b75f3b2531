#include <openae/rt/rate_estimator.h>

#include <cmath>

namespace ae {
namespace {
constexpr double hns_per_second = 1e7;
constexpr std::uint64_t settle_observations = 16;
constexpr double jump_seconds = 0.25;
} // namespace

void rate_estimator::reset(const options& opts) noexcept {
    options_ = opts;
    observations_ = 0;
    rejected_ = 0;
    position_ = 0;
    last_seconds_ = 0;
    weight_ = sum_x_ = sum_y_ = sum_xx_ = sum_xy_ = 0;
    fitted_offset_ = 0;
    seconds_per_frame_ = 1.0 / opts.nominal_rate;
    residual_mean_square_ = 0;
}

void rate_estimator::observe(std::uint64_t device_position, hns time) noexcept {
    const double seconds = static_cast<double>(time.count()) / hns_per_second;
    if (observations_ != 0 && device_position <= position_) {
        ++rejected_;
        return;
    }
    const double frames = observations_ == 0 ? 0.0 : static_cast<double>(device_position - position_);
    const double elapsed = seconds - last_seconds_;
    const double error = elapsed - fitted_offset_ - frames * seconds_per_frame_; // vs the fitted line
    if (observations_ == 0 || std::abs(error) > jump_seconds) {
        // First observation, or a clock jump: start a new line here (the rate is kept).
        weight_ = 1;
        sum_x_ = sum_y_ = sum_xx_ = sum_xy_ = 0;
        fitted_offset_ = 0;
        residual_mean_square_ = 0;
        position_ = device_position;
        last_seconds_ = seconds;
        observations_ = 1;
        return;
    }
    // Re-centre the sums on the new observation: every stored x moves by -frames, y by -elapsed.
    sum_xx_ += frames * (frames * weight_ - 2 * sum_x_);
    sum_xy_ += -frames * sum_y_ - elapsed * sum_x_ + frames * elapsed * weight_;
    sum_x_ -= frames * weight_;
    sum_y_ -= elapsed * weight_;
    // Forget by stream time, so the memory does not depend on the observation interval.
    const double keep = std::exp(-frames * seconds_per_frame_ / options_.memory_seconds);
    weight_ = weight_ * keep + 1;
    sum_x_ *= keep;
    sum_y_ *= keep;
    sum_xx_ *= keep;
    sum_xy_ *= keep;
    position_ = device_position;
    last_seconds_ = seconds;
    ++observations_;
    refit();

    const double weight = observations_ < settle_observations ? 1.0 / static_cast<double>(observations_) : 0.05;
    residual_mean_square_ += weight * (error * error - residual_mean_square_);
}

void rate_estimator::refit() noexcept {
    const double spread = weight_ * sum_xx_ - sum_x_ * sum_x_;
    if (spread <= 0) return;
    const double slope = (weight_ * sum_xy_ - sum_x_ * sum_y_) / spread;
    if (!(slope > 0)) return; // not a usable line yet (NaN or a clock that runs backwards)
    seconds_per_frame_ = slope;
    fitted_offset_ = (sum_y_ - slope * sum_x_) / weight_;
}

hns rate_estimator::filtered_time() const noexcept {
    return hns{static_cast<std::int64_t>(std::llround((last_seconds_ + fitted_offset_) * hns_per_second))};
}

hns rate_estimator::time_of(std::uint64_t device_position) const noexcept {
    const double frames = static_cast<double>(static_cast<std::int64_t>(device_position - position_));
    return hns{static_cast<std::int64_t>(
        std::llround((last_seconds_ + fitted_offset_ + frames * seconds_per_frame_) * hns_per_second))};
}

hns rate_estimator::time_error() const noexcept {
    return hns{static_cast<std::int64_t>(std::llround(3.0 * std::sqrt(residual_mean_square_) * hns_per_second))};
}

bool rate_estimator::settled() const noexcept { return observations_ >= settle_observations; }

} // namespace ae
