// openae — endpoint_link: what the three sides of one endpoint share.
//
// An endpoint has three sides: the engine's RT thread (the RT view), the device thread (the device
// port) and the control thread (the core). They share only this block: atomics, the position
// clock, and SPSC queues, each with one named producer and one named consumer. Ring memory travels
// between them in `ring_segment`s, one per format epoch, as move-only handles: the side that
// reads a segment last owns it and sends it to the control thread to be freed.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/frame_ring.h>
#include <openae/rt/glitch.h>
#include <openae/rt/position_clock.h>
#include <openae/rt/spsc_queue.h>
#include <openae/rt/types.h>

#include <atomic>
#include <cstdint>
#include <memory>

namespace ae {

// The ring of one format epoch, with the format its frames are in.
struct ring_segment {
    frame_ring ring;
    frame_ring_writer writer;
    frame_ring_reader reader;
    frame_format format{};
    std::uint32_t frames_per_packet = 0;
    std::uint32_t epoch = 0;
    // Capture: where a short read is padded with silence (frames_per_packet frames).
    std::unique_ptr<std::byte[]> scratch;

    // Builds a segment holding `buffer_frames` frames of `format`. Allocates; control thread only.
    [[nodiscard]] static std::expected<std::unique_ptr<ring_segment>, std::error_code>
    create(const frame_format& format, std::uint32_t frames_per_packet, std::uint64_t buffer_frames,
           std::uint32_t epoch);
};

// A new segment handed from the writing side to the reading side: the reader switches to it once
// it has read everything before `start_position`.
struct segment_handoff {
    std::unique_ptr<ring_segment> segment;
    std::uint64_t start_position = 0;
};

// A command for the side that applies reconfigurations (render: the RT view at processing_complete;
// capture: the device port at its period boundary).
struct reconfigure_command {
    std::unique_ptr<ring_segment> segment; // the new epoch's ring and format
    bool rebase_device_position = false;   // the device position had to re-base: flag discontinuous
};

// What retires to the control thread.
struct retired_object {
    std::unique_ptr<ring_segment> segment;
};

// A consumer that runs on a capture endpoint's device thread itself, right after each period the
// device wrote, instead of on an engine's thread (a bridge: no thread hop between two devices).
// Everything it does must keep the device thread's rules.
class inline_consumer {
public:
    // rt-safe: bounded (the implementation's contract)
    virtual void after_device_period() noexcept = 0;

protected:
    ~inline_consumer() = default;
};

// The queue ends one side of an endpoint holds; endpoint_link hands each bundle out once.
//
// Every side that runs (the engine's RT view, the device port) reports glitches and retires the
// segments it is done with.
struct side_ends {
    glitch_reporter glitches;              // → control
    spsc_producer<retired_object> retired; // → control
};
// The side that writes the ring (render: the RT view; capture: the device port) applies the
// reconfigurations and leads the reader from segment to segment.
struct writer_ends {
    spsc_consumer<reconfigure_command> reconfigures; // control → writer
    spsc_producer<segment_handoff> handoffs;         // writer → reader
};
// The side that reads the ring follows the writer's segments.
struct reader_ends {
    spsc_consumer<segment_handoff> handoffs; // writer → reader
};
// The control thread: posts reconfigurations, frees what the sides retire, collects glitches.
struct control_ends {
    spsc_producer<reconfigure_command> reconfigures;
    spsc_consumer<retired_object> rt_retired;
    spsc_consumer<retired_object> device_retired;
    glitch_collector rt_glitches;
    glitch_collector device_glitches;
};

// The shared state of one endpoint: atomics and the position clock, open to the three sides
// (each atomic says who writes it), and six queues that are not — each side takes its ends
// (take_*) once, when the control thread builds the views.
class endpoint_link {
public:
    endpoint_link(std::uint32_t endpoint_id, std::size_t queue_capacity);
    endpoint_link(const endpoint_link&) = delete;
    endpoint_link& operator=(const endpoint_link&) = delete;

    // The ends, each bundle once (a second call gives empty ends). Control thread, before the
    // sides run.
    [[nodiscard]] side_ends take_rt_side() noexcept { return std::move(rt_side_); }
    [[nodiscard]] side_ends take_device_side() noexcept { return std::move(device_side_); }
    [[nodiscard]] writer_ends take_writer() noexcept { return std::move(writer_); }
    [[nodiscard]] reader_ends take_reader() noexcept { return std::move(reader_); }
    [[nodiscard]] control_ends take_control() noexcept { return std::move(control_); }

