// openae — glitch records and the queue that carries them off an RT thread.
//
// A glitch is anything the listener could hear or a host must know about timing: an underrun, an
// overrun, a late pass, a discontinuity, frames that could not reach a lost device, frames
// dropped. RT code writes a fixed-size record; when the queue is full it counts the overflow and
// moves on, never waiting. The control thread drains, aggregates and logs.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/spsc_queue.h>
#include <openae/rt/types.h>

#include <atomic>
#include <cstdint>
#include <utility>

namespace ae {

enum class glitch_kind : std::uint8_t {
    underrun = 1,  // the device found fewer frames than it needed and played silence
    overrun,       // the writer found no room; frames were refused or dropped
    late_pass,     // an engine pass came after the device had already run dry
    discontinuity, // the stream has a gap (capture: frames lost before the engine saw them)
    device_lost,   // frames that could not reach a device that went away
    dropped,       // frames discarded for another reason (reset, a reconfiguration that could not keep them)
};

// Stable name of `kind` as logs and the wire protocol spell it.
[[nodiscard]] constexpr const char* to_string(glitch_kind kind) noexcept {
    switch (kind) {
    case glitch_kind::underrun: return "underrun";
    case glitch_kind::overrun: return "overrun";
    case glitch_kind::late_pass: return "late_pass";
    case glitch_kind::discontinuity: return "discontinuity";
    case glitch_kind::device_lost: return "device_lost";
    case glitch_kind::dropped: return "dropped";
    }
    return "unknown";
}
inline constexpr int glitch_kind_count = 6;

struct glitch_record {
    glitch_kind kind = glitch_kind::underrun;
    std::uint32_t endpoint_id = 0;
    std::uint32_t epoch = 0;
    std::uint64_t stream_position = 0; // where in the stream it happened
    std::uint64_t frames = 0;          // frames affected (0 for a late pass)
    hns time{0};                       // CLOCK_MONOTONIC when it was seen
};
static_assert(std::is_trivially_copyable_v<glitch_record>);

// Where glitch records go when not into a glitch_queue's own ring: the control plane's many-to-one
// inbox (moodycamel's ConcurrentQueue, outside ae_rt, which depends on the standard library only).
class glitch_sink {
public:
    // Queues `record` without allocating, locking or waiting; false when full.
    // rt-safe: lock-free
    [[nodiscard]] virtual bool try_post(const glitch_record& record) noexcept = 0;

protected:
    ~glitch_sink() = default;
};

class glitch_reporter;
class glitch_collector;

// One producer thread's glitch records to the control thread: into its own SPSC ring, drained by
// the owner — or, once routed, into a glitch_sink shared by every producer. Its two ends are
// handed out once by split(): the producer's reporter and the control thread's collector.
class glitch_queue {
public:
    explicit glitch_queue(std::size_t capacity) : records_(capacity) {}
    glitch_queue(const glitch_queue&) = delete;
    glitch_queue& operator=(const glitch_queue&) = delete;

    // The two ends, once (later calls give empty ends). They point into this queue: it must
    // outlive them.
    [[nodiscard]] std::pair<glitch_reporter, glitch_collector> split() noexcept;

private:
    friend class glitch_reporter;
    friend class glitch_collector;

    bool split_done_ = false;
    spsc_queue<glitch_record> records_;
    glitch_sink* sink_ = nullptr;
    // order: relaxed — a count: nothing is read because of it.
    std::atomic<std::uint64_t> overflow_{0};
};

// The producing end: one thread reports through it.
class glitch_reporter {
public:
    glitch_reporter() noexcept = default;
    glitch_reporter(glitch_reporter&& other) noexcept : queue_(std::exchange(other.queue_, nullptr)) {}
    glitch_reporter& operator=(glitch_reporter&& other) noexcept {
        queue_ = std::exchange(other.queue_, nullptr);
        return *this;
    }

    // Queues `record`; when full, counts it in the collector's overflow_count() instead.
    // rt-safe: lock-free
    void report(const glitch_record& record) noexcept {
        const bool queued = queue_->sink_ ? queue_->sink_->try_post(record) : queue_->records_.try_push(record);
        if (!queued) {
            // relaxed: a statistic; nothing is ordered by it.
            queue_->overflow_.fetch_add(1, std::memory_order_relaxed);
        }
    }
    [[nodiscard]] explicit operator bool() const noexcept { return queue_ != nullptr; }

private:
    friend class glitch_queue;
    explicit glitch_reporter(glitch_queue* queue) noexcept : queue_(queue) {}
    glitch_queue* queue_ = nullptr;
};

// The control thread's end: takes the records, routes them, reads the overflow count.
class glitch_collector {
public:
    glitch_collector() noexcept = default;
    glitch_collector(glitch_collector&& other) noexcept : queue_(std::exchange(other.queue_, nullptr)) {}
    glitch_collector& operator=(glitch_collector&& other) noexcept {
        queue_ = std::exchange(other.queue_, nullptr);
        return *this;
    }

    // Sends every later record to `sink` (null: back to the ring). Before the producer runs, or
    // while it is known not to (the sink must outlive its use).
    void route_to(glitch_sink* sink) noexcept { queue_->sink_ = sink; }
    // Takes the oldest record from the ring.
    [[nodiscard]] bool try_pop(glitch_record& out) noexcept { return queue_->records_.try_pop(out); }
    // Records that could not be queued because the queue (or the sink) was full.
    [[nodiscard]] std::uint64_t overflow_count() const noexcept {
        return queue_->overflow_.load(std::memory_order_relaxed);
    }
    [[nodiscard]] explicit operator bool() const noexcept { return queue_ != nullptr; }

private:
    friend class glitch_queue;
    explicit glitch_collector(glitch_queue* queue) noexcept : queue_(queue) {}
    glitch_queue* queue_ = nullptr;
};

inline std::pair<glitch_reporter, glitch_collector> glitch_queue::split() noexcept {
    if (split_done_) return {};
    split_done_ = true;
    return {glitch_reporter(this), glitch_collector(this)};
}
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

} // namespace ae

#pragma GCC visibility pop
