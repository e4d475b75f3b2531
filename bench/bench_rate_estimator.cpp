// Rate estimator accuracy over many seeded runs: a ±100 ppm clock observed every period with up to
// 200 µs of wake-up jitter, positions in whole frames at the wake-up time (the model of
// tests/rt/test_rate_estimator.cpp). Prints RMS, p99, p99.9 and worst error after 2 s, and how
// many runs end past 2 ppm. Run: ./build/release/bench/bench_rate_estimator
#include <openae/rt/rate_estimator.h>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>
#include <algorithm>
int main() {
    for (int period : {128, 240, 480, 1024}) {
        std::vector<double> errs;
        for (int seed = 1; seed <= 1000; ++seed) for (double drift : {100.0, -100.0}) {
            std::mt19937 rng(seed); std::uniform_real_distribution<double> jit(0, 200e-6);
            const double rate = 48000 * (1 + drift * 1e-6);
            ae::rate_estimator est({.nominal_rate = 48000});
            const double t0 = 1000.0;
            for (int k = 1; ; ++k) { double t = t0 + k * period / 48000.0 + jit(rng); auto p = (std::uint64_t)std::floor(rate * (t - t0));
                est.observe(p, ae::hns{(std::int64_t)std::llround(t * 1e7)}); if (t - t0 >= 2.0) break; }
            errs.push_back(std::abs((est.frames_per_second() - rate) / rate * 1e6));
        }
        std::sort(errs.begin(), errs.end());
        double rms = 0; for (double e : errs) rms += e*e; rms = std::sqrt(rms / errs.size());
        printf("period %d: rms %.3f ppm, p99 %.3f, p99.9 %.3f, max %.3f, >2ppm: %zu of %zu\n", period, rms, errs[errs.size()*99/100], errs[errs.size()*999/1000], errs.back(), (size_t)std::count_if(errs.begin(), errs.end(), [](double e){return e>=2;}), errs.size());
    }
}
