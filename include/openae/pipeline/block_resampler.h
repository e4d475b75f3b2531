// openae — block_resampler: a resampler fed in fixed blocks, with an output fifo.
//
// soxr must be given blocks of one size to stay allocation-free (see resampler.h); streams come
// in runs of any size. This stage collects input into `block_frames` blocks, runs each through
// the resampler into a fifo, and hands out any number of output frames. Buffers are sized at
// construction; nothing allocates afterwards. Device thread only (after creation).
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/resampler.h>

#include <cstdint>
#include <expected>
#include <system_error>
#include <vector>

namespace ae::pipeline {

class block_resampler {
public:
    static constexpr std::uint32_t default_block_frames = 64;

    // `max_output_frames`: the most output frames that will be kept waiting in the fifo.
    [[nodiscard]] static std::expected<block_resampler, std::error_code>
    create(double input_rate, double output_rate, std::uint32_t channels, std::size_t max_output_frames,
           std::uint32_t block_frames = default_block_frames, resampler::latency for_what = resampler::latency::low);

    // Takes up to `frames` input frames; returns how many it took (fewer only when the fifo is
    // too full to run another block).
    // rt-safe: wait-free
    [[nodiscard]] std::uint32_t push(const float* in, std::uint32_t frames) noexcept;
    // Moves up to `frames` output frames to `out`; returns how many.
    // rt-safe: wait-free
    [[nodiscard]] std::uint32_t pop(float* out, std::uint32_t frames) noexcept;
    // End of stream: runs the staged partial block (padded with silence) and the filter's tail
    // into the fifo. Afterwards the stage takes no more input. Ends a stream, so it may do what
    // a period must not: soxr's flush is not known to be allocation-free.
    void finish() noexcept;
    // Drops everything held (the stream was lost or reset); returns the output frames dropped.
    std::size_t clear_output() noexcept;

    // Output frames still owed for the input pushed so far: the fifo, the staged block and what
    // the filter holds (its priming silence included until it has come out). Exact whatever
    // the point in soxr's block cycle; `leading_silence_frames()` is that only right after create.
    [[nodiscard]] std::uint64_t owed_frames() const noexcept;
    [[nodiscard]] std::size_t output_frames() const noexcept { return fifo_frames_; }
    [[nodiscard]] std::uint32_t staged_frames() const noexcept { return staged_; }
    [[nodiscard]] std::uint32_t channels() const noexcept { return resampler_.channels(); }
    [[nodiscard]] std::uint32_t block_frames() const noexcept { return resampler_.block_frames(); }
    [[nodiscard]] const resampler& stage() const noexcept { return resampler_; }

private:
    explicit block_resampler(resampler r) noexcept : resampler_(std::move(r)) {}

    resampler resampler_;
    std::vector<float> block_;
    std::uint32_t staged_ = 0;
    // Moves what the fifo holds to its start if that makes `frames` of room at its end. rt-safe: bounded
    [[nodiscard]] bool make_room(std::size_t frames) noexcept;
    [[nodiscard]] std::size_t room() const noexcept { return fifo_capacity_ - fifo_start_ - fifo_frames_; }
    [[nodiscard]] float* fifo_end() noexcept { return fifo_.data() + (fifo_start_ + fifo_frames_) * resampler_.channels(); }

    std::vector<float> fifo_;
    std::size_t fifo_start_ = 0;  // the oldest frame's slot
    std::size_t fifo_frames_ = 0;
    std::size_t fifo_capacity_ = 0;
    std::uint64_t pushed_frames_ = 0; // input frames taken by push()
    std::uint64_t out_frames_ = 0;    // output frames popped or cleared
};

} // namespace ae::pipeline

#pragma GCC visibility pop
