#include <openae/rt/render_device_port.h>

namespace ae {

void render_device_port::advance_segment() noexcept { // rt-safe: bounded
    // After the switch the current segment's read position includes what was read ahead: it is
    // published as consumed *before* the read-ahead count drops to 0 (the engine reads the count
    // first), so the engine's padding never counts frames already read as still queued.
    if (follower_.follow(segment_, reader_.handoffs, side_.retired) && read_ahead_ != 0) {
        publish_consumed();
        read_ahead_ = 0;
        link_.publish_read_ahead(0);
    }
}

void render_device_port::publish_consumed() noexcept { // rt-safe: wait-free
    // A release: the engine's padding drops only after we are done with those frames.
    link_.publish_consumed(segment_->reader.read_position());
}

std::int64_t render_device_port::next_segment_start(std::uint32_t rate) noexcept { // rt-safe: bounded
    if (!attach()) return -1;
    advance_segment();
    const ring_segment* next = follower_.next_segment(reader_.handoffs);
    if (!next || next->format.sample_rate != rate) return -1;
    return static_cast<std::int64_t>(follower_.next_start_position());
}

render_device_port::frames_view render_device_port::acquire_at_rate(std::uint32_t rate, std::uint32_t max_frames) noexcept { // rt-safe: bounded
    if (!attach()) return {};
    advance_segment();
    if (segment_->format.sample_rate == rate) return acquire(max_frames);
    ring_segment* next = follower_.next_segment(reader_.handoffs);
    if (!next || next->format.sample_rate != rate) return {nullptr, 0, next ? next : segment_};
    const std::uint64_t available = next->reader.available_frames(max_frames);
    const auto frames = static_cast<std::uint32_t>(available < max_frames ? available : max_frames);
    if (frames == 0) return {nullptr, 0, next};
    return {next->reader.try_acquire(frames), frames, next};
}

std::uint64_t render_device_port::available_at_rate(std::uint32_t rate) noexcept { // rt-safe: bounded
    if (!attach()) return 0;
    advance_segment();
    if (segment_->format.sample_rate == rate) return segment_->reader.available_frames();
    ring_segment* next = follower_.next_segment(reader_.handoffs);
    return next && next->format.sample_rate == rate ? next->reader.available_frames() : 0;
}

void render_device_port::release_at(const frames_view& run, std::uint32_t frames) noexcept { // rt-safe: bounded
    if (!run.segment || frames == 0) return;
    if (run.segment == segment_) return release(frames);
    const_cast<ring_segment*>(run.segment)->reader.commit(frames);
    read_ahead_ += frames;
    link_.publish_read_ahead(read_ahead_);
}

std::uint64_t render_device_port::begin_period() noexcept { // rt-safe: bounded
    reset_now_ = false;
    if (!attach()) return 0;
    // A relaxed read first: the common case (no reset) costs one plain load.
    if (link_.requested_reset() == seen_reset_generation_) return 0;
    const std::uint32_t generation = link_.reset_generation();
    seen_reset_generation_ = generation;
    std::uint64_t discarded = 0;
    for (std::size_t i = 0; i <= reader_.handoffs.capacity(); ++i) {
        discarded += segment_->reader.discard_all();
        advance_segment();
        if (segment_->reader.available_frames() == 0) break;
    }
    link_.publish_consumed(segment_->reader.read_position());
    // What the host asked to discard is not a glitch: counted apart; ae-ctl is woken to see it.
    link_.acknowledge_reset(generation, discarded);
    reset_now_ = true;
    return discarded;
}

render_device_port::frames_view render_device_port::acquire(std::uint32_t max_frames) noexcept { // rt-safe: bounded
    if (!attach()) return {};
    advance_segment();
    const std::uint64_t available = segment_->reader.available_frames(max_frames);
    const auto frames = static_cast<std::uint32_t>(available < max_frames ? available : max_frames);
    if (frames == 0) return {nullptr, 0, segment_};
    return {segment_->reader.try_acquire(frames), frames, segment_};
}

void render_device_port::release(std::uint32_t frames) noexcept { // rt-safe: bounded
    if (!segment_ || frames == 0) return;
    segment_->reader.commit(frames);
    publish_consumed();
}

std::uint64_t render_device_port::available_frames() noexcept { // rt-safe: bounded
    if (!attach()) return 0;
    advance_segment();
    return segment_->reader.available_frames();
}

} // namespace ae
