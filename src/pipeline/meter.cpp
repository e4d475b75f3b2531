#include <openae/pipeline/meter.h>

#include <algorithm>
#include <cmath>

namespace ae::pipeline {

meter::meter(std::uint32_t channels, std::uint32_t window_frames) noexcept
    : channels_(channels), measured_channels_(std::min(channels, meter_reading::max_channels)),
      window_frames_(std::max<std::uint32_t>(window_frames, 1)) {}

void meter::process(const float* samples, std::uint32_t frames) noexcept { // rt-safe
    for (std::uint32_t f = 0; f < frames; ++f) {
        const float* frame = samples + std::size_t{f} * channels_;
        for (std::uint32_t c = 0; c < measured_channels_; ++c) {
            const float value = frame[c];
            peak_[c] = std::max(peak_[c], std::abs(value));
            sum_squares_[c] += static_cast<double>(value) * value;
        }
        if (++frames_in_window_ == window_frames_) {
            meter_reading reading;
            reading.channels = measured_channels_;
            reading.window_frames = window_frames_;
            reading.windows = ++windows_;
            for (std::uint32_t c = 0; c < measured_channels_; ++c) {
                reading.peak[c] = peak_[c];
                reading.rms[c] = static_cast<float>(std::sqrt(sum_squares_[c] / window_frames_));
                peak_[c] = 0;
                sum_squares_[c] = 0;
            }
            published_.publish(reading);
            frames_in_window_ = 0;
        }
    }
}

void meter::set_channels(std::uint32_t channels) noexcept { // rt-safe
    if (channels == channels_) return;
    channels_ = channels;
    measured_channels_ = std::min(channels, meter_reading::max_channels);
    frames_in_window_ = 0;
    peak_ = {};
    sum_squares_ = {};
}

meter_reading meter::read() const noexcept { // rt-safe
    meter_reading reading;
    (void)published_.try_read(reading);
    return reading;
}

} // namespace ae::pipeline
