// openae — the control plane's clock: monotonic_now() as a std::chrono clock, so ae-ctl's timers
// (drain, open timeouts, retries, hold-downs, reset deadlines) and the log's repeat windows run on
// the same time as every position record — and, in a simulation (ae::virtual_time with a stepped
// context), on the test's time: a timer expires when the test advances past it and poll() runs it.
#pragma once

#include <openae/rt/monotonic_clock.h>

#include <asio/basic_waitable_timer.hpp>

#include <chrono>

namespace ae::detail {

struct control_clock {
    using duration = std::chrono::nanoseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<control_clock>;
    static constexpr bool is_steady = true;

    [[nodiscard]] static time_point now() noexcept { return time_point(std::chrono::duration_cast<duration>(monotonic_now())); }
};

// Every Asio timer on ae-ctl.
using control_timer = asio::basic_waitable_timer<control_clock>;

} // namespace ae::detail
