// openae — chains: one endpoint's stages between its ring and a device thread's mix.
//
// A render chain pulls the endpoint's frames (in the endpoint's format), converts them to f32,
// remixes them to the device's channels, resamples them to the device's rate (libsoxr, only when
// the rates differ), applies the endpoint's gain and meters them; the device thread then adds
// them into its mix. A capture chain is the mirror: device f32 → remix → resample → gain → meter
// → the endpoint's sample type → the endpoint's ring.
//
// A chain is an actor owned by one device thread: built (allocating) on the control side, moved
// to the device thread as a std::unique_ptr through a queue, and moved back to the control side
// to die. Its member functions other than create / gain() / meter() are for the device thread.
//
// Where the stream's format changes at an epoch seam, sample type and channel count follow at
// once (conversion and remix are rebuilt without allocating); a new sample *rate* needs a new
// resampler, which the control plane builds (issue 5: a new chain swapped at the seam) — until
// then such frames are dropped and counted.
#pragma once

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

class render_chain final : public chain_base {
public:
    // `max_device_frames`: the largest block render() is asked for.
    [[nodiscard]] static std::expected<std::unique_ptr<render_chain>, std::error_code>
    create(render_endpoint_core& endpoint, const frame_format& device_format, std::uint32_t max_device_frames,
           const chain_options& options = {});
    // For an endpoint rate other than its first ring's: the successor for a rate change.
    [[nodiscard]] static std::expected<std::unique_ptr<render_chain>, std::error_code>
    create(render_endpoint_core& endpoint, const frame_format& endpoint_format, const frame_format& device_format,
           std::uint32_t max_device_frames, const chain_options& options = {});

    // The chain built for the endpoint's next rate. At the seam the two chains overlap: the
    // successor starts before it (its filter's pre-ringing belongs to the new frames), this one
    // plays its last frames and its filter's ring-out after it, and the device hears their sum —
    // the one band-limited signal both streams make. The successor's output grid is shifted by
    // a fraction of a frame so the new frames land exactly where the old ones end in time.
    // Appended after any successor already waiting. rt-safe: bounded
    void set_successor(std::unique_ptr<render_chain> next) noexcept;
    // After handed_over(): the chain that now plays. rt-safe: bounded
    [[nodiscard]] std::unique_ptr<render_chain> take_successor() noexcept { return std::move(successor_); }

