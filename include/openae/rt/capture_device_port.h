// openae — capture_device_port: the device thread's end of a capture endpoint.
//
// The device thread writes what it captured, one device period at a time, and publishes timing.
// Reconfigurations (a new format epoch) are applied here, at the start of a device period: frames
// written after that are in the new format, in a new ring segment the engine reads once it has
// read every frame of the old one. Called from one device thread only.
//   Never do from here: block, allocate, log, throw.  OK: every member.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/device_port_base.h>
#include <openae/rt/segment_chain.h>

#include <cstdint>

namespace ae {

class capture_device_port : public device_port_base {
public:
    explicit capture_device_port(endpoint_link& link) noexcept : device_port_base(link), writer_(link.take_writer()) {}

    // Call once at the start of every device period: applies pending reconfigurations. Returns true
    // when the format changed (the device must produce the new `segment()->format` from now on).
    // `hold_rate_change`: a reconfiguration to another sample rate is not applied but held
    // (pending_rate()) until apply_pending(), so what a resampler still holds of the old rate can
    // be written into the old segment first.
    // rt-safe: wait-free (bounded by the command queue's capacity)
    [[nodiscard]] bool begin_period(bool hold_rate_change = false) noexcept;
    // The rate of a held reconfiguration (0: none). rt-safe: wait-free
    [[nodiscard]] std::uint32_t pending_rate() const noexcept {
        return pending_.segment ? pending_.segment->format.sample_rate : 0;
    }
    // Applies the held reconfiguration. rt-safe: bounded
    [[nodiscard]] bool apply_pending() noexcept;
    // True once per reset the control side asked for (the engine's side discards the ring; the
    // device side drops what its stages still hold of the old capture). rt-safe: wait-free
    [[nodiscard]] bool take_reset() noexcept {
        // A relaxed read: frames captured before the reset are the device thread's own.
        const std::uint32_t generation = link_.requested_reset();
        if (generation == seen_reset_generation_) return false;
        seen_reset_generation_ = generation;
        return true;
    }

    // Writes `frames` captured frames (in `segment()->format`). When the ring has no room for all
    // of them, writes what fits, drops the rest, records an overrun and marks a gap (the engine sees
    // `discontinuous`). Returns the frames written.
    // rt-safe: wait-free
    [[nodiscard]] std::uint32_t write(const std::byte* data, std::uint32_t frames) noexcept;

    // Zero-copy variant: a contiguous span for `frames` frames or nullptr when they do not fit.
    // rt-safe: wait-free
    [[nodiscard]] std::byte* try_acquire(std::uint32_t frames) noexcept;
    // Publishes `frames` frames written at the span from try_acquire.
    // rt-safe: wait-free
    void commit(std::uint32_t frames) noexcept;

    // Room left in the current segment, in frames.
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t free_frames() noexcept { return attach() ? segment_->writer.free_frames() : 0; }
    // The current segment's size, in frames. rt-safe: wait-free
    [[nodiscard]] std::uint64_t capacity_frames() noexcept { return attach() ? segment_->writer.capacity_frames() : 0; }

    // Runs the endpoint's inline consumer (a bridge), if it has one, after the period's frames
    // are written — only while the endpoint runs: what the control thread set up before start()
    // (a bridge's pre-fill, through the same RT views) is then seen (running's acquire).
    // rt-safe: bounded (the consumer's contract)
    void run_consumer() noexcept {
        if (!running()) return;
        // acquire: the consumer was built before it was published.
        if (inline_consumer* consumer = link_.consumer()) consumer->after_device_period();
    }

    // Frames written into the stream so far.
    [[nodiscard]] std::uint64_t stream_position() const noexcept {
        return segment_ ? segment_->writer.write_position() : 0;
    }

private:
    bool apply(reconfigure_command& command) noexcept;
    writer_ends writer_; // capture: the device writes the ring
    reconfigure_command pending_; // a rate change held by begin_period(true)
    std::uint32_t seen_reset_generation_ = 0;
};

} // namespace ae

#pragma GCC visibility pop
