// Wall and CPU time of the bench's own process, in seconds (the RDP benches' CPU per session).
#pragma once

#include <openae/rt/monotonic_clock.h>

#include <sys/resource.h>

namespace ae::bench {

inline double now_s() { return static_cast<double>(monotonic_now().count()) * 1e-7; }

// User and system time of every thread of this process so far.
inline double process_cpu_s() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

} // namespace ae::bench