    // Writes `frames` device frames (device channels, f32) to `out`: the endpoint's frames after
    // every stage, silence where it had none (an underrun, counted, once it has started).
    // rt-safe: wait-free
    void render(float* out, std::uint32_t frames) noexcept;
    // The device is gone: consumes `frames` device frames' worth of the endpoint's frames so the
    // engine keeps going, and counts them as device_lost. rt-safe: bounded
    void drain_lost(std::uint32_t frames) noexcept;
    // Offline devices: the endpoint has the frames for `frames` device frames (or is not
    // running). rt-safe: bounded
    [[nodiscard]] bool ready(std::uint32_t frames) noexcept;
    // Applies a reset the control side asked for (every period, and while an offline device
    // waits): the queued frames and what the stages hold of them are discarded. rt-safe: bounded
    void poll_reset() noexcept;
    // The device refused the period just rendered (it went away): those frames count as device_lost. rt-safe: bounded
    void lost_period(std::uint32_t frames) noexcept { lost_frames_ += to_endpoint_frames(frames); }
    // The device changed channel count. rt-safe: bounded
    void set_device_channels(std::uint16_t channels) noexcept;
    [[nodiscard]] render_device_port& port() noexcept { return *port_; }
    // Started, and its first frames written (render) / its pin is active.
    [[nodiscard]] bool active() noexcept { return port_->running() && port_->pin_active(); }

private:
    [[nodiscard]] std::uint64_t stream_position() const noexcept override { return port_->stream_position(); }
    render_chain(render_endpoint_core& endpoint, std::uint32_t endpoint_rate, const frame_format& device_format,
                 const chain_options& options);
    // Converts and remixes `run` into `out` (device channels); false when it cannot (new rate).
    bool stage_in(const render_device_port::frames_view& run, float* out) noexcept;
    // Takes up to `frames` device frames at this chain's rate; `seam_rate` is set when a run at
    // another rate is next (left in the ring). rt-safe: bounded
    [[nodiscard]] std::uint32_t take_frames(float* out, std::uint32_t frames, std::uint32_t& seam_rate) noexcept;
    // take_frames, then the fractional delay, then the frames still to skip dropped: the chain's
    // output stream, counted in out_index_. rt-safe: bounded
    [[nodiscard]] std::uint32_t produce(float* out, std::uint32_t frames, std::uint32_t& seam_rate) noexcept;
    // The old rate's ring-out after its last frame (silence pushed through the filter), up to
    // the end of the overlap. rt-safe: bounded
    [[nodiscard]] std::uint32_t ring_out(float* out, std::uint32_t frames) noexcept;
    // Once the seam's stream position is known: where the successor joins, and its fraction. rt-safe: bounded
    void plan_seam(std::uint64_t seam_position, std::uint32_t period_offset) noexcept;
    // A period at a planned seam, from `filled` on (frames before it are this chain's already). rt-safe: bounded
    void render_seam(float* out, std::uint32_t frames, std::uint32_t filled) noexcept;
    // The successor's share of a period at the seam, added into `out` from `offset`. rt-safe: bounded
    void render_joined(float* out, std::uint32_t frames, std::uint32_t offset) noexcept;
    // Output frames from this chain's first output frame to the instant of its first input frame. rt-safe: wait-free
    [[nodiscard]] double input_origin() const noexcept;
    // For a run that came back empty: the rate of the ring the port moved on to, if not ours. rt-safe: bounded
    [[nodiscard]] std::uint32_t seam_at(const render_device_port::frames_view& empty_run) const noexcept;
    // Silence after `filled`, the underrun and dropped reports, gain and meter. rt-safe: bounded
    void finish_period(float* out, std::uint32_t frames, std::uint32_t filled, bool count_underrun) noexcept;
    // The overlap is over: the successor plays alone from the next period. rt-safe: bounded
    void hand_over() noexcept;
    [[nodiscard]] std::uint64_t to_endpoint_frames(std::uint64_t device_frames) const noexcept;
    // The endpoint frames this chain must find in its ring to make `frames` device frames. rt-safe: bounded
    [[nodiscard]] std::uint64_t input_needed(std::uint32_t frames) const noexcept;

    render_device_port* port_;
    std::optional<block_resampler> resampler_;
    remix remix_;
    std::uint32_t max_in_chunk_ = 0;
    std::vector<float> in_f32_;   // one run, endpoint channels
    std::vector<float> remixed_;  // one run, device channels
    bool started_ = false;        // the endpoint's first frames have been seen
    std::uint64_t dropped_pending_ = 0;
    std::unique_ptr<render_chain> successor_;
    fractional_delay delay_{max_channels_for_delay, fractional_delay_block};
    std::vector<float> joined_;       // the successor's share of a period at the seam
    std::uint64_t skip_frames_ = 0;   // output still to discard (a successor that joins late)
    std::uint64_t out_index_ = 0;     // output frames produced (played or skipped) since creation
    std::uint64_t input_frames_ = 0;  // endpoint frames taken from the ring since creation
    // At a planned seam (this chain the old one):
    bool seam_planned_ = false;
    bool input_done_ = false;         // the old rate's last frame is in
    std::uint64_t seam_input_frames_ = 0; // this chain's input frames up to the seam
    std::uint64_t overlap_end_ = 0;   // out_index_ at which this chain's ring-out is over
    std::int64_t join_offset_ = 0;    // the successor's first output frame, from this period's start
    static constexpr std::uint32_t max_channels_for_delay = 8;
    static constexpr std::uint32_t fractional_delay_block = 1024;
};

