// openae — meter: per-channel peak and RMS of the frames passing through, published wait-free.
//
// The device thread feeds every block it plays or captures; every `window_frames` frames the
// meter publishes the window's peak (largest |sample|) and RMS per channel through a seqlock, so
// the control side reads a consistent reading at any time without ever making the device wait.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/seqlock.h>

#include <openae/rt/types.h>

#include <array>
#include <cstdint>

namespace ae::pipeline {

struct meter_reading {
    static constexpr std::uint32_t max_channels = ae::max_channels;
    std::array<float, max_channels> peak{};
    std::array<float, max_channels> rms{};
    std::uint64_t windows = 0; // windows measured so far (0: nothing yet)
    std::uint32_t channels = 0;
    std::uint32_t window_frames = 0;
};

class meter {
public:
    // Channels beyond meter_reading::max_channels are not measured.
    meter(std::uint32_t channels, std::uint32_t window_frames) noexcept;

    // Measures `frames` interleaved frames. Device thread only.
    // rt-safe: wait-free
    void process(const float* samples, std::uint32_t frames) noexcept;

    // The stream's channel count changed (an epoch seam): starts a new window. Device thread only.
    // rt-safe: wait-free
    void set_channels(std::uint32_t channels) noexcept;

    // The last complete window's reading; windows == 0 before the first. Any thread.
    // rt-safe: wait-free
    [[nodiscard]] meter_reading read() const noexcept;

private:
    void measure_packed(const float* block, std::uint32_t frames) noexcept;
    void measure_strided(const float* block, std::uint32_t frames) noexcept;

    std::uint32_t channels_;
    std::uint32_t measured_channels_;
    std::uint32_t window_frames_;
    std::uint32_t frames_in_window_ = 0;
    std::uint64_t windows_ = 0;
    std::array<float, meter_reading::max_channels> peak_{};
    std::array<double, meter_reading::max_channels> sum_squares_{};
    seqlock<meter_reading> published_;
};

} // namespace ae::pipeline

#pragma GCC visibility pop
