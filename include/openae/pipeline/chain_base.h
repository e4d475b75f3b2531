// openae — chain_base: what render and capture chains share (options, timing, gain, meter).
//
// A chain is an actor owned by one device thread: built (allocating) on the control side, moved
// to the device thread as a std::unique_ptr through a queue, and moved back to the control side
// to die. Its member functions other than create / gain() / meter() are for the device thread.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/block_resampler.h>
#include <openae/pipeline/device.h>
#include <openae/pipeline/fractional_delay.h>
#include <openae/pipeline/gain.h>
#include <openae/pipeline/meter.h>
#include <openae/pipeline/remix.h>
#include <openae/pipeline/resampler.h>
#include <openae/rt/endpoint_core.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace ae::pipeline {

struct chain_options {
    float gain = 1.0f;
    std::uint32_t gain_ramp_frames = 480;
    // Frames of silence a device may be fed before the endpoint's first frames without that
    // counting as an underrun (a stream's start is not a glitch).
    bool count_underruns_before_first_frames = false;
    // The endpoint's format to build for (default: its first ring's). A chain attached after a
    // rate change is built for the current one.
    std::optional<frame_format> endpoint_format{};
    // Offline devices: the resampler works in soxr's large blocks (no period to meet).
    resampler::latency resampler_latency = resampler::latency::low;
    // The device has no clock and waits for its engines (an offline device): a capture chain
    // keeps what the ring has no room for in its resampler and delivers it when there is room,
    // instead of dropping it as an overrun — nothing an offline source makes is lost.
    bool offline = false;
};

// What both directions share: the endpoint's clock, seen through the device's timing.
class chain_base {
public:
    chain_base(const chain_base&) = delete;
    chain_base& operator=(const chain_base&) = delete;
    virtual ~chain_base() = default;

    [[nodiscard]] std::uint32_t endpoint_id() const noexcept { return endpoint_id_; }
    // Control side: the gain to ramp to.
    [[nodiscard]] gain_stage& gain() noexcept { return gain_; }
    // Any thread: the endpoint's level after gain.
    [[nodiscard]] const meter& levels() const noexcept { return meter_; }
    // The device's clock changed (lost → virtual clock, a jump): the endpoint's rate estimate
    // starts over at the next observation instead of fitting a line across the kink. rt-safe: wait-free
    void restart_timing() noexcept { restart_estimator_ = true; }
    // Publishes the endpoint's position for the device's `timing` (the device's frames since the
    // chain started, scaled by the rates). rt-safe: bounded
    void observe(const device_timing& timing) noexcept;
    // Reports what is still pending (device_lost frames). rt-safe: bounded
    void flush_reports() noexcept;
    // The device format this chain was built for (its channel count follows the device's).
    [[nodiscard]] const frame_format& device_format() const noexcept { return device_format_; }
    // The endpoint's rate this chain was built for.
    [[nodiscard]] std::uint32_t endpoint_rate() const noexcept { return endpoint_rate_; }
    // At a rate seam the successor took over from this chain: the device thread retires it.
    [[nodiscard]] bool handed_over() const noexcept { return handed_over_; }

protected:
    // Continues `from`'s endpoint positions (re-based at its last device position; the rate
    // estimate starts over). rt-safe: bounded
    void inherit_timing(const chain_base& from) noexcept;
    chain_base(device_port_base& port, std::uint32_t endpoint_id, std::uint32_t endpoint_rate,
               const frame_format& device_format, const chain_options& options, std::uint32_t gain_channels);

    // Device positions in the endpoint's frames. rt-safe: bounded
    [[nodiscard]] std::uint64_t endpoint_position(std::uint64_t device_position) const noexcept;
    // Where the stream is on this chain's side (render: frames taken, capture: frames written).
    [[nodiscard]] virtual std::uint64_t stream_position() const noexcept = 0;

    device_port_base* base_port_;

    std::uint32_t endpoint_id_;
    std::uint32_t endpoint_rate_;
    frame_format device_format_;
    chain_options options_;
    gain_stage gain_;
    meter meter_;
    std::uint64_t anchor_ = 0;
    std::uint64_t position_base_ = 0;        // endpoint frames at anchor_ (non-zero after a rate seam)
    std::uint64_t last_device_position_ = 0;
    bool anchored_ = false;
    bool handed_over_ = false;
    int held_periods_ = 0;                   // periods waited at a rate seam for the successor
    bool restart_estimator_ = false;
    std::uint64_t lost_frames_ = 0; // device_lost frames not reported yet
};

} // namespace ae::pipeline

#pragma GCC visibility pop
