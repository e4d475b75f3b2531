// openae — fractional_delay: delays interleaved f32 frames by a fraction of a frame.
//
// At a rate seam the successor's output grid must continue the old stream's time exactly; the
// seam falls between device frames in general (44.1 kHz frames do not land on 48 kHz ones), and
// soxr's filter delay is not a whole number of frames either. A windowed-sinc FIR (Kaiser window,
// `taps` taps) delays the successor's output by `taps / 2 - 1 + fraction` frames; the chain counts
// that delay as part of its latency. Coefficients are computed on the device thread at the seam
// (bounded arithmetic, no allocation); the history is sized at construction.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <array>
#include <cstdint>
#include <vector>

namespace ae::pipeline {

class fractional_delay {
public:
    static constexpr std::uint32_t taps = 64;
    static constexpr std::uint32_t whole_delay = taps / 2 - 1; // plus the fraction

    // `max_frames`: the longest block process() takes in one go (longer ones run in chunks).
    fractional_delay(std::uint32_t max_channels, std::uint32_t max_frames);

    // Sets the fraction, in [0, 1), and clears the history. rt-safe: bounded
    void set_fraction(double fraction) noexcept;
    [[nodiscard]] double fraction() const noexcept { return fraction_; }
    // The delay in frames: whole_delay + fraction.
    [[nodiscard]] double delay_frames() const noexcept { return whole_delay + fraction_; }
    [[nodiscard]] bool active() const noexcept { return active_; }
    void set_active(bool on) noexcept { active_ = on; }

    // Filters `frames` frames of `channels` (at most max_channels) in place. rt-safe: bounded
    void process(float* samples, std::uint32_t frames, std::uint32_t channels) noexcept;

private:
    std::uint32_t max_channels_;
    std::uint32_t max_frames_;
    double fraction_ = 0;
    bool active_ = false;
    std::array<float, taps> reversed_{}; // the taps, last first
    std::vector<float> history_;         // the last taps - 1 input frames, per channel, oldest first
    std::vector<float> line_;            // one channel: history, then a block
};

} // namespace ae::pipeline

#pragma GCC visibility pop
