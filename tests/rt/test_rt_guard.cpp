#include "rt_guard.h"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <time.h>

namespace {
// Defeats the optimizer's right to elide new/delete pairs.
void* volatile sink = nullptr;
} // namespace

TEST_CASE("ae::test::rt_guard") {
    SUBCASE("catches an allocation on the armed thread") {
        ae::test::rt_guard guard;
        {
            auto armed = guard.arm();
            auto value = std::make_unique<int>(42);
            sink = value.get();
        }
        CHECK(guard.allocations() >= 1);
        CHECK(guard.violations() >= 1);
        const std::string first = guard.first_violation();
        CHECK((first == "malloc" || first == "free"));
    }
    SUBCASE("counts nothing while disarmed or on other threads") {
        ae::test::rt_guard guard;
        auto before = std::make_unique<int>(1);
        sink = before.get();
        {
            auto armed = guard.arm();
            // Creating a thread allocates on this thread: keep that out of the count.
            const ae::test::rt_guard::untracked quiet;
            std::thread other([&guard] {
                auto elsewhere = std::make_unique<int>(2); // not armed here
                sink = elsewhere.get();
                (void)guard;
            });
            other.join();
        }
        CHECK(guard.violations() == 0);
    }
    SUBCASE("catches a mutex and a sleep; a wait scope permits the wait point only") {
        if (!ae::test::counts_locks_and_syscalls()) {
            MESSAGE("sanitizer build: the harness counts allocations only");
            return;
        }
        ae::test::rt_guard guard;
        std::mutex mutex;
        {
            auto armed = guard.arm();
            { const std::lock_guard lock(mutex); }
        }
        CHECK(guard.locks() >= 1);
        CHECK(std::string(guard.first_violation()) == "pthread_mutex_lock");
        ae::test::rt_guard sleeper;
        const timespec tiny{0, 1000};
        {
            auto armed = sleeper.arm();
            ::clock_nanosleep(CLOCK_MONOTONIC, 0, &tiny, nullptr);
        }
        CHECK(sleeper.blocking_calls() == 1);
        ae::test::rt_guard device;
        {
            auto armed = device.arm();
            {
                const ae::test::rt_guard::wait_scope wait_point;
                ::clock_nanosleep(CLOCK_MONOTONIC, 0, &tiny, nullptr);
                auto leak = std::make_unique<int>(3); // allocations stay forbidden in a wait scope
                sink = leak.get();
            }
        }
        CHECK(device.blocking_calls() == 0);
        CHECK(device.allocations() >= 1);
    }
}
