// openae — loop_load: how busy a device loop is — the time its step() takes, period by period.
//
// The loop's thread adds each step's duration and counts the steps (two relaxed atomics: a
// reader wants a figure for a display, not a synchronised pair); anyone reads the totals, and a
// load is the busy time between two readings over the periods' time between them. Measured with
// the monotonic clock (vDSO: no system call), so a step costs two clock reads more.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/monotonic_clock.h>

#include <atomic>
#include <cstdint>

namespace ae::pipeline {

class loop_load {
public:
    struct reading {
        std::uint64_t busy_ns = 0; // time spent in step() since the loop began
        std::uint64_t steps = 0;   // step() calls since the loop began
    };

    // Times one step: from construction to destruction, on the loop's thread.
    class scope {
    public:
        // rt-safe: wait-free
        explicit scope(loop_load& load) noexcept : load_(load), begin_(monotonic_now()) {}
        // rt-safe: wait-free
        ~scope() noexcept {
            const auto busy = (monotonic_now() - begin_).count() * 100; // hns -> ns
            // order: relaxed — counters for a display; no other memory is published through them.
            load_.busy_ns_.fetch_add(static_cast<std::uint64_t>(busy > 0 ? busy : 0), std::memory_order_relaxed);
            load_.steps_.fetch_add(1, std::memory_order_relaxed);
        }
        scope(const scope&) = delete;
        scope& operator=(const scope&) = delete;

    private:
        loop_load& load_;
        hns begin_;
    };

    // Any thread. rt-safe: wait-free
    [[nodiscard]] reading read() const noexcept {
        return {busy_ns_.load(std::memory_order_relaxed), steps_.load(std::memory_order_relaxed)};
    }

private:
    // order: relaxed (see scope's destructor).
    std::atomic<std::uint64_t> busy_ns_{0};
    std::atomic<std::uint64_t> steps_{0};
};

} // namespace ae::pipeline

#pragma GCC visibility pop
