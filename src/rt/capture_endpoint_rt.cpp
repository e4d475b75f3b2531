#include <openae/rt/capture_endpoint_rt.h>
#include <openae/rt/event_signal.h>

#include <cstring>

#include <atomic>

namespace ae {

void capture_endpoint_rt::apply_reset() noexcept { // rt-safe: bounded
    if (!reset_requested()) return;
    std::uint64_t discarded = 0;
    // Bounded by the handoff queue: every segment written since is discarded too.
    for (std::size_t i = 0; i <= reader_.handoffs.capacity(); ++i) {
        discarded += segment_->reader.discard_all();
        if (follower_.follow(segment_, reader_.handoffs, side_.retired)) epoch_ = segment_->epoch;
        if (segment_->reader.available_frames() == 0) break;
    }
    link_.publish_consumed(segment_->reader.read_position());
    acknowledge_reset(discarded);
}

std::uint64_t capture_endpoint_rt::current_padding(position* pos) noexcept { // rt-safe: bounded
    if (!attach()) {
        if (pos) *pos = position{};
        return 0;
    }
    // A reset discards everything captured before it, from the first call after it.
    if (!pair_open_) apply_reset();
    const std::uint64_t available = segment_->reader.available_frames();
    if (pos) fill_position(*pos, segment_->reader.read_position(), available);
    link_.sample_padding(available);
    return available;
}

errc capture_endpoint_rt::input_data_pointer(connection_property& property, position* timestamp) noexcept { // rt-safe: bounded
    if (!attach()) return errc::not_initialized;
    if (!running()) return errc::not_running;
    if (pair_open_) {
        ++misuse_count_;
        return errc::busy;
    }
    if (property.buffer != nullptr) return errc::bad_argument;
    apply_reset();
    const std::uint32_t frames = property.valid_frames;
    if (frames > segment_->frames_per_packet) return errc::too_many_frames;

    frame_ring_reader& reader = segment_->reader;
    // Fresh when a timestamp reports the padding; else the last count seen, if it covers the packet.
    const std::uint64_t available = timestamp ? reader.available_frames() : reader.available_frames(frames);
    if (timestamp) fill_position(*timestamp, reader.read_position(), available);
    const std::size_t bytes_per_frame = segment_->format.bytes_per_frame();
    if (available >= frames) {
        // The common case: zero copy, straight from the ring.
        handed_out_ = reader.try_acquire(frames);
        captured_frames_ = frames;
        property.flags = buffer_flags::valid;
    } else {
        // Short: the captured frames, then silence, in the preallocated scratch packet. Writing
        // the silence into the ring itself would race with the device writing there.
        const auto captured = static_cast<std::uint32_t>(available);
        std::byte* scratch = segment_->scratch.get();
        if (captured != 0) std::memcpy(scratch, reader.try_acquire(captured), captured * bytes_per_frame);
        std::memset(scratch + captured * bytes_per_frame, 0, (frames - captured) * bytes_per_frame);
        report(glitch_kind::underrun, reader.read_position(), frames - captured);
        handed_out_ = scratch;
        captured_frames_ = captured;
        property.flags = captured == 0 ? buffer_flags::silent : buffer_flags::valid;
    }
    if (frames == 0) {
        handed_out_ = segment_->scratch.get();
        property.flags = buffer_flags::valid;
    }
    property.buffer = const_cast<std::byte*>(handed_out_);
    handed_out_frames_ = frames;
    pair_open_ = true;
    return errc{};
}

errc capture_endpoint_rt::try_release_input_data_pointer(std::uint32_t frames_consumed,
                                                         const std::byte* buffer) noexcept { // rt-safe: bounded
    if (!pair_open_) {
        ++misuse_count_;
        return errc::bad_argument;
    }
    pair_open_ = false;
    if (buffer != handed_out_ || frames_consumed > handed_out_frames_) {
        ++misuse_count_;
        return errc::bad_argument;
    }
    // Silence the endpoint made up is not in the ring: only captured frames advance it.
    const std::uint32_t from_ring = frames_consumed < captured_frames_ ? frames_consumed : captured_frames_;
    if (from_ring != 0) {
        segment_->reader.commit(from_ring);
        link_.publish_consumed(segment_->reader.read_position());
    }
    return errc{};
}

void capture_endpoint_rt::processing_complete() noexcept { // rt-safe: bounded
    if (!attach()) return;
    if (pair_open_) {
        pair_open_ = false;
        ++misuse_count_;
    }
    apply_reset();
    if (follower_.follow(segment_, reader_.handoffs,
                         side_.retired)) {
        epoch_ = segment_->epoch;
    }
    // An offline device waits for the engine to make room.
    // (Only when it waits: see device_port_base::set_device_waiting. A seq_cst exchange after
    // this pass's frames were published: TSan does not take fences.)
    link_.wake_waiting_device();
}

} // namespace ae
