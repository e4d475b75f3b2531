#include "rt_guard.h"

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace ae::test {
namespace {
thread_local rt_guard* t_armed = nullptr;
thread_local int t_wait_allowed = 0;
thread_local int t_inside = 0; // re-entrancy: the harness's own work is not counted
} // namespace

rt_guard::armed_scope::armed_scope(rt_guard& guard) noexcept : previous_(t_armed) { t_armed = &guard; }
rt_guard::armed_scope::~armed_scope() { t_armed = previous_; }
rt_guard::wait_scope::wait_scope() noexcept { ++t_wait_allowed; }
rt_guard::wait_scope::~wait_scope() { --t_wait_allowed; }

rt_guard::untracked::untracked() noexcept { ++t_inside; }
rt_guard::untracked::~untracked() { --t_inside; }

void rt_guard::arm_current_thread() noexcept { t_armed = this; }
void rt_guard::disarm_current_thread() noexcept { t_armed = nullptr; }
void rt_guard::begin_wait() noexcept { ++t_wait_allowed; }
void rt_guard::end_wait() noexcept { --t_wait_allowed; }

bool rt_guard::wait_allowed() noexcept { return t_wait_allowed > 0; }

const char* rt_guard::first_violation() const noexcept {
    const char* first = first_.load(std::memory_order_acquire);
    return first ? first : "";
}

void rt_guard::note(kind what, const char* function) noexcept {
    rt_guard* guard = t_armed;
    if (!guard || t_inside > 0) return;
    if (what == kind::blocking && t_wait_allowed > 0) return;
    ++t_inside;
    switch (what) {
    case kind::allocation: guard->allocations_.fetch_add(1, std::memory_order_relaxed); break;
    case kind::lock: guard->locks_.fetch_add(1, std::memory_order_relaxed); break;
    case kind::blocking: guard->blocking_.fetch_add(1, std::memory_order_relaxed); break;
    }
    const char* expected = nullptr;
    guard->first_.compare_exchange_strong(expected, function, std::memory_order_acq_rel);
    --t_inside;
}

} // namespace ae::test

using ae::test::rt_guard;

#if defined(OPENAE_SANITIZED)

// The sanitizer runtime owns malloc & co.; its hooks see every allocation, including operator new.
// Declared here: g++ ships the runtime (libasan, libtsan) but not compiler-rt's header.
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*on_malloc)(const volatile void*, std::size_t),
                                                          void (*on_free)(const volatile void*));

namespace {
void on_malloc(const volatile void*, std::size_t) { rt_guard::note(rt_guard::kind::allocation, "malloc"); }
void on_free(const volatile void* ptr) {
    if (ptr) rt_guard::note(rt_guard::kind::allocation, "free");
}
[[maybe_unused]] const int hooks_installed = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
} // namespace

bool ae::test::counts_locks_and_syscalls() noexcept { return false; }

#else // interposition

#include <cstdarg>
#include <cstdio>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
}

bool ae::test::counts_locks_and_syscalls() noexcept { return true; }

namespace {
using rt_kind = rt_guard::kind;

// Finds the next definition of `name` (glibc's). dlsym may allocate: resolve at load time where
// possible, and never count the harness's own lookups.
template <typename Fn>
Fn next(Fn& slot, const char* name) noexcept {
    if (!slot) {
        const rt_guard::untracked quiet;
        slot = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
    }
    return slot;
}

bool fd_blocks(int fd) noexcept {
    const int flags = ::fcntl(fd, F_GETFL);
    return flags >= 0 && (flags & O_NONBLOCK) == 0;
}
} // namespace

// ---- allocation -------------------------------------------------------------------------------
extern "C" {
void* malloc(std::size_t size) {
    rt_guard::note(rt_kind::allocation, "malloc");
    return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) {
    rt_guard::note(rt_kind::allocation, "calloc");
    return __libc_calloc(count, size);
}
void* realloc(void* ptr, std::size_t size) {
    rt_guard::note(rt_kind::allocation, "realloc");
    return __libc_realloc(ptr, size);
}
void free(void* ptr) {
    if (ptr) rt_guard::note(rt_kind::allocation, "free");
    __libc_free(ptr);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) {
    rt_guard::note(rt_kind::allocation, "aligned_alloc");
    return __libc_memalign(alignment, size);
}
void* memalign(std::size_t alignment, std::size_t size) {
    rt_guard::note(rt_kind::allocation, "memalign");
    return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
    rt_guard::note(rt_kind::allocation, "posix_memalign");
    void* ptr = __libc_memalign(alignment, size);
    if (!ptr) return ENOMEM;
    *out = ptr;
    return 0;
}
} // extern "C"

// operator new/delete go through the interposed malloc/free above, which count them.

