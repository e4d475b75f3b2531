#include <openae/pipeline/chain_base.h>

#include <algorithm>

namespace ae::pipeline {

chain_base::chain_base(device_port_base& port, std::uint32_t endpoint_id, std::uint32_t endpoint_rate,
                       const frame_format& device_format, const chain_options& options, std::uint32_t gain_channels)
    : base_port_(&port), endpoint_id_(endpoint_id), endpoint_rate_(endpoint_rate), device_format_(device_format), options_(options),
      gain_(gain_channels, options.gain_ramp_frames, options.gain),
      meter_(gain_channels, std::max<std::uint32_t>(device_format.sample_rate / 10, 1)) {}

std::uint64_t chain_base::endpoint_position(std::uint64_t device_position) const noexcept { // rt-safe: bounded
    const std::uint64_t frames = device_position - anchor_;
    if (endpoint_rate_ == device_format_.sample_rate) return position_base_ + frames;
    return position_base_ +
           static_cast<std::uint64_t>(static_cast<unsigned __int128>(frames) * endpoint_rate_ / device_format_.sample_rate);
}

void chain_base::inherit_timing(const chain_base& from) noexcept { // rt-safe: bounded
    anchored_ = from.anchored_;
    anchor_ = from.last_device_position_;
    last_device_position_ = from.last_device_position_;
    position_base_ = from.anchored_ ? from.endpoint_position(from.last_device_position_) : 0;
    restart_estimator_ = true;
    // No mark_gap(): that is what a late pass looks like to the engine; the new epoch already
    // makes the first record after the seam discontinuous.
}

void chain_base::observe(const device_timing& timing) noexcept { // rt-safe: bounded
    if (!anchored_) {
        anchored_ = true;
        anchor_ = timing.position;
        restart_estimator_ = true; // the first observation starts the endpoint's rate estimate
    }
    if (timing.discontinuity) {
        base_port_->mark_gap();
        restart_estimator_ = true;
    }
    if (restart_estimator_) {
        restart_estimator_ = false;
        base_port_->restart_clock({.nominal_rate = static_cast<double>(endpoint_rate_)});
    }
    last_device_position_ = timing.position;
    base_port_->observe(endpoint_position(timing.position), timing.time, timing.time_error);
}

void chain_base::flush_reports() noexcept { // rt-safe: bounded
    if (lost_frames_ == 0) return;
    base_port_->report(glitch_kind::device_lost, stream_position(), lost_frames_);
    base_port_->mark_gap();
    lost_frames_ = 0;
}

} // namespace ae::pipeline
