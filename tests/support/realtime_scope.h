// A test thread at the priority a host gives its own RT threads: SCHED_FIFO where the system
// allows it, for as long as the scope lives. For the test's engine loops and the threads that
// stand in for the network. openae's device threads ask for SCHED_FIFO; an engine left at normal
// priority on a loaded 2-core machine was descheduled for 103-121 ms in 3 of 30 TSan runs, longer
// than its buffer, and the paced device underran — the machine's doing, not openae's.
// Where SCHED_FIFO is refused, nothing changes (openae's own threads run without it too).
#pragma once

#include <pthread.h>
#include <sched.h>

namespace ae::test {

class realtime_scope {
public:
    // 60: below openae's device threads (70) and their helpers (65), as a host's engine would be.
    explicit realtime_scope(int priority = 60) noexcept {
        saved_ = ::pthread_getschedparam(::pthread_self(), &policy_, &param_) == 0;
        // A process the test starts from here (a server, a command that changes it) starts at
        // normal priority, as it would from a shell.
        sched_param param{};
        param.sched_priority = priority;
        raised_ = saved_ && ::pthread_setschedparam(::pthread_self(), SCHED_FIFO | SCHED_RESET_ON_FORK, &param) == 0;
    }
    ~realtime_scope() {
        if (raised_) (void)::pthread_setschedparam(::pthread_self(), policy_, &param_);
    }
    realtime_scope(const realtime_scope&) = delete;
    realtime_scope& operator=(const realtime_scope&) = delete;

    [[nodiscard]] bool raised() const noexcept { return raised_; }

private:
    int policy_ = SCHED_OTHER;
    sched_param param_{};
    bool saved_ = false;
    bool raised_ = false;
};

} // namespace ae::test
