// openae — the two ends of an endpoint's chain of ring segments (one segment per format epoch).
//
// The writing side *leads*: when a reconfiguration arrives it rebases the new segment at its write
// position (so the stream position runs on without a jump), hands it to the reading side and
// writes on in it. The reading side *follows*: it reads the old segment up to that seam, then
// switches, and retires the old segment to the control thread. No frame is dropped or repeated at
// the seam, and no run of frames ever mixes two formats.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/endpoint_link.h>

#include <cstdint>
#include <memory>

namespace ae {

// Writer side. `current` is the segment being written.
// Returns the new segment, or nullptr when the handoff queue was full (the command's segment is
// then leaked, not freed on this thread; the core's in-flight limit makes that unreachable).
// rt-safe: wait-free
[[nodiscard]] inline ring_segment* lead_to(ring_segment& current, reconfigure_command& command,
                                          spsc_producer<segment_handoff>& handoffs) noexcept {
    ring_segment* next = command.segment.get();
    if (!next) return nullptr;
    const std::uint64_t seam = current.writer.write_position();
    next->writer.rebase(seam);
    segment_handoff handoff{std::move(command.segment), seam};
    if (!handoffs.try_push(std::move(handoff))) {
        [[maybe_unused]] ring_segment* leaked = handoff.segment.release();
        return nullptr;
    }
    return next;
}

// Reader side: follows the writer from segment to segment.
class segment_follower {
public:
    // Switches to the next segment(s) whose seam the reader has reached, updating `current`, and
    // retires the ones left behind (never the first: the control side owns it). True if it switched.
    // rt-safe: wait-free (bounded by the handoff queue's capacity)
    [[nodiscard]] bool follow(ring_segment*& current, spsc_consumer<segment_handoff>& handoffs,
                              spsc_producer<retired_object>& retired) noexcept {
        bool switched = false;
        for (std::size_t i = 0; i <= handoffs.capacity(); ++i) {
            if (!pending_.segment && !handoffs.try_pop(pending_)) break;
            if (current->reader.read_position() != pending_.start_position) break;
            if (owned_) {
                retired_object old{std::move(owned_)};
                if (!retired.try_push(std::move(old))) {
                    [[maybe_unused]] ring_segment* leaked = old.segment.release();
                }
            }
            owned_ = std::move(pending_.segment);
            current = owned_.get();
            current->reader.sync_after_rebase();
            switched = true;
        }
        return switched;
    }

    // The next segment, if the writer has handed one over and the reader has not reached its
    // seam yet: its frames (what the writer has put in it so far). -1 when there is none.
    // rt-safe: wait-free
    [[nodiscard]] std::int64_t next_segment_frames(spsc_consumer<segment_handoff>& handoffs) noexcept {
        ring_segment* next = next_segment(handoffs);
        return next ? static_cast<std::int64_t>(next->reader.available_frames()) : -1;
    }

    // The next segment, if the writer has handed one over and the reader has not reached its
    // seam yet (a successor chain reads it ahead of the seam); nullptr when there is none.
    // rt-safe: wait-free
    [[nodiscard]] ring_segment* next_segment(spsc_consumer<segment_handoff>& handoffs) noexcept {
        if (!pending_.segment && !handoffs.try_pop(pending_)) return nullptr;
        // Synced to the writer's rebase before its first read (a re-sync after reads ahead
        // re-reads the reader's own committed position: harmless).
        frame_ring_reader& reader = pending_.segment->reader;
        if (reader.read_position() < pending_.start_position) reader.sync_after_rebase();
        return pending_.segment.get();
    }
    // Where the next segment starts in the stream (valid while next_segment() is not null).
    [[nodiscard]] std::uint64_t next_start_position() const noexcept { return pending_.start_position; }

private:
    segment_handoff pending_{};
    std::unique_ptr<ring_segment> owned_; // segments after the first belong to the reader side
};

} // namespace ae

#pragma GCC visibility pop
