#include <openae/pipeline/virtual_clock.h>

#include <openae/rt/monotonic_clock.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <ctime>

namespace ae::pipeline {
namespace {
constexpr int max_interruptions = 8; // EINTR retries before giving up on one wait
} // namespace

void virtual_clock::start(hns now) noexcept { // rt-safe: bounded
    origin_ = now;
    periods_ = 0;
    extra_lateness_ = hns{0};
    time_offset_ = hns{0};
    random_state_ = options_.seed == 0 ? 1u : options_.seed;
}

void virtual_clock::set_drift_ppm(double drift_ppm) noexcept { // rt-safe: wait-free
    // Re-anchored on the last wake: position periods × period_frames at that time either way.
    const auto since_origin = [&] {
        return hns{std::llround(static_cast<double>(periods_) * options_.period_frames / true_rate() * 1e7)};
    };
    const hns last_wake = origin_ + since_origin();
    options_.drift_ppm = drift_ppm;
    origin_ = last_wake - since_origin();
}

std::uint32_t virtual_clock::next_random() noexcept { // rt-safe: wait-free (xorshift32)
    random_state_ ^= random_state_ << 13;
    random_state_ ^= random_state_ >> 17;
    random_state_ ^= random_state_ << 5;
    return random_state_;
}

device_timing virtual_clock::wait_next() noexcept { // rt-safe: bounded
    ++periods_;
    const double seconds = static_cast<double>(periods_) * options_.period_frames / true_rate();
    hns wake = origin_ + hns{static_cast<std::int64_t>(std::llround(seconds * 1e7))} + extra_lateness_;
    if (options_.jitter_us > 0) {
        const double late_us = options_.jitter_us * (static_cast<double>(next_random()) / 4294967296.0);
        wake += hns{static_cast<std::int64_t>(late_us * 10)};
    }
    hns now{0};
    if (virtual_time_active()) {
        now = std::max(monotonic_now(), wake); // a simulation's clock arrives, it does not sleep
    } else {
        const timespec at = to_timespec(wake);
        for (int i = 0; i < max_interruptions && ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR; ++i) {}
        now = monotonic_now();
    }
    const double elapsed = static_cast<double>((now - origin_).count()) / 1e7;
    // The wake time is rounded to 100 ns (0.005 frame at 48 kHz): a hundredth of a frame of slack
    // keeps a wake at a period's end from reading as the frame before it.
    const auto position = static_cast<std::uint64_t>(std::floor(elapsed * true_rate() + 0.01));
    return {position, now + time_offset_, false};
}

} // namespace ae::pipeline
