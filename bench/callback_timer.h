// How long a sound server's real-time callback takes, cycle by cycle, in one process: a fixed
// histogram of 0.25 µs steps (nothing allocated on the callback's thread), TSC-timed. The same
// code times openae's device callback (bench_device_period, through the device's callback hooks)
// and the plain reference clients (jack_clients, pw_client), so their per-cycle costs compare.
#pragma once

#include "tsc_timer.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>

namespace ae::bench {

class callback_timer {
public:
    // Call before the first callback: measures the TSC rate off the callback's thread.
    callback_timer() : ticks_per_step_(ticks_per_ns() * step_ns) {}

    void begin() noexcept { started_ = tsc_begin(); } // rt-safe
    void end() noexcept { // rt-safe
        const double steps = static_cast<double>(tsc_end() - started_) / ticks_per_step_;
        const std::size_t bucket = steps < static_cast<double>(buckets - 1) ? static_cast<std::size_t>(steps) : buckets - 1;
        // relaxed: read after the callbacks have stopped (the server's client closed).
        counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    }

    // "callback µs: median M, p99 P, p99.9 Q, max X (over N cycles)"; the last bucket is "≥ 2048".
    void print(const char* who) const {
        std::uint64_t total = 0;
        for (const auto& c : counts_) total += c.load(std::memory_order_relaxed);
        if (total == 0) {
            std::printf("%s callback: no cycles\n", who);
            return;
        }
        std::printf("%s callback µs: median %.2f, p99 %.2f, p99.9 %.2f, max %s%.2f (over %llu cycles)\n", who, quantile_us(total, 0.5),
                    quantile_us(total, 0.99), quantile_us(total, 0.999), max_bucket() == buckets - 1 ? ">= " : "", max_us(),
                    static_cast<unsigned long long>(total));
    }

private:
    static constexpr double step_ns = 250;
    static constexpr std::size_t buckets = 8192; // 0.25 µs each: up to 2048 µs

    double quantile_us(std::uint64_t total, double q) const {
        const auto wanted = static_cast<std::uint64_t>(q * static_cast<double>(total - 1));
        std::uint64_t seen = 0;
        for (std::size_t b = 0; b < buckets; ++b) {
            seen += counts_[b].load(std::memory_order_relaxed);
            if (seen > wanted) return static_cast<double>(b) * step_ns / 1000.0;
        }
        return max_us();
    }
    std::size_t max_bucket() const {
        for (std::size_t b = buckets; b-- > 0;) {
            if (counts_[b].load(std::memory_order_relaxed) != 0) return b;
        }
        return 0;
    }
    double max_us() const { return static_cast<double>(max_bucket()) * step_ns / 1000.0; }

    double ticks_per_step_;
    std::uint64_t started_ = 0;
    std::array<std::atomic<std::uint64_t>, buckets> counts_{};
};

} // namespace ae::bench
