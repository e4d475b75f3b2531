// openae — render_device_port: the device thread's end of a render endpoint.
//
// The device thread drains what the engine wrote, one device period at a time, and publishes
// timing. Frames come out in runs of one format: at an epoch seam `acquire` stops at the last frame
// of the old format, and the next call continues in the new one (the old ring is then retired to
// the control thread). Called from one device thread only.
//   Never do from here: block, allocate, log, throw.  OK: every member.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/device_port_base.h>
#include <openae/rt/segment_chain.h>

#include <cstdint>

namespace ae {

class render_device_port : public device_port_base {
public:
    explicit render_device_port(endpoint_link& link) noexcept : device_port_base(link), reader_(link.take_reader()) {}

    struct frames_view {
        const std::byte* data = nullptr;
        std::uint32_t frames = 0;
        const ring_segment* segment = nullptr; // format and epoch of these frames
    };

    // Call once at the start of every device period, running or not: applies a pending reset
    // (discards every queued frame, counts them in `discarded_frames`, acknowledges it and wakes
    // the control thread). Returns the frames a reset discarded this call (0: none asked).
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t begin_period() noexcept;
    // A reset was applied by the last begin_period() (the chain drops what its stages hold).
    [[nodiscard]] bool reset_applied_now() const noexcept { return reset_now_; }

    // The device reads the ring for a period starting at `now` (one clock read per device period,
    // shared by its endpoints). rt-safe: wait-free
    void publish_read_time(hns now) noexcept { link_.publish_read_time(now); }

    // Up to `max_frames` contiguous frames of one format, at the read position.
    // rt-safe: wait-free
    [[nodiscard]] frames_view acquire(std::uint32_t max_frames) noexcept;

    // Consumes `frames` of the run from `acquire`.
    // rt-safe: wait-free
    void release(std::uint32_t frames) noexcept;

    // Frames the device has consumed from the stream so far.
    [[nodiscard]] std::uint64_t stream_position() const noexcept {
        return segment_ ? segment_->reader.read_position() : 0;
    }
    // Frames queued in the current segment (up to the seam).
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t available_frames() noexcept;
    // The current segment's size, in frames (the engine's buffer). rt-safe: wait-free
    [[nodiscard]] std::uint64_t capacity_frames() noexcept { return attach() ? segment_->reader.capacity_frames() : 0; }
    // Frames already in the next segment, once the engine has moved on to it (a reconfiguration
    // it applied) while this side still reads the current one; -1 before that.
    // rt-safe: wait-free
    [[nodiscard]] std::int64_t next_segment_frames() noexcept {
        return attach() ? follower_.next_segment_frames(reader_.handoffs) : -1;
    }

    // The seam ahead: the stream position where the next segment starts, once the engine has
    // moved on to it while this side still reads the current one, and it has rate `rate`; -1
    // otherwise. rt-safe: wait-free
    [[nodiscard]] std::int64_t next_segment_start(std::uint32_t rate) noexcept;
    // Up to `max_frames` frames at `rate`: from the current segment when it has that rate, else
    // from the next one, read ahead of the seam (a successor chain whose filter must start
    // before the seam reads there while the old chain finishes the current segment). An empty
    // run, naming the segment it looked at, otherwise. Release with release_at().
    // rt-safe: wait-free
    [[nodiscard]] frames_view acquire_at_rate(std::uint32_t rate, std::uint32_t max_frames) noexcept;
    // Frames queued at `rate`: in the current segment when it has that rate, else in the next
    // one; 0 when neither has. rt-safe: wait-free
    [[nodiscard]] std::uint64_t available_at_rate(std::uint32_t rate) noexcept;
    // Consumes `frames` of a run from acquire_at_rate. rt-safe: wait-free
    void release_at(const frames_view& run, std::uint32_t frames) noexcept;

private:
    // Switches to the next segment when the current one is read up to its seam.
    void advance_segment() noexcept;
    // The engine's padding counts what is read ahead in the next segment as consumed too.
    void publish_consumed() noexcept;

    reader_ends reader_; // render: the device reads the ring
    segment_follower follower_;
    std::uint32_t seen_reset_generation_ = 0;
    bool reset_now_ = false;
    std::uint64_t read_ahead_ = 0; // frames read from the next segment before its seam
};

} // namespace ae

#pragma GCC visibility pop
