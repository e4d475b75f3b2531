// openae test support — the RT-safety harness.
//
// While a guard is armed on a thread, every heap allocation or free (operator new/delete and the
// malloc family), every mutex / condition-variable / semaphore operation and every call that can
// block (sleeps, poll/select/epoll, blocking read/write, socket calls, open, fsync, stdio writes,
// raw syscall()) made by that thread is counted as a violation. Tests arm it around RT entry points
// and assert zero. A device thread may open an `allow_wait()` scope around its one wait point.
//
// How: the test binary interposes those functions (they forward to glibc). Under ASan/TSan the
// sanitizer owns those symbols, so there the harness counts allocations through the sanitizer's
// malloc hooks only, and `counts_locks_and_syscalls()` says false.
#pragma once

#include <atomic>
#include <cstdint>

namespace ae::test {

class rt_guard {
public:
    rt_guard() = default;
    rt_guard(const rt_guard&) = delete;
    rt_guard& operator=(const rt_guard&) = delete;

    // Arms the guard on the calling thread until the scope ends.
    class [[nodiscard]] armed_scope {
    public:
        explicit armed_scope(rt_guard& guard) noexcept;
        ~armed_scope();
        armed_scope(const armed_scope&) = delete;
        armed_scope& operator=(const armed_scope&) = delete;

    private:
        rt_guard* previous_;
    };
    [[nodiscard]] armed_scope arm() noexcept { return armed_scope(*this); }

    // Permits waiting calls (not allocations) on the calling thread until the scope ends: the
    // device thread's one wait point.
    class [[nodiscard]] wait_scope {
    public:
        wait_scope() noexcept;
        ~wait_scope();
        wait_scope(const wait_scope&) = delete;
        wait_scope& operator=(const wait_scope&) = delete;
    };

    // The same as the scopes, for callbacks that cannot hold an object across calls (a device
    // thread's hooks): arm / disarm the calling thread, open / close a wait point.
    void arm_current_thread() noexcept;
    static void disarm_current_thread() noexcept;
    static void begin_wait() noexcept;
    static void end_wait() noexcept;

    [[nodiscard]] std::uint64_t violations() const noexcept {
        return allocations() + locks() + blocking_calls();
    }
    [[nodiscard]] std::uint64_t allocations() const noexcept { return allocations_.load(std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t locks() const noexcept { return locks_.load(std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t blocking_calls() const noexcept { return blocking_.load(std::memory_order_relaxed); }
    // The function of the first violation ("malloc", "pthread_mutex_lock", ...), or "" if none.
    [[nodiscard]] const char* first_violation() const noexcept;

    // Suspends counting on the calling thread (the harness's own work, e.g. symbol lookup).
    class untracked {
    public:
        untracked() noexcept;
        ~untracked();
        untracked(const untracked&) = delete;
        untracked& operator=(const untracked&) = delete;
    };

    // Called by the interposed functions.
    enum class kind { allocation, lock, blocking };
    static void note(kind what, const char* function) noexcept;
    // Waits permitted on this thread right now.
    static bool wait_allowed() noexcept;

private:
    std::atomic<std::uint64_t> allocations_{0};
    std::atomic<std::uint64_t> locks_{0};
    std::atomic<std::uint64_t> blocking_{0};
    std::atomic<const char*> first_{nullptr};
};

// False in sanitizer builds, where only allocations are counted.
[[nodiscard]] bool counts_locks_and_syscalls() noexcept;

} // namespace ae::test
