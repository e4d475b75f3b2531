#include <openae/pipeline/gain.h>

#include <cstddef>

namespace ae::pipeline {

void gain_stage::process(float* samples, std::uint32_t frames) noexcept { // rt-safe: bounded
    const float target = target_.load(std::memory_order_relaxed);
    if (target != applied_target_) {
        applied_target_ = target;
        if (ramp_frames_ == 0) {
            current_ = target;
            ramp_left_ = 0;
        } else {
            ramp_left_ = ramp_frames_;
            step_ = (target - current_) / static_cast<float>(ramp_frames_);
        }
    }
    std::uint32_t f = 0;
    for (; f < frames && ramp_left_ > 0; ++f) {
        --ramp_left_;
        current_ = ramp_left_ == 0 ? applied_target_ : current_ + step_; // lands exactly on the target
        float* frame = samples + std::size_t{f} * channels_;
        for (std::uint32_t c = 0; c < channels_; ++c) frame[c] *= current_;
    }
    if (f == frames || current_ == 1.0f) return;
    const float gain = current_;
    for (std::size_t i = std::size_t{f} * channels_, end = std::size_t{frames} * channels_; i < end; ++i) samples[i] *= gain;
}

void mix_add(const float* __restrict in, float* __restrict out, std::size_t samples) noexcept { // rt-safe: bounded
    for (std::size_t i = 0; i < samples; ++i) out[i] += in[i];
}

} // namespace ae::pipeline
