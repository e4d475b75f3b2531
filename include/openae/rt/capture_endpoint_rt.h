// openae — capture_endpoint_rt: the engine's real-time view of a capture endpoint
// (IAudioEndpointRT + IAudioInputEndpointRT).
//
// Called from the engine's RT thread only. Every call is noexcept and wait-free: no allocation,
// lock, blocking system call, log or exception. A call in the wrong state returns an error value.
//   Never do from here: block, allocate, log, throw.  OK to call from here: every member.
// One pass: current_padding → input_data_pointer → read → release_input_data_pointer →
// processing_complete.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/endpoint_rt_base.h>
#include <openae/rt/segment_chain.h>

#include <cstdint>

namespace ae {

class capture_endpoint_rt : public endpoint_rt_base {
public:
    explicit capture_endpoint_rt(endpoint_link& link) noexcept : endpoint_rt_base(link), reader_(link.take_reader()) {}

    // Captured frames ready to read in the current epoch; fills `*pos` when given.
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t current_padding(position* pos = nullptr) noexcept;

    // In: `buffer = nullptr`, `valid_frames = n` (≤ frames_per_packet(); 0 is valid). Out: `buffer`
    // holding exactly n frames — straight from the ring when n are captured, else the captured ones
    // followed by silence (an underrun record counts the missing frames) — `valid_frames`
    // unchanged, `flags` = `valid`, or `silent` when nothing was captured.
    // Errors: `not_initialized`, `not_running`, `busy` (a pointer is already out),
    // `too_many_frames`, `bad_argument` (buffer not null on entry).
    // rt-safe: wait-free
    [[nodiscard]] errc input_data_pointer(connection_property& property, position* timestamp = nullptr) noexcept;

    // Advances the read position by `frames_consumed` (≤ the frames handed out; 0 is valid).
    // Misuse is counted (see misuse_count()).
    // rt-safe: wait-free
    void release_input_data_pointer(std::uint32_t frames_consumed, const std::byte* buffer) noexcept {
        [[maybe_unused]] const errc result = try_release_input_data_pointer(frames_consumed, buffer);
    }
    // The same, answering `bad_argument` for a release without an open pointer, a different
    // buffer, or more frames than handed out (then nothing is consumed).
    // rt-safe: wait-free
    [[nodiscard]] errc try_release_input_data_pointer(std::uint32_t frames_consumed, const std::byte* buffer) noexcept;

    // End of pass: moves to the next epoch once every frame of the
    // current one has been read. Here and only here.
    // rt-safe: wait-free (bounded)
    void processing_complete() noexcept;

private:
    // After a reset (control side, endpoint stopped): discards every frame captured before it.
    // The first call of a pass applies it, so the padding is 0 once reset() has returned. rt-safe: bounded
    void apply_reset() noexcept;

    reader_ends reader_; // capture: the engine reads the ring
    const std::byte* handed_out_ = nullptr;
    std::uint32_t handed_out_frames_ = 0;
    std::uint32_t captured_frames_ = 0; // of those, frames that came from the ring
    segment_follower follower_;
};

} // namespace ae

#pragma GCC visibility pop
