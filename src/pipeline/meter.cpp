#include <openae/pipeline/meter.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ae::pipeline {

meter::meter(std::uint32_t channels, std::uint32_t window_frames) noexcept
    : channels_(channels), measured_channels_(std::min(channels, meter_reading::max_channels)),
      window_frames_(std::max<std::uint32_t>(window_frames, 1)) {}

namespace {
// Four floats at a time (SSE on any x86-64): lane i of a vector always holds the same channel when
// the channel count divides 4.
using float4 = float __attribute__((vector_size(16)));
} // namespace

void meter::measure_packed(const float* block, std::uint32_t frames) noexcept { // rt-safe: bounded
    const std::size_t samples = std::size_t{frames} * channels_;
    float4 peak{0, 0, 0, 0};
    float4 sum{0, 0, 0, 0};
    std::size_t i = 0;
    for (; i + 4 <= samples; i += 4) {
        float4 value;
        std::memcpy(&value, block + i, sizeof value);
        const float4 magnitude = value < 0 ? -value : value;
        peak = magnitude > peak ? magnitude : peak;
        sum += value * value;
    }
    std::array<float, 4> peaks{peak[0], peak[1], peak[2], peak[3]};
    std::array<float, 4> sums{sum[0], sum[1], sum[2], sum[3]};
    for (; i < samples; ++i) { // a tail shorter than a vector (odd frame counts)
        const std::size_t lane = i % 4;
        peaks[lane] = std::max(peaks[lane], std::fabs(block[i]));
        sums[lane] += block[i] * block[i];
    }
    for (std::size_t lane = 0; lane < 4; ++lane) {
        const std::uint32_t c = static_cast<std::uint32_t>(lane % channels_);
        peak_[c] = std::max(peak_[c], peaks[lane]);
        sum_squares_[c] += sums[lane];
    }
}

void meter::measure_strided(const float* block, std::uint32_t frames) noexcept { // rt-safe: bounded
    for (std::uint32_t c = 0; c < measured_channels_; ++c) {
        float peak = peak_[c];
        float sum = 0;
        const float* channel = block + c;
        for (std::uint32_t f = 0; f < frames; ++f) {
            const float value = channel[std::size_t{f} * channels_];
            peak = std::max(peak, std::fabs(value));
            sum += value * value;
        }
        peak_[c] = peak;
        sum_squares_[c] += sum;
    }
}

void meter::process(const float* samples, std::uint32_t frames) noexcept { // rt-safe: bounded
    std::uint32_t done = 0;
    while (done < frames) {
        // Up to the end of the window at once, channel by channel: a tight loop per channel
        // (float sums over at most a block, added into doubles) instead of a per-frame branch.
        const std::uint32_t n = std::min(frames - done, window_frames_ - frames_in_window_);
        const float* block = samples + std::size_t{done} * channels_;
        if (channels_ == measured_channels_ && 4 % channels_ == 0) {
            measure_packed(block, n);
        } else {
            measure_strided(block, n);
        }
        done += n;
        frames_in_window_ += n;
        if (frames_in_window_ == window_frames_) {
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

void meter::set_channels(std::uint32_t channels) noexcept { // rt-safe: bounded
    if (channels == channels_) return;
    channels_ = channels;
    measured_channels_ = std::min(channels, meter_reading::max_channels);
    frames_in_window_ = 0;
    peak_ = {};
    sum_squares_ = {};
}

meter_reading meter::read() const noexcept { // rt-safe: bounded
    meter_reading reading;
    (void)published_.try_read(reading);
    return reading;
}

} // namespace ae::pipeline
