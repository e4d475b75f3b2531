// openae — position_clock: the device side's timing published to the engine, never torn.
//
// One writer (the device thread) publishes `clock_snapshot`s; any number of readers (the engine's
// RT thread, the control thread) read them. A seqlock whose payload lives in atomic words: the
// writer never waits; a reader retries only while a publish overlaps its read, at most
// `max_read_attempts` times, and then reports failure rather than spin (the caller keeps its
// previous snapshot). Publishing happens once per device period, so a failed read needs that many
// publishes to overlap one read: it does not happen outside a preempted reader.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/rate_estimator.h>
#include <openae/rt/seqlock.h>
#include <openae/rt/types.h>

#include <cstdint>
#include <type_traits>

namespace ae {

// What the device side knows about its timing at one instant.
struct clock_snapshot {
    std::uint64_t device_position = 0; // frames the device has played (render) or captured
    hns time{0};                       // CLOCK_MONOTONIC when device_position was reached
    hns time_error{0};                 // bound on the error of `time`
    double frames_per_second = 0;      // measured rate
    std::uint32_t gap_count = 0;       // gaps so far (underrun silence, lost device, clock jump)
    std::uint32_t uncertain = 0;       // non-zero: `time` is an estimate not yet to be trusted
};
static_assert(std::is_trivially_copyable_v<clock_snapshot>);
static_assert(sizeof(clock_snapshot) % 8 == 0, "published as whole 64-bit words");

class position_clock {
public:
    static constexpr int max_read_attempts = seqlock<clock_snapshot>::max_read_attempts;

    position_clock() noexcept = default;
    position_clock(const position_clock&) = delete;
    position_clock& operator=(const position_clock&) = delete;

    // Publishes `snapshot`. One writer thread only.
    // rt-safe: wait-free
    void publish(const clock_snapshot& snapshot) noexcept { snapshots_.publish(snapshot); }

    // Copies the latest snapshot into `out`; false when nothing was published yet or a publish
    // overlapped every attempt (then `out` is untouched).
    // rt-safe: wait-free (bounded retries)
    [[nodiscard]] bool try_read(clock_snapshot& out) const noexcept { return snapshots_.try_read(out); }

    // Publishes an observation run through the writer's rate estimator: the device reached
    // `device_position` at `time` (raw), `gap_count` gaps so far; `device_error` is what the
    // device itself cannot know of `time` (a network path's jitter), added to the estimator's
    // bound. One writer thread only.
    // rt-safe: wait-free
    void observe(std::uint64_t device_position, hns time, std::uint32_t gap_count, hns device_error = hns{0}) noexcept {
        estimator_.observe(device_position, time);
        clock_snapshot snapshot;
        snapshot.device_position = device_position;
        snapshot.time = estimator_.observations() > 1 ? estimator_.filtered_time() : time;
        snapshot.time_error = estimator_.time_error() + device_error;
        snapshot.frames_per_second = estimator_.frames_per_second();
        snapshot.gap_count = gap_count;
        snapshot.uncertain = estimator_.settled() ? 0u : 1u;
        publish(snapshot);
    }

    // Restarts the writer's estimator (new device, new rate). Writer thread only.
    // rt-safe: wait-free
    void restart(const rate_estimator::options& opts) noexcept { estimator_.reset(opts); }
    [[nodiscard]] const rate_estimator& estimator() const noexcept { return estimator_; }

private:
    seqlock<clock_snapshot> snapshots_;
    rate_estimator estimator_{}; // writer-owned
};

} // namespace ae

#pragma GCC visibility pop
