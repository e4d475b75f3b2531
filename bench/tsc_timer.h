// Per-operation timing for benchmarks: the TSC read around one operation, converted to ns, with
// the timer's own cost measured so it can be subtracted. Percentiles come from the samples.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>
#include <x86intrin.h>

namespace ae::bench {

inline std::uint64_t tsc_begin() noexcept {
    _mm_lfence();
    return __rdtsc();
}
inline std::uint64_t tsc_end() noexcept {
    unsigned aux = 0;
    const std::uint64_t t = __rdtscp(&aux);
    _mm_lfence();
    return t;
}

// TSC ticks per nanosecond, measured once against steady_clock over 50 ms.
inline double ticks_per_ns() {
    static const double value = [] {
        const auto t0 = std::chrono::steady_clock::now();
        const std::uint64_t c0 = __rdtsc();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        const auto t1 = std::chrono::steady_clock::now();
        const std::uint64_t c1 = __rdtsc();
        return static_cast<double>(c1 - c0) / static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    }();
    return value;
}

// The value at quantile q (0..1) of `ticks`, in ns (sorts `ticks`).
inline double quantile_ns(std::vector<std::uint64_t>& ticks, double q) {
    if (ticks.empty()) return 0;
    const auto at = static_cast<std::size_t>(q * static_cast<double>(ticks.size() - 1));
    std::nth_element(ticks.begin(), ticks.begin() + static_cast<std::ptrdiff_t>(at), ticks.end());
    return static_cast<double>(ticks[at]) / ticks_per_ns();
}

// Median cost of an empty begin/end pair, in ns.
inline double timer_overhead_ns() {
    static const double value = [] {
        std::vector<std::uint64_t> samples(100000);
        for (auto& s : samples) {
            const auto t0 = tsc_begin();
            s = tsc_end() - t0;
        }
        return quantile_ns(samples, 0.5);
    }();
    return value;
}

} // namespace ae::bench