// ---- locks --------------------------------------------------------------------------------------
#define AE_INTERPOSE_LOCK(ret, name, params, args)                    \
    extern "C" ret name params {                                       \
        static ret(*real) params = nullptr;                            \
        rt_guard::note(rt_kind::lock, #name);                          \
        return next(real, #name) args;                                 \
    }
AE_INTERPOSE_LOCK(int, pthread_mutex_lock, (pthread_mutex_t * m), (m))
AE_INTERPOSE_LOCK(int, pthread_mutex_trylock, (pthread_mutex_t * m), (m))
AE_INTERPOSE_LOCK(int, pthread_mutex_timedlock, (pthread_mutex_t * m, const struct timespec* t), (m, t))
AE_INTERPOSE_LOCK(int, pthread_cond_wait, (pthread_cond_t * c, pthread_mutex_t* m), (c, m))
AE_INTERPOSE_LOCK(int, pthread_cond_timedwait, (pthread_cond_t * c, pthread_mutex_t* m, const struct timespec* t), (c, m, t))
AE_INTERPOSE_LOCK(int, pthread_cond_clockwait, (pthread_cond_t * c, pthread_mutex_t* m, clockid_t k, const struct timespec* t), (c, m, k, t))
AE_INTERPOSE_LOCK(int, pthread_cond_signal, (pthread_cond_t * c), (c))
AE_INTERPOSE_LOCK(int, pthread_cond_broadcast, (pthread_cond_t * c), (c))
AE_INTERPOSE_LOCK(int, pthread_rwlock_rdlock, (pthread_rwlock_t * l), (l))
AE_INTERPOSE_LOCK(int, pthread_rwlock_wrlock, (pthread_rwlock_t * l), (l))
AE_INTERPOSE_LOCK(int, pthread_spin_lock, (pthread_spinlock_t * l), (l))
AE_INTERPOSE_LOCK(int, sem_wait, (sem_t * s), (s))
AE_INTERPOSE_LOCK(int, sem_timedwait, (sem_t * s, const struct timespec* t), (s, t))
AE_INTERPOSE_LOCK(int, sem_post, (sem_t * s), (s))
#undef AE_INTERPOSE_LOCK

// ---- calls that can block ---------------------------------------------------------------------
#define AE_INTERPOSE_BLOCKING(ret, name, params, args)                \
    extern "C" ret name params {                                       \
        static ret(*real) params = nullptr;                            \
        rt_guard::note(rt_kind::blocking, #name);                      \
        return next(real, #name) args;                                 \
    }
AE_INTERPOSE_BLOCKING(int, nanosleep, (const struct timespec* r, struct timespec* m), (r, m))
AE_INTERPOSE_BLOCKING(int, clock_nanosleep, (clockid_t c, int f, const struct timespec* r, struct timespec* m), (c, f, r, m))
AE_INTERPOSE_BLOCKING(int, usleep, (useconds_t u), (u))
AE_INTERPOSE_BLOCKING(unsigned, sleep, (unsigned s), (s))
AE_INTERPOSE_BLOCKING(int, sched_yield, (), ())
AE_INTERPOSE_BLOCKING(int, poll, (struct pollfd * f, nfds_t n, int t), (f, n, t))
AE_INTERPOSE_BLOCKING(int, ppoll, (struct pollfd * f, nfds_t n, const struct timespec* t, const sigset_t* s), (f, n, t, s))
AE_INTERPOSE_BLOCKING(int, select, (int n, fd_set* r, fd_set* w, fd_set* e, struct timeval* t), (n, r, w, e, t))
AE_INTERPOSE_BLOCKING(int, epoll_wait, (int e, struct epoll_event* v, int m, int t), (e, v, m, t))
AE_INTERPOSE_BLOCKING(ssize_t, recv, (int s, void* b, size_t n, int f), (s, b, n, f))
AE_INTERPOSE_BLOCKING(ssize_t, recvfrom, (int s, void* b, size_t n, int f, struct sockaddr* a, socklen_t* l), (s, b, n, f, a, l))
AE_INTERPOSE_BLOCKING(ssize_t, recvmsg, (int s, struct msghdr* m, int f), (s, m, f))
AE_INTERPOSE_BLOCKING(ssize_t, send, (int s, const void* b, size_t n, int f), (s, b, n, f))
AE_INTERPOSE_BLOCKING(ssize_t, sendto, (int s, const void* b, size_t n, int f, const struct sockaddr* a, socklen_t l), (s, b, n, f, a, l))
AE_INTERPOSE_BLOCKING(ssize_t, sendmsg, (int s, const struct msghdr* m, int f), (s, m, f))
AE_INTERPOSE_BLOCKING(int, accept, (int s, struct sockaddr* a, socklen_t* l), (s, a, l))
AE_INTERPOSE_BLOCKING(int, connect, (int s, const struct sockaddr* a, socklen_t l), (s, a, l))
AE_INTERPOSE_BLOCKING(int, fsync, (int f), (f))
AE_INTERPOSE_BLOCKING(size_t, fwrite, (const void* p, size_t s, size_t n, FILE* f), (p, s, n, f))
AE_INTERPOSE_BLOCKING(int, fputs, (const char* s, FILE* f), (s, f))
AE_INTERPOSE_BLOCKING(int, puts, (const char* s), (s))
AE_INTERPOSE_BLOCKING(int, fflush, (FILE * f), (f))
#undef AE_INTERPOSE_BLOCKING

extern "C" {
// read/write count only on descriptors that can block (an eventfd set O_NONBLOCK is fine).
ssize_t read(int fd, void* buffer, size_t bytes) {
    static ssize_t (*real)(int, void*, size_t) = nullptr;
    if (fd_blocks(fd)) rt_guard::note(rt_kind::blocking, "read");
    return next(real, "read")(fd, buffer, bytes);
}
ssize_t write(int fd, const void* buffer, size_t bytes) {
    static ssize_t (*real)(int, const void*, size_t) = nullptr;
    if (fd_blocks(fd)) rt_guard::note(rt_kind::blocking, "write");
    return next(real, "write")(fd, buffer, bytes);
}
int open(const char* path, int flags, ...) {
    static int (*real)(const char*, int, ...) = nullptr;
    rt_guard::note(rt_kind::blocking, "open");
    va_list args;
    va_start(args, flags);
    const mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(args, mode_t) : 0;
    va_end(args);
    return next(real, "open")(path, flags, mode);
}
long syscall(long number, ...) {
    static long (*real)(long, ...) = nullptr;
    rt_guard::note(rt_kind::blocking, "syscall");
    va_list args;
    va_start(args, number);
    long a[6];
    for (long& arg : a) arg = va_arg(args, long);
    va_end(args);
    return next(real, "syscall")(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
} // extern "C"

#endif
