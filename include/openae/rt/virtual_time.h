// openae — virtual_time: the time a deterministic simulation runs on.
//
// While one is installed, monotonic_now() everywhere (position records, glitch records, events,
// the virtual clocks of null and lost devices) reads it instead of CLOCK_MONOTONIC, and a
// virtual_clock never sleeps: it arrives at its next wake. The test moves it forward; together
// with a stepped context (context_options::stepped) one thread then drives the whole engine and a
// run from the same seed replays exactly. One per process at a time; not for production use.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/monotonic_clock.h>

#include <atomic>
#include <cstdint>

namespace ae {

class virtual_time {
public:
    explicit virtual_time(hns start) noexcept : now_(start.count()) {
        clock_detail::virtual_now.store(&now_, std::memory_order_release);
    }
    ~virtual_time() { clock_detail::virtual_now.store(nullptr, std::memory_order_release); }
    virtual_time(const virtual_time&) = delete;
    virtual_time& operator=(const virtual_time&) = delete;

    void advance(hns by) noexcept { now_.fetch_add(by.count(), std::memory_order_relaxed); }
    [[nodiscard]] hns now() const noexcept { return hns{now_.load(std::memory_order_relaxed)}; }

private:
    // order: relaxed — one thread drives a simulation; atomic only so no reader tears it.
    std::atomic<std::int64_t> now_;
};

} // namespace ae

#pragma GCC visibility pop