class capture_chain final : public chain_base {
public:
    [[nodiscard]] static std::expected<std::unique_ptr<capture_chain>, std::error_code>
    create(capture_endpoint_core& endpoint, const frame_format& device_format, std::uint32_t max_device_frames,
           const chain_options& options = {});
    [[nodiscard]] static std::expected<std::unique_ptr<capture_chain>, std::error_code>
    create(capture_endpoint_core& endpoint, const frame_format& endpoint_format, const frame_format& device_format,
           std::uint32_t max_device_frames, const chain_options& options = {});
    // The chain for the endpoint's next rate: it takes over when the endpoint's ring changes rate
    // (what this one's resampler still holds of the old rate is written into the old ring first).
    // The successor starts on the device frames before the seam (this chain keeps the last ones)
    // so its filter is full, and its first frame is the instant after the old epoch's last one:
    // its priming delay and those frames' output skipped, the fraction of a frame left to a
    // fractional delay. rt-safe: bounded
    void set_successor(std::unique_ptr<capture_chain> next) noexcept;
    [[nodiscard]] std::unique_ptr<capture_chain> take_successor() noexcept { return std::move(successor_); }

    // Takes `frames` device frames (device channels, f32) into the endpoint's ring.
    // rt-safe: wait-free
    void capture(const float* in, std::uint32_t frames) noexcept;
    // The source ended: delivers what the resampler still holds (its tail). Once, at the end.
    void finish_stream() noexcept;
    // The device is gone: writes silence for `frames` device frames and counts them as device_lost.
    // rt-safe: bounded
    void fill_lost(std::uint32_t frames) noexcept;
    // Offline devices: the endpoint's ring has room for `frames` device frames (or it is not running).
    [[nodiscard]] bool ready(std::uint32_t frames) noexcept;
    void set_device_channels(std::uint16_t channels) noexcept;
    [[nodiscard]] capture_device_port& port() noexcept { return *port_; }
    [[nodiscard]] bool active() noexcept { return port_->running() && port_->pin_active(); }

private:
    [[nodiscard]] std::uint64_t stream_position() const noexcept override { return port_->stream_position(); }
    capture_chain(capture_endpoint_core& endpoint, const frame_format& endpoint_format, const frame_format& device_format,
                  const chain_options& options);
    // Gain, meter, encode and write `frames` endpoint-rate frames staged in resampled_.
    void deliver(std::uint32_t frames, const frame_format& format) noexcept;
    // Before the ring changes rate: what the resampler still holds, into the old ring. rt-safe: bounded
    void flush_tail() noexcept;
    // Keeps the period's device frames (the successor's filter starts on them at a seam). rt-safe: bounded
    void keep_history(const float* in, std::uint32_t frames) noexcept;
    // At the seam, as the successor: starts on `from`'s device history, skips what lies before
    // the instant `from`'s epoch ends, and delivers the rest of what it makes of it. rt-safe: bounded
    void start_after(const capture_chain& from) noexcept;
    // Takes `frames` device frames through remix, resampler, delay and skip into the ring. rt-safe: bounded
    void take(const float* in, std::uint32_t frames, const frame_format& format) noexcept;
    // Output frames from this chain's first to the instant of its first device frame. rt-safe: wait-free
    [[nodiscard]] double output_origin() const noexcept;

    capture_device_port* port_;
    std::optional<block_resampler> resampler_;
    remix remix_;
    std::vector<float> remixed_;   // endpoint channels, device rate
    std::vector<float> resampled_; // endpoint channels, endpoint rate
    std::vector<std::byte> encoded_;
    std::vector<float> silence_;
    std::unique_ptr<capture_chain> successor_;
    bool flushed_ = false; // the old rate's tail went into the old ring at a rate change
    fractional_delay delay_{max_channels_for_delay, fractional_delay_block};
    std::uint64_t skip_frames_ = 0;   // output still to discard (a successor's history and delay)
    std::uint64_t device_in_ = 0;     // device frames taken since creation
    std::uint64_t out_frames_ = 0;    // output frames made (delivered or skipped) since creation
    std::vector<float> history_;      // the last device frames, device channels, circular
    std::size_t history_at_ = 0;      // the next frame's slot
    std::size_t history_frames_ = 0;  // valid frames in it
    std::uint32_t max_device_frames_ = 0;
    static constexpr std::size_t history_capacity = 8192; // device frames: an 8 kHz filter's reach and more
    static constexpr std::uint32_t max_channels_for_delay = 8;
    static constexpr std::uint32_t fractional_delay_block = 1024;
};

} // namespace ae::pipeline
