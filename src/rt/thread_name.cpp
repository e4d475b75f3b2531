#include <openae/rt/thread_name.h>

#include <cstring>
#include <pthread.h>
#include <sched.h>

namespace ae {

void set_current_thread_name(const char* name) noexcept {
    char truncated[16]{};
    std::strncpy(truncated, name, sizeof truncated - 1);
    ::pthread_setname_np(::pthread_self(), truncated);
}

bool try_set_realtime_priority(int priority) noexcept {
    sched_param param{};
    param.sched_priority = priority;
    return ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &param) == 0;
}

} // namespace ae
