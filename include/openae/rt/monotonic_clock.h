// openae — the time base of every position record: CLOCK_MONOTONIC in 100 ns units.
#pragma once

#include <openae/rt/types.h>

#include <ctime>

namespace ae {

// CLOCK_MONOTONIC now. clock_gettime on this clock is served by the vDSO: no system call, no wait.
// rt-safe: wait-free
[[nodiscard]] inline hns monotonic_now() noexcept {
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
