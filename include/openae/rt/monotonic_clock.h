// openae — the time base of every position record: CLOCK_MONOTONIC in 100 ns units — or, in a
// deterministic simulation, a virtual time the test sets (virtual_time.h).
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/types.h>

#include <atomic>
#include <cstdint>
#include <ctime>

namespace ae {

namespace clock_detail {
// The installed virtual time (virtual_time.h), or null: the real clock.
// order: release/acquire — a reader sees the start value the installer set before publishing it.
inline std::atomic<const std::atomic<std::int64_t>*> virtual_now{nullptr};
} // namespace clock_detail

// True while a virtual_time is installed: clocks do not sleep, they arrive.
// rt-safe: wait-free
[[nodiscard]] inline bool virtual_time_active() noexcept {
    return clock_detail::virtual_now.load(std::memory_order_acquire) != nullptr;
}

// CLOCK_MONOTONIC now (or the virtual time). clock_gettime on this clock is served by the vDSO:
// no system call, no wait.
// rt-safe: wait-free
[[nodiscard]] inline hns monotonic_now() noexcept {
    if (const auto* virtual_now = clock_detail::virtual_now.load(std::memory_order_acquire)) {
        return hns{virtual_now->load(std::memory_order_relaxed)};
    }
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return hns{static_cast<std::int64_t>(now.tv_sec) * 10'000'000 + now.tv_nsec / 100};
}

// A CLOCK_MONOTONIC instant as a timespec (for clock_nanosleep with TIMER_ABSTIME).
[[nodiscard]] constexpr timespec to_timespec(hns time) noexcept {
    return timespec{static_cast<time_t>(time.count() / 10'000'000),
                    static_cast<long>(time.count() % 10'000'000) * 100};
}

} // namespace ae

#pragma GCC visibility pop
