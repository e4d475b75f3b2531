// openae — gain stage: scales interleaved f32 frames, ramping linearly to a new gain.
//
// The control side sets a target at any time (an atomic store, never waits); the device thread
// moves from the current gain to the target over `ramp_frames` frames, one step per frame, so a
// change is never a step in the waveform (no zipper noise, no click). A new target during a ramp
// starts a new ramp from wherever the gain is.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <atomic>
#include <cstdint>

namespace ae::pipeline {

class gain_stage {
public:
    // `ramp_frames` 0 applies changes at once.
    explicit gain_stage(std::uint32_t channels, std::uint32_t ramp_frames = 480, float initial_gain = 1.0f) noexcept
        : channels_(channels), ramp_frames_(ramp_frames), current_(initial_gain), target_(initial_gain),
          applied_target_(initial_gain) {}

    // Control side: the gain to reach (linear; 1 = unity). Any thread.
    void set_target(float gain) noexcept { target_.store(gain, std::memory_order_relaxed); }
    [[nodiscard]] float target() const noexcept { return target_.load(std::memory_order_relaxed); }

    // Scales `frames` frames in place.
    // rt-safe: wait-free
    void process(float* samples, std::uint32_t frames) noexcept;

    // The gain applied to the last frame processed. Device thread only.
    [[nodiscard]] float current() const noexcept { return current_; }
    [[nodiscard]] std::uint32_t channels() const noexcept { return channels_; }
    // The stream's channel count changed (an epoch seam). Device thread only.
    void set_channels(std::uint32_t channels) noexcept { channels_ = channels; }

private:
    std::uint32_t channels_;
    std::uint32_t ramp_frames_;
    float current_;
    // order: relaxed — a value on its own: the ramp reads whatever target is newest.
    std::atomic<float> target_;
    float applied_target_;      // the target the running ramp heads for
    float step_ = 0;            // per-frame change of the running ramp
    std::uint32_t ramp_left_ = 0;
};

// Adds `samples` samples of `in` into `out` (the mixer's accumulate step).
// rt-safe: wait-free
void mix_add(const float* in, float* out, std::size_t samples) noexcept;

} // namespace ae::pipeline

#pragma GCC visibility pop
