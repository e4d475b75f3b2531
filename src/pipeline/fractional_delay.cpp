#include <openae/pipeline/fractional_delay.h>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace ae::pipeline {
namespace {

constexpr double kaiser_beta = 9.0; // sidelobes near -90 dB: below the 70 dB a seam must keep

// The modified Bessel function I0, by its series (terms fall fast: 40 reach double precision
// for the arguments a Kaiser window with beta 9 gives). rt-safe
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

fractional_delay::fractional_delay(std::uint32_t max_channels)
    : max_channels_(max_channels), history_(std::size_t{taps - 1} * max_channels, 0.0f) {}

void fractional_delay::set_fraction(double fraction) noexcept { // rt-safe
    fraction_ = std::clamp(fraction, 0.0, 1.0);
    const double delay = whole_delay + fraction_;
    const double half = taps / 2.0;
    const double norm = bessel_i0(kaiser_beta);
    double sum = 0;
    for (std::uint32_t k = 0; k < taps; ++k) {
        const double t = static_cast<double>(k) - delay;
        const double sinc = std::abs(t) < 1e-12 ? 1.0 : std::sin(std::numbers::pi * t) / (std::numbers::pi * t);
        const double r = std::clamp(t / half, -1.0, 1.0);
        const double window = bessel_i0(kaiser_beta * std::sqrt(1 - r * r)) / norm;
        coefficients_[k] = static_cast<float>(sinc * window);
        sum += sinc * window;
    }
    // Unity gain at DC exactly.
    for (auto& c : coefficients_) c = static_cast<float>(c / sum);
    std::fill(history_.begin(), history_.end(), 0.0f);
}

void fractional_delay::process(float* samples, std::uint32_t frames, std::uint32_t channels) noexcept { // rt-safe
    if (!active_ || channels == 0 || channels > max_channels_) return;
    constexpr std::uint32_t keep = taps - 1;
    // y[n] = sum_k h[k] x[n - k]: frames before this block come from the history.
    for (std::uint32_t c = 0; c < channels; ++c) {
        float* h = history_.data() + std::size_t{c} * keep;
        // A small sliding window: the history then this block's samples of channel c.
        std::array<float, keep + 1> window{};
        std::copy(h, h + keep, window.begin());
        for (std::uint32_t n = 0; n < frames; ++n) {
            float& x = samples[std::size_t{n} * channels + c];
            window[keep] = x;
            double acc = 0;
            for (std::uint32_t k = 0; k < taps; ++k) acc += static_cast<double>(coefficients_[k]) * window[keep - k];
            x = static_cast<float>(acc);
            std::copy(window.begin() + 1, window.end(), window.begin());
        }
        std::copy(window.begin(), window.begin() + keep, h);
    }
}

} // namespace ae::pipeline
