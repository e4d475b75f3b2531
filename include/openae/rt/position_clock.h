// openae — position_clock: the device side's timing published to the engine, never torn.
//
// One writer (the device thread) publishes `clock_snapshot`s; any number of readers (the engine's
// RT thread, the control thread) read them. A seqlock whose payload lives in atomic words: the
// writer never waits; a reader retries only while a publish overlaps its read, at most
// `max_read_attempts` times, and then reports failure rather than spin (the caller keeps its
// previous snapshot). Publishing happens once per device period, so a failed read needs that many
// publishes to overlap one read: it does not happen outside a preempted reader.
#pragma once

#include <openae/rt/rate_estimator.h>
#include <openae/rt/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <bit>
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
    static constexpr int max_read_attempts = 16;

    position_clock() noexcept = default;
    position_clock(const position_clock&) = delete;
    position_clock& operator=(const position_clock&) = delete;

    // Publishes `snapshot`. One writer thread only.
    // rt-safe: wait-free
    void publish(const clock_snapshot& snapshot) noexcept {
        const auto words = std::bit_cast<std::array<std::uint64_t, word_count>>(snapshot);
        const std::uint32_t seq = sequence_.load(std::memory_order_relaxed);
        sequence_.store(seq + 1, std::memory_order_relaxed); // odd: a write is under way
        // release on each word: a reader that sees any new word also sees the odd sequence.
        for (std::size_t i = 0; i < word_count; ++i) words_[i].store(words[i], std::memory_order_release);
        // release: the words are visible before the even sequence that vouches for them.
        sequence_.store(seq + 2, std::memory_order_release);
    }

    // Copies the latest snapshot into `out`; false when nothing was published yet or a publish
    // overlapped every attempt (then `out` is untouched).
    // rt-safe: wait-free (bounded retries)
    [[nodiscard]] bool try_read(clock_snapshot& out) const noexcept {
        for (int attempt = 0; attempt < max_read_attempts; ++attempt) {
            // acquire: the words read below are at least as new as this sequence.
            const std::uint32_t before = sequence_.load(std::memory_order_acquire);
            if (before == 0) return false;
            if (before & 1u) continue;
            std::array<std::uint64_t, word_count> words{};
            // acquire on each word keeps the second sequence load after them.
            for (std::size_t i = 0; i < word_count; ++i) words[i] = words_[i].load(std::memory_order_acquire);
            if (sequence_.load(std::memory_order_relaxed) == before) {
                out = std::bit_cast<clock_snapshot>(words);
                return true;
            }
        }
        return false;
    }

    // Publishes an observation run through the writer's delay-locked loop: the device reached
    // `device_position` at `time` (raw), `gap_count` gaps so far. One writer thread only.
    // rt-safe: wait-free
    void observe(std::uint64_t device_position, hns time, std::uint32_t gap_count) noexcept {
        estimator_.observe(device_position, time);
        clock_snapshot snapshot;
        snapshot.device_position = device_position;
        snapshot.time = estimator_.observations() > 1 ? estimator_.filtered_time() : time;
        snapshot.time_error = estimator_.time_error();
        snapshot.frames_per_second = estimator_.frames_per_second();
        snapshot.gap_count = gap_count;
        snapshot.uncertain = estimator_.settled() ? 0u : 1u;
        publish(snapshot);
    }

    // Restarts the writer's loop (new device, new rate). Writer thread only.
    // rt-safe: wait-free
    void restart(const rate_estimator::options& opts) noexcept { estimator_.reset(opts); }
    [[nodiscard]] const rate_estimator& estimator() const noexcept { return estimator_; }

private:
    static constexpr std::size_t word_count = sizeof(clock_snapshot) / 8;
    std::atomic<std::uint32_t> sequence_{0};
    std::array<std::atomic<std::uint64_t>, word_count> words_{};
    rate_estimator estimator_{}; // writer-owned
};

} // namespace ae
