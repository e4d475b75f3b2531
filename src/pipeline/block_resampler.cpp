#include <openae/pipeline/block_resampler.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ae::pipeline {

std::expected<block_resampler, std::error_code> block_resampler::create(double input_rate, double output_rate,
                                                                         std::uint32_t channels, std::size_t max_output_frames,
                                                                         std::uint32_t block_frames, resampler::latency for_what) {
    auto r = resampler::create(input_rate, output_rate, channels, resampler::mode::fixed, block_frames, for_what);
    if (!r) return std::unexpected(r.error());
    block_resampler stage(std::move(*r));
    stage.block_.assign(std::size_t{block_frames} * channels, 0.0f);
    stage.fifo_capacity_ = max_output_frames + stage.resampler_.max_output_for(block_frames);
    stage.fifo_.assign(stage.fifo_capacity_ * channels, 0.0f);
    return stage;
}

std::uint32_t block_resampler::push(const float* in, std::uint32_t frames) noexcept { // rt-safe: bounded
    const std::uint32_t channels = resampler_.channels();
    const std::uint32_t block = resampler_.block_frames();
    const std::size_t block_output = resampler_.max_output_for(block);
    std::uint32_t taken = 0;
    while (taken < frames) {
        if (staged_ == block) {
            if (!make_room(block_output)) break; // no room for another block
            const auto result = resampler_.process(block_.data(), block, fifo_end(), room());
            fifo_frames_ += result.produced;
            staged_ = 0;
        }
        const std::uint32_t n = std::min(frames - taken, block - staged_);
        std::memcpy(block_.data() + std::size_t{staged_} * channels, in + std::size_t{taken} * channels,
                    sizeof(float) * n * channels);
        staged_ += n;
        taken += n;
    }
    // Run a just-completed block at once, so its output is available now.
    if (staged_ == block && make_room(block_output)) {
        const auto result = resampler_.process(block_.data(), block, fifo_end(), room());
        fifo_frames_ += result.produced;
        staged_ = 0;
    }
    pushed_frames_ += taken;
    return taken;
}

std::uint32_t block_resampler::pop(float* out, std::uint32_t frames) noexcept { // rt-safe: bounded
    const std::uint32_t channels = resampler_.channels();
    const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(frames, fifo_frames_));
    std::memcpy(out, fifo_.data() + fifo_start_ * channels, sizeof(float) * n * channels);
    fifo_frames_ -= n;
    // The read side moves on; the frames left are moved down only when a block needs the room.
    fifo_start_ = fifo_frames_ == 0 ? 0 : fifo_start_ + n;
    out_frames_ += n;
    return n;
}

bool block_resampler::make_room(std::size_t frames) noexcept { // rt-safe: bounded
    if (room() >= frames || fifo_start_ == 0) return room() >= frames;
    const std::uint32_t channels = resampler_.channels();
    std::memmove(fifo_.data(), fifo_.data() + fifo_start_ * channels, sizeof(float) * fifo_frames_ * channels);
    fifo_start_ = 0;
    return room() >= frames;
}

std::uint64_t block_resampler::owed_frames() const noexcept { // rt-safe: bounded
    if (pushed_frames_ == 0) return 0; // the priming silence is owed only ahead of real input
    const auto total = static_cast<std::uint64_t>(std::llround(static_cast<double>(pushed_frames_) * resampler_.ratio())) +
                       resampler_.leading_silence_frames();
    return total > out_frames_ ? total - out_frames_ : 0;
}

void block_resampler::finish() noexcept {
    const std::uint32_t channels = resampler_.channels();
    const std::uint32_t block = resampler_.block_frames();
    if (staged_ > 0) {
        std::fill(block_.begin() + static_cast<std::ptrdiff_t>(std::size_t{staged_} * channels), block_.end(), 0.0f);
        (void)make_room(fifo_capacity_);
        fifo_frames_ += resampler_.process(block_.data(), block, fifo_end(), room()).produced;
        staged_ = 0;
    }
    (void)make_room(fifo_capacity_);
    for (int i = 0; i < 16 && room() > 0; ++i) {
        const std::size_t produced = resampler_.process(nullptr, 0, fifo_end(), room()).produced;
        if (produced == 0) break;
        fifo_frames_ += produced;
    }
}

std::size_t block_resampler::clear_output() noexcept { // rt-safe: wait-free
    const std::size_t dropped = fifo_frames_;
    fifo_frames_ = 0;
    fifo_start_ = 0;
    out_frames_ += dropped;
    return dropped;
}

} // namespace ae::pipeline
