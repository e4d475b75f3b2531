// seam_tail: Burg's method on a strided history, and the raised-cosine fades.
#include <openae/pipeline/seam_tail.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

namespace ae::pipeline {

seam_tail::seam_tail(std::uint32_t channels, std::uint32_t rate)
    : channels_(channels), rate_(rate),
      stride_(std::max<std::uint32_t>(1, static_cast<std::uint32_t>(rate / predictor_rate))),
      fade_frames_(fade_frames(rate)),
      history_(std::size_t{history_frames} * channels, 0.0f),
      continuation_(std::size_t{fade_frames_} * channels, 0.0f),
      line_(history_frames + fade_frames_, 0.0),
      forward_(history_frames, 0.0), backward_(history_frames, 0.0), coefficients_(order + 1, 0.0), previous_(order + 1, 0.0) {}

std::uint32_t seam_tail::fade_frames(std::uint32_t rate) noexcept { // rt-safe: wait-free
    return static_cast<std::uint32_t>(std::ceil(fade_seconds * rate));
}

float seam_tail::fade_in(std::uint64_t index, std::uint32_t rate) noexcept { // rt-safe: wait-free
    const double t = static_cast<double>(index) / rate / fade_seconds;
    if (t >= 1) return 1.0f;
    return static_cast<float>(0.5 * (1 - std::cos(std::numbers::pi * t)));
}

void seam_tail::remember(const float* frames, std::uint32_t count, std::uint32_t channels) noexcept { // rt-safe: bounded
    if (channels != channels_) {
        remembered_channels_ = channels; // a width the history was not made for: no continuation
        return;
    }
    remembered_channels_ = channels;
    // Only the last history_frames of a long run matter.
    const std::uint32_t skip = count > history_frames ? count - history_frames : 0;
    frames += std::size_t{skip} * channels;
    count -= skip;
    written_ += skip;
    known_ = std::min(known_ + count, history_frames);
    while (count > 0) {
        const auto at = static_cast<std::uint32_t>(written_ % history_frames);
        const std::uint32_t n = std::min(count, history_frames - at);
        std::memcpy(history_.data() + std::size_t{at} * channels_, frames, sizeof(float) * n * channels_);
        frames += std::size_t{n} * channels_;
        count -= n;
        written_ += n;
    }
}

void seam_tail::forget(std::uint32_t count) noexcept { // rt-safe: wait-free
    // Their slots held the oldest frames, now gone: the history is that much shorter.
    count = std::min(count, known_);
    written_ -= count;
    known_ -= count;
}

void seam_tail::begin() noexcept { // rt-safe: bounded
    read_ = 0;
    std::fill(continuation_.begin(), continuation_.end(), 0.0f);
    std::uint32_t known = known_;
    // Leading silence is not history.
    for (; known > 0; --known) {
        const float* frame = history_.data() + ((written_ - known) % history_frames) * channels_;
        if (std::any_of(frame, frame + channels_, [](float v) { return v != 0.0f; })) break;
    }
    const std::uint32_t p = std::min<std::uint32_t>(order, known / stride_ / 2);
    if (remembered_channels_ != channels_ || p < 2) return;
    for (std::uint32_t c = 0; c < channels_; ++c) {
        // The channel's history, oldest first.
        for (std::uint32_t i = 0; i < known; ++i) {
            const std::uint64_t frame = written_ - known + i;
            line_[i] = history_[(frame % history_frames) * channels_ + c];
        }
        // Burg: forward and backward prediction errors, one reflection coefficient per order,
        // the stride apart; a[0..p] predicts x[n] = -sum a[i] x[n - i * stride].
        std::copy_n(line_.begin(), known, forward_.begin());
        std::copy_n(line_.begin(), known, backward_.begin());
        std::fill(coefficients_.begin(), coefficients_.end(), 0.0);
        coefficients_[0] = 1;
        std::uint32_t fitted = 0;
        for (std::uint32_t m = 1; m <= p; ++m) {
            double num = 0, den = 0;
            for (std::uint32_t i = m * stride_; i < known; ++i) {
                num += forward_[i] * backward_[i - stride_];
                den += forward_[i] * forward_[i] + backward_[i - stride_] * backward_[i - stride_];
            }
            if (!(den > 1e-30)) break; // silence: nothing more to fit
            const double k = -2 * num / den;
            std::copy_n(coefficients_.begin(), m + 1, previous_.begin());
            for (std::uint32_t i = 1; i <= m; ++i) coefficients_[i] = previous_[i] + k * previous_[m - i];
            for (std::uint32_t i = known; i-- > m * stride_;) {
                const double f = forward_[i];
                forward_[i] = f + k * backward_[i - stride_];
                backward_[i] = backward_[i - stride_] + k * f;
            }
            fitted = m;
        }
        // The continuation, under the fade-out (1 - fade_in: the two sum to 1).
        for (std::uint32_t j = 0; j < fade_frames_; ++j) {
            const std::uint32_t n = known + j;
            double v = 0;
            for (std::uint32_t i = 1; i <= fitted; ++i) v -= coefficients_[i] * line_[n - i * stride_];
            line_[n] = v;
            continuation_[std::size_t{j} * channels_ + c] = static_cast<float>(v * (1.0 - fade_in(j, rate_)));
        }
    }
}

void seam_tail::peek(float* out, std::uint32_t count) const noexcept { // rt-safe: bounded
    const std::uint32_t from = static_cast<std::uint32_t>(std::min<std::uint64_t>(read_, fade_frames_));
    const std::uint32_t faded = std::min(count, fade_frames_ - from);
    std::memcpy(out, continuation_.data() + std::size_t{from} * channels_, sizeof(float) * faded * channels_);
    std::memset(out + std::size_t{faded} * channels_, 0, sizeof(float) * (count - faded) * channels_);
}

} // namespace ae::pipeline
