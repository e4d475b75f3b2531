// A sine's figures block by block, for the rate-change tests: a least-squares fit of each 10 ms
// block against a 440 Hz grid at 48 kHz gives its amplitude, phase and residual; a gap, a step or
// a shift in time at a seam shows in one of them.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <vector>

namespace ae::test {

struct block_fit {
    double amplitude;
    double phase;
    double residual_rms;
};

// Least-squares fit of a·sin(ωn) + b·cos(ωn) over frames [begin, end) of one channel.
inline block_fit fit(const std::vector<float>& x, std::size_t channels, std::size_t begin, std::size_t end, double omega) {
    double ss = 0, cc = 0, sc = 0, xs = 0, xc = 0;
    for (std::size_t n = begin; n < end; ++n) {
        const double s = std::sin(omega * static_cast<double>(n));
        const double c = std::cos(omega * static_cast<double>(n));
        const double v = x[n * channels];
        ss += s * s;
        cc += c * c;
        sc += s * c;
        xs += v * s;
        xc += v * c;
    }
    const double det = ss * cc - sc * sc;
    const double a = (xs * cc - xc * sc) / det;
    const double b = (xc * ss - xs * sc) / det;
    double err = 0;
    for (std::size_t n = begin; n < end; ++n) {
        const double e = x[n * channels] - (a * std::sin(omega * static_cast<double>(n)) + b * std::cos(omega * static_cast<double>(n)));
        err += e * e;
    }
    return {std::hypot(a, b), std::atan2(b, a), std::sqrt(err / static_cast<double>(end - begin))};
}

struct sine_figures {
    double worst_amplitude_error = 0;
    double worst_phase_step = 0;
    double worst_snr = 1e9;
};

// 10 ms blocks of a 0.25 amplitude 440 Hz sine at 48 kHz in frames [begin, end), the first block
// skipped (the stream's start): amplitude, phase against one global grid, residual. A gap, a step
// or a shift in time at a seam shows in one of them.
inline sine_figures measure_sine(const std::vector<float>& x, std::size_t channels, std::size_t begin, std::size_t end) {
    const double omega = 2 * std::numbers::pi * 440.0 / 48000.0;
    const std::size_t block = 480;
    sine_figures out;
    double reference_phase = 0;
    bool have_reference = false;
    for (std::size_t at = begin + block; at + block <= end; at += block) {
        const auto f = fit(x, channels, at, at + block, omega);
        out.worst_amplitude_error = std::max(out.worst_amplitude_error, std::abs(f.amplitude - 0.25));
        if (have_reference) {
            double step = std::abs(f.phase - reference_phase);
            step = std::min(step, 2 * std::numbers::pi - step);
            out.worst_phase_step = std::max(out.worst_phase_step, step);
        }
        reference_phase = f.phase;
        have_reference = true;
        const double snr = 20 * std::log10(0.25 / std::sqrt(2.0) / std::max(f.residual_rms, 1e-12));
        // A silent block fits with no residual: said by its amplitude, not its SNR.
        if (snr < 80 || std::abs(f.amplitude - 0.25) > 0.0025)
            MESSAGE("block at frame ", at, " of ", end, ": amplitude ", f.amplitude, " phase ", f.phase, " snr ", snr);
        out.worst_snr = std::min(out.worst_snr, snr);
    }
    return out;
}

} // namespace ae::test
