// openae — glitch records and the queue that carries them off an RT thread.
//
// A glitch is anything the listener could hear or a host must know about timing: an underrun, an
// overrun, a late pass, a discontinuity, frames that could not reach a lost device, frames
// dropped. RT code writes a fixed-size record; when the queue is full it counts the overflow and
// moves on, never waiting. The control thread drains, aggregates and logs.
#pragma once

#include <openae/rt/spsc_queue.h>
#include <openae/rt/types.h>

#include <atomic>
#include <cstdint>

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

// One producer thread's glitch records to the control thread: into its own SPSC ring, drained by
// the owner (try_pop) — or, once routed, into a glitch_sink shared by every producer.
class glitch_queue {
public:
    explicit glitch_queue(std::size_t capacity) : records_(capacity) {}

    // Sends every later record to `sink` (null: back to the ring). Before the producer runs, or
    // while it is known not to (the sink must outlive its use).
    void route_to(glitch_sink* sink) noexcept { sink_ = sink; }

    // Queues `record`; when full, counts it in `overflow_count()` instead. Producer only.
    // rt-safe: lock-free
    void report(const glitch_record& record) noexcept {
        const bool queued = sink_ ? sink_->try_post(record) : records_.try_push(record);
        if (!queued) {
            // relaxed: a statistic; nothing is ordered by it.
            overflow_.fetch_add(1, std::memory_order_relaxed);
        }
    }

    // Takes the oldest record. Consumer (control thread) only.
    [[nodiscard]] bool try_pop(glitch_record& out) noexcept { return records_.try_pop(out); }

    // Records that could not be queued because the queue was full.
    [[nodiscard]] std::uint64_t overflow_count() const noexcept {
        return overflow_.load(std::memory_order_relaxed);
    }

private:
    spsc_queue<glitch_record> records_;
    glitch_sink* sink_ = nullptr;
    // order: relaxed — a count: nothing is read because of it.
    std::atomic<std::uint64_t> overflow_{0};
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

} // namespace ae
