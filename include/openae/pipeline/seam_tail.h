// openae — seam_tail: the old rate's stream continued past a render rate seam, fading out, while
// the new rate's stream fades in.
//
// At a seam the endpoint's stream goes on at another rate: the old chain has its frames up to
// the seam, the successor its frames from it. Cut hard, each chain's filter rings at the cut, and
// since soxr designs a different filter for each ratio the two rings do not cancel (a seam block
// at 15-64 dB SNR). Faded instead over `fade_seconds` — the old stream continued by linear
// prediction (Burg's method, per channel, on its last frames) under a raised-cosine fade-out, the
// new one under the complementary fade-in — neither filter sees a cut: both streams stay
// narrow-band around what they carry, both filters pass it alike, and the sum is the one signal.
// A continuation is a prediction: exact for steady tones, a short guess for noise, never louder
// than the frames it continues (Burg's predictor is stable).
//
// The predictor runs on a stride of the frames (its taps `stride` frames apart, about
// `predictor_rate` of them a second), so that at high rates it spans whole periods of the tones it
// continues instead of fitting noise between adjacent frames.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <cstdint>
#include <vector>

namespace ae::pipeline {

class seam_tail {
public:
    static constexpr std::uint32_t history_frames = 1024;
    static constexpr std::uint32_t order = 16;
    static constexpr double fade_seconds = 0.002;
    static constexpr double predictor_rate = 8000;

    // Allocates for `channels` interleaved f32 channels at `rate` Hz.
    seam_tail(std::uint32_t channels, std::uint32_t rate);

    // The frames the chain takes, as it takes them (its last history_frames are kept). rt-safe: bounded
    void remember(const float* frames, std::uint32_t count, std::uint32_t channels) noexcept;
    // The last `count` remembered frames were not taken after all. rt-safe: wait-free
    void forget(std::uint32_t count) noexcept;
    // The stream's last frame is in: fits the predictor and makes the faded continuation. Leading
    // silent frames are not history (a ring's never-written start reads as zeros). With fewer
    // than 2 * order strided frames remembered, or another channel count than remembered, the
    // continuation is silence. rt-safe: bounded
    void begin() noexcept;
    // Writes the next `count` frames of the continuation (silence after the fade) without
    // moving on. rt-safe: bounded
    void peek(float* out, std::uint32_t count) const noexcept;
    // Moves on by `count` frames. rt-safe: wait-free
    void advance(std::uint32_t count) noexcept { read_ += count; }

    // Frames the fade lasts at `rate`. rt-safe: wait-free
    [[nodiscard]] static std::uint32_t fade_frames(std::uint32_t rate) noexcept;
    // The new stream's gain at its frame `index` (at `rate`) from the seam: rises from 0 to 1
    // over the fade, so that with the old stream's fade-out it sums to 1 at every instant.
    // rt-safe: wait-free
    [[nodiscard]] static float fade_in(std::uint64_t index, std::uint32_t rate) noexcept;

private:
    std::uint32_t channels_;
    std::uint32_t rate_;
    std::uint32_t stride_;
    std::uint32_t fade_frames_;
    std::uint32_t remembered_channels_ = 0;
    std::vector<float> history_;      // a ring of history_frames frames, interleaved
    std::uint64_t written_ = 0;       // frames remembered since creation
    std::uint32_t known_ = 0;         // of the last history_frames, those still remembered
    std::vector<float> continuation_; // fade_frames_ frames, interleaved, faded
    std::uint64_t read_ = 0;          // frames of the continuation handed out
    std::vector<double> line_;        // one channel: its history, then its continuation
    std::vector<double> forward_, backward_, coefficients_, previous_;
};

} // namespace ae::pipeline

#pragma GCC visibility pop
