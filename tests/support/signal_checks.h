// openae test support — measuring signals: SNR against a fitted sine.
#pragma once

#include <cmath>
#include <cstddef>
#include <numbers>
#include <vector>

namespace ae::test {

// SNR in dB of `signal` against the best-fitting sine at `hz` (amplitude and phase fitted by
// least squares), over frames [skip_front, size - skip_back).
inline double snr_db(const std::vector<float>& signal, double rate, double hz, std::size_t skip_front,
                     std::size_t skip_back) {
    const double w = 2 * std::numbers::pi * hz / rate;
    double ss = 0, sc = 0, cc = 0, xs = 0, xc = 0;
    for (std::size_t i = skip_front; i + skip_back < signal.size(); ++i) {
        const double s = std::sin(w * static_cast<double>(i)), c = std::cos(w * static_cast<double>(i));
        ss += s * s; sc += s * c; cc += c * c; xs += signal[i] * s; xc += signal[i] * c;
    }
    const double det = ss * cc - sc * sc;
    const double a = (xs * cc - xc * sc) / det, b = (xc * ss - xs * sc) / det;
    double power = 0, noise = 0;
    for (std::size_t i = skip_front; i + skip_back < signal.size(); ++i) {
        const double fit = a * std::sin(w * static_cast<double>(i)) + b * std::cos(w * static_cast<double>(i));
        power += fit * fit;
        noise += (signal[i] - fit) * (signal[i] - fit);
    }
    return 10 * std::log10(power / noise);
}

} // namespace ae::test