    const std::uint32_t id;

    // Each atomic's `order:` says why its stores and loads are ordered as they are.
    // control → everyone.
    // order: release/acquire — what start() set up (positions, a reset) is seen with `true`.
    std::atomic<bool> running{false};
    // order: release/acquire — the segment is built before its pointer is seen. Written once.
    std::atomic<ring_segment*> initial_segment{nullptr};
    // The engine's event: pulse() and the device's period end.
    // order: release/acquire — the descriptor is open before anyone who reads it signals it.
    std::atomic<int> event_fd{-1};
    // Set by an offline device: processing_complete() wakes it.
    // order: release/acquire — as event_fd.
    std::atomic<int> device_wake_fd{-1};
    // device → RT: the offline device waits for this endpoint (processing_complete() signals
    // device_wake_fd only then: a signal per pass woke nobody and cost a syscall).
    // order: seq_cst exchanges — the device's "I wait" and the engine's "I wrote" must not both be
    // missed (a store-load pair: Dekker's case, which acquire/release does not order).
    std::atomic<bool> device_waiting{false};
    // Bumped by control; the reading side discards.
    // order: release/acquire — the reset's request is seen with its generation.
    std::atomic<std::uint32_t> reset_generation{0};
    // the reading side → control: the last reset generation it applied, and the frames resets
    // discarded (asked for by the host: not glitches).
    // order: release/acquire — the discard (and discarded_frames) is done before it is acknowledged.
    std::atomic<std::uint32_t> reset_applied{0};
    // order: relaxed — a statistic, read after reset_applied's acquire.
    std::atomic<std::uint64_t> discarded_frames{0};
    // control → device/RT sides: an eventfd that wakes the control thread (a reset applied);
    // -1: none.
    // order: release/acquire — as event_fd.
    std::atomic<int> control_wake_fd{-1};
    // RT → device: the engine's pin state (the device may pause its side while inactive).
    // order: release/acquire — what the engine wrote before it went inactive is seen with it.
    std::atomic<bool> pin_active{true};
    // the reading side → the writing side: frames consumed so far, across segments.
    // order: release/acquire — the reader is done with the frames before the writer reuses them.
    std::atomic<std::uint64_t> consumer_position{0};
    // render, device → RT: frames a successor chain has read from the next segment ahead of the
    // seam (consumer_position is still in the old one); 0 once the reader is past the seam.
    // order: release/acquire — ordered with the segment switch it accompanies (the padding
    // across a seam reads it before consumer_position).
    std::atomic<std::uint64_t> read_ahead{0};
    // control → device (capture): runs after every device period that wrote this endpoint.
    // Set before the endpoint starts; it must outlive the endpoint's last device period.
    // order: release/acquire — the consumer is built before the device thread calls it.
    std::atomic<inline_consumer*> consumer{nullptr};
    // device → RT (render): when the device last read the ring (monotonic_now at its period's
    // start, in hns) — a bridge's pump takes the reads as continuous from it.
    // order: relaxed — a time stamp; a read that pairs it with the padding of the period before
    // is off by one period once, in a figure averaged over seconds.
    std::atomic<std::int64_t> device_read_time{0};
    // RT → control: the padding the engine's last current_padding() saw (sampled for statistics).
    // order: relaxed — a sample: nothing is read because of it.
    std::atomic<std::uint64_t> last_padding{0};

    position_clock clock; // device writes, RT and control read

private:
    glitch_queue rt_glitches_;                     // RT → control
    glitch_queue device_glitches_;                 // device → control
    spsc_queue<reconfigure_command> reconfigures_; // control → writer
    spsc_queue<segment_handoff> handoffs_;         // writer → reader
    spsc_queue<retired_object> rt_retired_;        // RT → control
    spsc_queue<retired_object> device_retired_;    // device → control
    // The queues' ends, split at construction, until their side takes them.
    side_ends rt_side_;
    side_ends device_side_;
    writer_ends writer_;
    reader_ends reader_;
    control_ends control_;
};

} // namespace ae

#pragma GCC visibility pop
