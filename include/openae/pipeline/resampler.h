// openae — resampler: sample-rate conversion of interleaved f32 frames with libsoxr.
//
// Two modes:
// - fixed ratio (rate conversion, e.g. 48 kHz → 44.1 kHz);
// - variable ratio (drift following): soxr's variable-rate mode at high quality (20-bit); the
//   ratio can be nudged by a few hundred ppm at any time, soxr slews to it over `slew_frames`
//   output frames, so a correction is never a step in pitch or a click.
// - fixed ratio uses soxr's high-quality (20-bit) linear-phase filter: SNR 134 dB at
//   48 kHz → 44.1 kHz with 117 to 317 output frames (2.7 to 7.2 ms) of latency, depending on
//   the block (small DFT blocks, see the .cpp); very high quality (28-bit) had four times the
//   latency for nothing a 16- or 24-bit device could reproduce.
// soxr runs single-threaded (its OpenMP threads are turned off: they would wake other cores
// from an RT thread). Built off-RT; `process` on the device thread. soxr reserves its buffers
// on the first calls, so `create` primes it with silence and the device thread's calls do not
// allocate.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <system_error>

namespace ae::pipeline {

class resampler {
public:
    enum class mode { fixed, variable };

    // Small DFT blocks deliver output steadily (what a device period needs); soxr's own, larger
    // ones cost about a third less CPU and deliver in bursts: for offline devices.
    enum class latency { low, throughput };

    // `block_frames`: the input block `process` is given, always this size (see process()).
    // `max_adjust_ppm`: variable mode's range (set_ratio_adjust clamps to it; the buffers and the
    // priming cover it).
    [[nodiscard]] static std::expected<resampler, std::error_code>
    create(double input_rate, double output_rate, std::uint32_t channels, mode how = mode::fixed,
           std::uint32_t block_frames = 480, latency for_what = latency::low, double max_adjust_ppm = 1000);

    resampler(resampler&&) noexcept;
    resampler& operator=(resampler&&) noexcept;
    ~resampler();

    struct result {
        std::size_t consumed = 0; // input frames taken
        std::size_t produced = 0; // output frames written
    };
    // Converts `in_frames` from `in`, writing at most `out_capacity` frames to `out`.
    // `in == nullptr` flushes the filter's tail (end of stream).
    // Give it exactly block_frames() input frames per call (and out_capacity of at least
    // max_output_for(block_frames())): soxr's internal fifos then cycle through sizes the priming
    // has already reserved. Blocks of varying size made them grow with realloc on the RT thread
    // (tests/pipeline/test_stages.cpp shows both).
    // rt-safe: wait-free, allocation-free with fixed blocks
    [[nodiscard]] result process(const float* in, std::size_t in_frames, float* out, std::size_t out_capacity) noexcept;

    // Variable mode only: runs the conversion `ppm` parts per million faster (positive: consumes
    // more input per output frame). Clamped to the range create() was given (±1000 ppm by
    // default). Returns false in fixed mode.
    // rt-safe: wait-free
    [[nodiscard]] bool set_ratio_adjust(double ppm) noexcept;

    // Output frames per input frame right now.
    [[nodiscard]] double ratio() const noexcept { return output_rate_ / (input_rate_ * (1 + adjust_ppm_ * 1e-6)); }
    // Variable mode's filter delay in output frames: soxr's variable-rate engine has one filter,
    // the same at every rate, channel count and quality (2.08 ms at 48 kHz, 12.5 ms at 8 kHz).
    // A queue behind it (an RTP receiver's) holds that much more than the ring shows.
    static constexpr double variable_delay_frames = 100;
    // Filter delay in output frames (soxr's figure).
    [[nodiscard]] double delay_frames() const noexcept;
    // Frames of silence the output starts with (the priming's tail; see create()).
    [[nodiscard]] std::size_t leading_silence_frames() const noexcept { return leading_silence_; }
    // The same, exactly: output frames from the first one after create to the instant of the
    // first input frame (soxr's delay is not a whole number of frames in general).
    [[nodiscard]] double leading_delay_frames() const noexcept { return leading_delay_; }
    [[nodiscard]] std::uint32_t channels() const noexcept { return channels_; }
    [[nodiscard]] std::uint32_t block_frames() const noexcept { return block_frames_; }
    // The most output frames `process` can write for `in_frames` input frames (size buffers by it).
    [[nodiscard]] std::size_t max_output_for(std::size_t in_frames) const noexcept;

private:
    struct soxr_deleter {
        void operator()(void* handle) const noexcept;
    };
    resampler(void* handle, double input_rate, double output_rate, std::uint32_t channels, mode how) noexcept;

    std::unique_ptr<void, soxr_deleter> handle_;
    double input_rate_ = 0;
    double output_rate_ = 0;
    std::uint32_t channels_ = 0;
    mode mode_ = mode::fixed;
    double adjust_ppm_ = 0;
    double max_adjust_ppm_ = 1000;
    std::size_t leading_silence_ = 0;
    double leading_delay_ = 0;
    std::uint32_t block_frames_ = 0;
};

} // namespace ae::pipeline

#pragma GCC visibility pop
