// openae — render_chain: one render endpoint's stages between its ring and the device loop's mix.
//
// It pulls the endpoint's frames (in the endpoint's format), converts them to f32, remixes them to
// the device's channels, resamples them to the device's rate (libsoxr, only when the rates
// differ), applies the gain and meters them; the device loop adds them into its mix. At a rate
// seam its successor (built for the new rate) joins on the device's grid and takes over.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/chain_base.h>
#include <openae/pipeline/seam_tail.h>

namespace ae::pipeline {

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
    // successor starts before it (its filter's pre-ringing belongs to the new frames) and fades
    // its first frames in, this one plays its last frames, then their continuation fading out
    // (seam_tail) and its filter's ring-out, and the device hears their sum — the one
    // band-limited signal both streams make. The successor's output grid is shifted by a
    // fraction of a frame so the new frames land exactly where the old ones end in time.
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
    // running). Through a resampler, it may take them into it already. rt-safe: bounded
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
    // Pushes the ring's frames into the resampler until it holds `frames` output frames, the
    // ring is empty or a run at another rate is next (`seam_rate`). rt-safe: bounded
    void fill_resampler(std::uint32_t frames, std::uint32_t& seam_rate) noexcept;
    // take_frames, then the fractional delay, then the frames still to skip dropped: the chain's
    // output stream, counted in out_index_. rt-safe: bounded
    [[nodiscard]] std::uint32_t produce(float* out, std::uint32_t frames, std::uint32_t& seam_rate) noexcept;
    // The old rate's ring-out after its last frame (silence pushed through the filter), up to
    // the end of the overlap. rt-safe: bounded
    [[nodiscard]] std::uint32_t ring_out(float* out, std::uint32_t frames) noexcept;
    // The old rate's last frame is in: its continuation fades out from here. rt-safe: bounded
    void end_input() noexcept;
    // A successor's first frames, faded in (`frames` of them, `channels` wide, from input frame
    // input_frames_ on). rt-safe: bounded
    void fade_in(float* frames, std::uint32_t count, std::uint32_t channels) const noexcept;
    // A successor still fading in its first frames. rt-safe: wait-free
    [[nodiscard]] bool fading_in() const noexcept {
        return fade_in_ && input_frames_ < seam_tail::fade_frames(endpoint_rate_);
    }
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
    fractional_delay delay_{max_channels, fractional_delay_block};
    seam_tail tail_;                  // this rate's last frames, continued at a seam (its history kept only while one is coming)
    bool fade_in_ = false;            // a successor: its first frames fade in
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
    static constexpr std::uint32_t fractional_delay_block = 1024;
};

} // namespace ae::pipeline

#pragma GCC visibility pop
