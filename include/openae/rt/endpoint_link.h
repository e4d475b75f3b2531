// openae — endpoint_link: what the three sides of one endpoint share.
//
// An endpoint has three sides: the engine's RT thread (the RT view), the device thread (the device
// port) and the control thread (the core). They share only this block: atomics, the position
// clock, and SPSC queues, each with one named producer and one named consumer. Ring memory travels
// between them in `ring_segment`s, one per format epoch, as move-only handles: the side that
// reads a segment last owns it and sends it to the control thread to be freed.
#pragma once

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

struct endpoint_link {
    explicit endpoint_link(std::uint32_t endpoint_id, std::size_t queue_capacity)
        : id(endpoint_id), rt_glitches(queue_capacity), device_glitches(queue_capacity),
          reconfigures(queue_capacity), handoffs(queue_capacity), rt_retired(queue_capacity),
          device_retired(queue_capacity) {}

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
    // RT → control: the padding the engine's last current_padding() saw (sampled for statistics).
    // order: relaxed — a sample: nothing is read because of it.
    std::atomic<std::uint64_t> last_padding{0};

    position_clock clock;         // device writes, RT and control read
    glitch_queue rt_glitches;     // RT → control
    glitch_queue device_glitches; // device → control
    spsc_queue<reconfigure_command> reconfigures; // control → applier
    spsc_queue<segment_handoff> handoffs;         // writer side → reader side
    spsc_queue<retired_object> rt_retired;        // RT → control
    spsc_queue<retired_object> device_retired;    // device → control
};

} // namespace ae
