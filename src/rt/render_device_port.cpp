#include <openae/rt/render_device_port.h>

namespace ae {

void render_device_port::advance_segment() noexcept { // rt-safe
    follower_.follow(segment_, link_->handoffs,
                     link_->device_retired);
}

std::uint64_t render_device_port::begin_period() noexcept { // rt-safe
    reset_now_ = false;
    if (!attach()) return 0;
    // relaxed first: the common case (no reset) costs one plain load.
    if (link_->reset_generation.load(std::memory_order_relaxed) == seen_reset_generation_) return 0;
    // acquire: pairs with the control thread's bump.
    const std::uint32_t generation = link_->reset_generation.load(std::memory_order_acquire);
    seen_reset_generation_ = generation;
    std::uint64_t discarded = 0;
    for (std::size_t i = 0; i <= link_->handoffs.capacity(); ++i) {
        discarded += segment_->reader.discard_all();
        advance_segment();
        if (segment_->reader.available_frames() == 0) break;
    }
    link_->consumer_position.store(segment_->reader.read_position(), std::memory_order_release);
    // What the host asked to discard is not a glitch: counted apart. relaxed: ordered by the
    // acknowledgement's release.
    link_->discarded_frames.fetch_add(discarded, std::memory_order_relaxed);
    // release: the discard (and the consumer position) before the acknowledgement.
    link_->reset_applied.store(generation, std::memory_order_release);
    signal_eventfd(link_->control_wake_fd.load(std::memory_order_acquire));
    reset_now_ = true;
    return discarded;
}

render_device_port::frames_view render_device_port::acquire(std::uint32_t max_frames) noexcept { // rt-safe
    if (!attach()) return {};
    advance_segment();
    const std::uint64_t available = segment_->reader.available_frames(max_frames);
    const auto frames = static_cast<std::uint32_t>(available < max_frames ? available : max_frames);
    if (frames == 0) return {nullptr, 0, segment_};
    return {segment_->reader.try_acquire(frames), frames, segment_};
}

void render_device_port::release(std::uint32_t frames) noexcept { // rt-safe
    if (!segment_ || frames == 0) return;
    segment_->reader.commit(frames);
    // release: the engine's padding drops only after we are done with those frames.
    link_->consumer_position.store(segment_->reader.read_position(), std::memory_order_release);
}

std::uint64_t render_device_port::available_frames() noexcept { // rt-safe
    if (!attach()) return 0;
    advance_segment();
    return segment_->reader.available_frames();
}

} // namespace ae
