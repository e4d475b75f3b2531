#include <openae/rt/endpoint_rt_base.h>
#include <openae/rt/event_signal.h>
#include <openae/rt/monotonic_clock.h>

namespace ae {

void endpoint_rt_base::pulse() noexcept { // rt-safe: bounded
    signal_eventfd(link_.event_fd());
}

errc endpoint_rt_base::set_pin_inactive() noexcept { // rt-safe: bounded
    if (!attach()) return errc::not_initialized;
    link_.set_pin_active(false);
    return errc{};
}

errc endpoint_rt_base::set_pin_active() noexcept { // rt-safe: bounded
    if (!attach()) return errc::not_initialized;
    link_.set_pin_active(true);
    return errc{};
}

void endpoint_rt_base::fill_position(position& out, std::uint64_t stream_position,
                                     std::uint64_t padding_frames) noexcept { // rt-safe: bounded
    if (link_.read_clock(snapshot_)) has_snapshot_ = true;
    out.stream_position = stream_position;
    out.padding_frames = padding_frames;
    out.epoch = epoch_;
    if (!has_snapshot_) {
        // No device timing yet: the stream figures hold, the timing does not.
        out.device_position = 0;
        out.time = hns{0};
        out.frames_per_second = static_cast<float>(segment_ ? segment_->format.sample_rate : 0);
        out.flags = position_flags::invalid;
        out.time_error = hns{0};
        return;
    }
    out.device_position = snapshot_.device_position;
    out.time = snapshot_.time;
    out.frames_per_second = static_cast<float>(snapshot_.frames_per_second);
    out.time_error = snapshot_.time_error;
    out.flags = position_flags::continuous;
    if (snapshot_.uncertain != 0) out.flags |= position_flags::time_error;
    if (snapshot_.gap_count != seen_gap_count_ || discontinuity_pending_) {
        out.flags = (out.flags & ~position_flags::continuous) | position_flags::discontinuous;
        seen_gap_count_ = snapshot_.gap_count;
        discontinuity_pending_ = false;
    }
}

void endpoint_rt_base::report(glitch_kind kind, std::uint64_t stream_position, std::uint64_t frames) noexcept { // rt-safe: bounded
    side_.glitches.report(glitch_record{kind, link_.id(), epoch_, stream_position, frames, monotonic_now()});
}

bool endpoint_rt_base::reset_requested() const noexcept { // rt-safe: wait-free
    return link_.reset_pending(seen_reset_generation_);
}

void endpoint_rt_base::acknowledge_reset(std::uint64_t discarded) noexcept { // rt-safe: bounded
    const std::uint32_t generation = link_.reset_generation();
    seen_reset_generation_ = generation;
    // What the host asked to discard is not a glitch: counted apart.
    if (discarded != 0) discontinuity_pending_ = true;
    link_.acknowledge_reset(generation, discarded);
}

} // namespace ae
