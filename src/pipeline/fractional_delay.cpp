#include <openae/pipeline/fractional_delay.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

namespace ae::pipeline {
namespace {

constexpr double kaiser_beta = 9.0; // sidelobes near -90 dB: below the 70 dB a seam must keep

// The modified Bessel function I0, by its series (terms fall fast: 40 reach double precision
// for the arguments a Kaiser window with beta 9 gives). rt-safe: bounded
double bessel_i0(double x) noexcept {
    double sum = 1, term = 1;
    const double quarter_x2 = x * x / 4;
    for (int k = 1; k < 40; ++k) {
        term *= quarter_x2 / (static_cast<double>(k) * k);
        sum += term;
    }
    return sum;
}

} // namespace

fractional_delay::fractional_delay(std::uint32_t max_channels, std::uint32_t max_frames)
    : max_channels_(max_channels), max_frames_(std::max<std::uint32_t>(max_frames, 1)),
      history_(std::size_t{taps - 1} * max_channels, 0.0f), line_(std::size_t{taps - 1} + max_frames_, 0.0f) {}

void fractional_delay::set_fraction(double fraction) noexcept { // rt-safe: bounded
    fraction_ = std::clamp(fraction, 0.0, 1.0);
    const double delay = whole_delay + fraction_;
    const double half = taps / 2.0;
    const double norm = bessel_i0(kaiser_beta);
    std::array<double, taps> h{};
    double sum = 0;
    for (std::uint32_t k = 0; k < taps; ++k) {
        const double t = static_cast<double>(k) - delay;
        const double sinc = std::abs(t) < 1e-12 ? 1.0 : std::sin(std::numbers::pi * t) / (std::numbers::pi * t);
        const double r = std::clamp(t / half, -1.0, 1.0);
        h[k] = sinc * bessel_i0(kaiser_beta * std::sqrt(1 - r * r)) / norm;
        sum += h[k];
    }
    // Unity gain at DC exactly; stored reversed, so an output is a dot product with the line.
    for (std::uint32_t k = 0; k < taps; ++k) reversed_[taps - 1 - k] = static_cast<float>(h[k] / sum);
    std::fill(history_.begin(), history_.end(), 0.0f);
}

void fractional_delay::process(float* samples, std::uint32_t frames, std::uint32_t channels) noexcept { // rt-safe: bounded
    if (!active_ || channels == 0 || channels > max_channels_) return;
    constexpr std::uint32_t keep = taps - 1;
    // Bounded: chunks of at most max_frames.
    for (std::uint32_t done = 0; done < frames;) {
        const std::uint32_t n = std::min(frames - done, max_frames_);
        float* block = samples + std::size_t{done} * channels;
        for (std::uint32_t c = 0; c < channels; ++c) {
            // The line: this channel's last `keep` inputs, then the block's; y[i] is the dot
            // product of the reversed taps with line[i .. i + taps).
            float* h = history_.data() + std::size_t{c} * keep;
            std::memcpy(line_.data(), h, sizeof(float) * keep);
            for (std::uint32_t i = 0; i < n; ++i) line_[keep + i] = block[std::size_t{i} * channels + c];
            for (std::uint32_t i = 0; i < n; ++i) {
                const float* x = line_.data() + i;
                float a0 = 0, a1 = 0, a2 = 0, a3 = 0; // four sums: the compiler may vectorize them
                for (std::uint32_t k = 0; k < taps; k += 4) {
                    a0 += reversed_[k] * x[k];
                    a1 += reversed_[k + 1] * x[k + 1];
                    a2 += reversed_[k + 2] * x[k + 2];
                    a3 += reversed_[k + 3] * x[k + 3];
                }
                block[std::size_t{i} * channels + c] = (a0 + a1) + (a2 + a3);
            }
            std::memcpy(h, line_.data() + n, sizeof(float) * keep);
        }
        done += n;
    }
}

} // namespace ae::pipeline
