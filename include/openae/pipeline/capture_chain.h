// openae — capture_chain: one capture endpoint's stages between the device and its ring.
//
// The mirror of render_chain: device f32 → remix → resample → gain → meter → the endpoint's
// sample type → the endpoint's ring.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/chain_base.h>

namespace ae::pipeline {

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
    // The source ended: delivers what the resampler still owes for the source's frames (its
    // tail; not the filter's ringing after the last one). Called again while holding_output():
    // an offline chain delivers only what the ring has room for.
    void finish_stream() noexcept;
    // The stream ended and some of its last frames wait for room in the ring (offline only).
    [[nodiscard]] bool holding_output() noexcept { return stream_finished_ && stream_tail_frames_ > 0 && active(); }
    // The device is gone: writes silence for `frames` device frames and counts them as device_lost.
    // rt-safe: bounded
    void fill_lost(std::uint32_t frames) noexcept;
    // Offline devices: the endpoint's ring has room for what the next `frames` device frames
    // can bring out of this chain (or it is not running).
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
    // Output frames staged in resampled_ through the fractional delay and the skip, then deliver(). rt-safe: bounded
    void pass_on(std::uint32_t frames, const frame_format& format) noexcept;
    // How many output frames to take out of the resampler now. rt-safe: wait-free
    [[nodiscard]] std::uint32_t output_room(const frame_format& format) noexcept;
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
    fractional_delay delay_{max_channels, fractional_delay_block};
    std::uint64_t skip_frames_ = 0;   // output still to discard (a successor's history and delay)
    std::uint64_t device_in_ = 0;     // device frames taken since creation
    std::uint64_t out_frames_ = 0;    // output frames made (delivered or skipped) since creation
    std::vector<float> history_;      // the last device frames, device channels, circular
    std::size_t history_at_ = 0;      // the next frame's slot
    std::size_t history_frames_ = 0;  // valid frames in it
    std::uint32_t max_device_frames_ = 0;
    bool stream_finished_ = false;         // finish_stream() ran the filter's tail out
    std::uint64_t stream_tail_frames_ = 0; // of the stream's last output frames, those not delivered yet
    static constexpr std::size_t history_capacity = 8192; // device frames: an 8 kHz filter's reach and more
    static constexpr std::uint32_t fractional_delay_block = 1024;
};

} // namespace ae::pipeline

#pragma GCC visibility pop
