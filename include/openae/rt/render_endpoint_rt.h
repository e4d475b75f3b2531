// openae — render_endpoint_rt: the engine's real-time view of a render endpoint
// (IAudioEndpointRT + IAudioOutputEndpointRT).
//
// Called from the engine's RT thread only, one thread at a time. Every call is noexcept and
// wait-free: no allocation, lock, blocking system call, log or exception. A call in the wrong state
// returns an error value.
//   Never do from here: block, allocate, log, throw.
//   OK to call from here: every member of this class.
// One pass: current_padding → output_data_pointer → write → release_output_data_pointer →
// processing_complete (→ pulse in event mode).
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/endpoint_rt_base.h>

#include <cstdint>
#include <expected>

namespace ae {

class render_endpoint_rt : public endpoint_rt_base {
public:
    explicit render_endpoint_rt(endpoint_link& link) noexcept : endpoint_rt_base(link), writer_(link.take_writer()) {}

    // Frames queued to play (write − read); fills `*pos` with a timing record when given.
    // Free space is the buffer's frames minus this.
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t current_padding(position* pos = nullptr) noexcept;

    // A contiguous span for `frames` frames (≤ frames_per_packet()). Also while stopped: an
    // engine pre-fills the buffer before start() (the device plays nothing of a stopped endpoint,
    // so the first period after start plays those frames). Errors: `not_initialized`, `busy` (a
    // pointer is already out, or the buffer has no room: an overrun record is queued while
    // running), `too_many_frames`. `timestamp` is informational.
    // rt-safe: wait-free
    [[nodiscard]] std::expected<std::byte*, errc>
    output_data_pointer(std::uint32_t frames, const position* timestamp = nullptr) noexcept;

    // Commits `valid_frames` (≤ the frames acquired) of the span; `silent` writes silence there
    // instead; `invalid` or 0 frames commits nothing. Misuse is counted (see misuse_count()).
    // rt-safe: wait-free
    void release_output_data_pointer(const connection_property& property) noexcept {
        [[maybe_unused]] const errc result = try_release_output_data_pointer(property);
    }
    // The same, answering `bad_argument` for more frames than acquired (nothing is committed) and
    // for a release without an open pointer.
    // rt-safe: wait-free
    [[nodiscard]] errc try_release_output_data_pointer(const connection_property& property) noexcept;

    // End of pass: applies pending reconfigurations (a new epoch) here and only here.
    // rt-safe: wait-free (bounded by the command queue's capacity)
    void processing_complete() noexcept;

    // When the device last read the ring (monotonic_now at the start of its period; 0 before).
    // rt-safe: wait-free
    [[nodiscard]] hns device_read_time() const noexcept { return link_.device_read_time(); }

    // Total frames the buffer holds in the current epoch.
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t buffer_frames() const noexcept { return segment_ ? segment_->writer.capacity_frames() : 0; }

private:
    // rt-safe: wait-free
    void apply(reconfigure_command& command) noexcept;

    writer_ends writer_; // render: the engine writes the ring
    std::byte* acquired_ = nullptr;
    std::uint32_t acquired_frames_ = 0;
    std::uint32_t pass_gap_count_ = 0;
    // The last rate seam: where the current segment starts, and the rate before it.
    std::uint64_t seam_position_ = 0;
    std::uint32_t rate_before_seam_ = 0;
};

} // namespace ae

#pragma GCC visibility pop
