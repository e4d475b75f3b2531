// openae — what the render and capture RT views have in common: the endpoint's identity on the
// RT side (epoch, format, packet size), position records, pin state and the end-of-pass pulse.
// Not used on its own; see render_endpoint_rt.h and capture_endpoint_rt.h.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/endpoint_link.h>
#include <openae/rt/errc.h>
#include <openae/rt/types.h>

#include <cstdint>

namespace ae {

class endpoint_rt_base {
public:
    endpoint_rt_base(const endpoint_rt_base&) = delete;
    endpoint_rt_base& operator=(const endpoint_rt_base&) = delete;

    // End of pass in event mode: signals the eventfd registered with set_event_handle (if any).
    // The fd is non-blocking (set_event_handle makes it so), so this never waits.
    // rt-safe: wait-free (one non-blocking write)
    void pulse() noexcept;

    // The engine stops (inactive) or resumes (active) feeding this endpoint. The device side may
    // pause meanwhile; positions stay valid. `not_initialized` before the buffer exists.
    // rt-safe: wait-free
    [[nodiscard]] errc set_pin_inactive() noexcept;
    [[nodiscard]] errc set_pin_active() noexcept;

    // The format and packet limit in effect for this pass (they change only at processing_complete).
    // rt-safe: wait-free
    [[nodiscard]] frame_format format() const noexcept { return segment_ ? segment_->format : frame_format{}; }
    [[nodiscard]] std::uint32_t frames_per_packet() const noexcept { return segment_ ? segment_->frames_per_packet : 0; }
    // The current epoch: 1 for the first configuration, +1 at each reconfiguration (0 before any).
    // rt-safe: wait-free
    [[nodiscard]] std::uint32_t epoch() const noexcept { return epoch_; }
    // Get/Release misuse seen so far (release without get, more frames than acquired, ...).
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t misuse_count() const noexcept { return misuse_count_; }

protected:
    explicit endpoint_rt_base(endpoint_link& link) noexcept : link_(link.take_engine_view()), side_(link.take_rt_side()) {}
    ~endpoint_rt_base() = default;

    // Picks up the first segment once the control side has published it. False until then.
    // rt-safe: wait-free
    [[nodiscard]] bool attach() noexcept {
        if (segment_) return true;
        segment_ = link_.initial_segment();
        if (!segment_) return false;
        epoch_ = segment_->epoch;
        return true;
    }
    // rt-safe: wait-free
    [[nodiscard]] bool running() const noexcept {
        return link_.running();
    }

    // Fills `out` from the device's latest clock snapshot and the given stream figures; reports a
    // glitch record (a full queue counts an overflow instead).
    // rt-safe: lock-free (the snapshot is a seqlock read)
    void fill_position(position& out, std::uint64_t stream_position, std::uint64_t padding_frames) noexcept;
    void report(glitch_kind kind, std::uint64_t stream_position, std::uint64_t frames) noexcept;
    // A reset the control side asked for that this (reading) side has not applied yet.
    // rt-safe: wait-free
    [[nodiscard]] bool reset_requested() const noexcept;
    // The reading side discarded `discarded` frames for the newest reset: counted apart from
    // glitches, the next position record discontinuous, the control side told.
    // rt-safe: wait-free
    void acknowledge_reset(std::uint64_t discarded) noexcept;

    endpoint_link::engine_view link_; // this side's operations on the shared state
    side_ends side_;
    ring_segment* segment_ = nullptr;
    std::uint32_t epoch_ = 0;
    bool pair_open_ = false;
    bool discontinuity_pending_ = false;
    std::uint32_t seen_gap_count_ = 0;
    std::uint32_t seen_reset_generation_ = 0;
    std::uint64_t misuse_count_ = 0;
    clock_snapshot snapshot_{};
    bool has_snapshot_ = false;
};

} // namespace ae

#pragma GCC visibility pop
