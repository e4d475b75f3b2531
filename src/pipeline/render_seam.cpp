// render_chain at a rate seam: where the successor joins, the old chain's ring-out, the two summed,
// and the hand-over.
#include <openae/pipeline/render_chain.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ae::pipeline {

void render_chain::plan_seam(std::uint64_t seam_position, std::uint32_t period_offset) noexcept { // rt-safe: bounded
    render_chain& next = *successor_;
    // This chain's input up to the seam: what it took, and what the old ring still holds before it.
    const std::uint64_t read = port_->stream_position();
    seam_input_frames_ = input_frames_ + (seam_position > read ? seam_position - read : 0);
    const double ratio = static_cast<double>(device_format_.sample_rate) / endpoint_rate_;
    // The instant after the old rate's last frame, in this chain's output frames, then from the
    // start of this period (out_index_ is at `period_offset` in it).
    const double seam_out = input_origin() + static_cast<double>(seam_input_frames_) * ratio;
    const double seam_in_period = seam_out - static_cast<double>(out_index_ - period_offset);
    // The successor's first input frame must be heard at that instant: its output index 0 goes
    // `origin` frames before, on the device's grid, with the fraction left to its fractional delay.
    const double join = seam_in_period - (next.resampler_ ? next.resampler_->stage().leading_delay_frames() : 0.0);
    const double rounded = std::round(join);
    if (std::abs(join - rounded) < 1e-6) {
        next.delay_.set_active(false);
        join_offset_ = static_cast<std::int64_t>(rounded);
    } else {
        const double whole = std::floor(join - fractional_delay::whole_delay);
        next.delay_.set_fraction(join - fractional_delay::whole_delay - whole);
        next.delay_.set_active(true);
        join_offset_ = static_cast<std::int64_t>(whole);
    }
    if (join_offset_ < 0) {
        // Planned late (the seam showed only when this chain reached it): the successor's first
        // frames — its primed silence, then the faint start of its pre-ringing — are skipped.
        next.skip_frames_ = static_cast<std::uint64_t>(-join_offset_);
        join_offset_ = 0;
    }
    // This chain's part ends when its continuation has faded out and then its filter has rung
    // out — its delay twice over (soxr's stages ring past their delay) and a block — and its own
    // fractional delay's.
    const double ring = (resampler_ ? 2 * (resampler_->stage().leading_delay_frames() + resampler_->block_frames()) : 0.0) +
                        (delay_.active() ? fractional_delay::taps : 0.0);
    const double fade = seam_tail::fade_seconds * device_format_.sample_rate;
    overlap_end_ = static_cast<std::uint64_t>(std::ceil(seam_out + fade + ring));
    seam_planned_ = true;
    if (input_frames_ >= seam_input_frames_) end_input();
}

void render_chain::end_input() noexcept { // rt-safe: bounded
    input_done_ = true;
    tail_.begin();
}

void render_chain::fade_in(float* frames, std::uint32_t count, std::uint32_t channels) const noexcept { // rt-safe: bounded
    for (std::uint32_t i = 0; i < count; ++i) {
        const float g = seam_tail::fade_in(input_frames_ + i, endpoint_rate_);
        if (g >= 1.0f) return;
        for (std::uint32_t c = 0; c < channels; ++c) frames[std::size_t{i} * channels + c] *= g;
    }
}

std::uint32_t render_chain::ring_out(float* out, std::uint32_t frames) noexcept { // rt-safe: bounded
    const std::uint32_t channels = device_format_.channels;
    const auto want = static_cast<std::uint32_t>(std::min<std::uint64_t>(frames, overlap_end_ > out_index_ ? overlap_end_ - out_index_ : 0));
    std::uint32_t got = want;
    if (resampler_) {
        // The continuation, then silence, through the filter: what it still holds of the old
        // rate comes out. Bounded: each turn pushes a chunk or ends.
        for (int turns = 0; turns < 64 && resampler_->output_frames() < want; ++turns) {
            tail_.peek(remixed_.data(), max_in_chunk_);
            const std::uint32_t taken = resampler_->push(remixed_.data(), max_in_chunk_);
            tail_.advance(taken);
            if (taken == 0) break;
        }
        got = resampler_->pop(out, want);
    } else {
        tail_.peek(out, want);
        tail_.advance(want);
    }
    delay_.process(out, got, channels);
    out_index_ += got;
    return got;
}

void render_chain::render_joined(float* out, std::uint32_t frames, std::uint32_t offset) noexcept { // rt-safe: bounded
    const std::uint32_t channels = device_format_.channels;
    const std::uint32_t share = frames - offset;
    float* mine = joined_.data();
    std::uint32_t seam_rate = 0;
    const std::uint32_t got = produce(mine, share, seam_rate);
    if (got < share) {
        // The new rate's frames are late: silence now, and as many of its frames skipped when
        // they come, so the successor stays on time.
        std::memset(mine + std::size_t{got} * channels, 0, sizeof(float) * (share - got) * channels);
        // Output frames before the instant this chain's first input frame is heard are its
        // filter's pre-ringing of input still to come (a successor joins that long before the
        // seam, while its predecessor still plays): silence there is no gap. Only what is
        // missing from that instant on is an underrun.
        const std::uint64_t missing_from = out_index_ + skip_frames_;
        const std::uint64_t missing_to = missing_from + (share - got);
        const auto heard_from = static_cast<std::uint64_t>(std::ceil(input_origin()));
        skip_frames_ += share - got;
        if (active() && missing_to > heard_from) {
            const std::uint64_t audible = missing_to - std::max(missing_from, heard_from);
            port_->report(glitch_kind::underrun, port_->stream_position(), to_endpoint_frames(audible));
            port_->mark_gap();
        }
    }
    gain_.process(mine, share);
    meter_.process(mine, share);
    float* into = out + std::size_t{offset} * channels;
    for (std::size_t i = 0; i < std::size_t{share} * channels; ++i) into[i] += mine[i];
}

void render_chain::render_seam(float* out, std::uint32_t frames, std::uint32_t filled) noexcept { // rt-safe: bounded
    const std::uint32_t channels = device_format_.channels;
    bool late = false;
    if (!input_done_) {
        std::uint32_t seam_rate = 0;
        filled += produce(out + std::size_t{filled} * channels, frames - filled, seam_rate);
        if (input_frames_ >= seam_input_frames_) {
            end_input();
        } else if (filled < frames) {
            late = true; // the engine has not written the old rate's last frames yet
        }
    }
    if (input_done_ && filled < frames) filled += ring_out(out + std::size_t{filled} * channels, frames - filled);
    finish_period(out, frames, filled, late);
    // The successor's share, added in.
    if (join_offset_ < static_cast<std::int64_t>(frames)) {
        successor_->render_joined(out, frames, static_cast<std::uint32_t>(join_offset_));
        join_offset_ = 0;
    } else {
        join_offset_ -= frames;
    }
    if (input_done_ && out_index_ >= overlap_end_) hand_over();
}

void render_chain::hand_over() noexcept { // rt-safe: bounded
    successor_->inherit_timing(*this);
    successor_->started_ = started_ || successor_->started_;
    handed_over_ = true;
}

} // namespace ae::pipeline
