#include <openae/rt/capture_device_port.h>

#include <cstring>

namespace ae {

bool capture_device_port::begin_period(bool hold_rate_change) noexcept { // rt-safe: bounded
    if (!attach()) return false;
    if (pending_.segment) return false; // a held rate change goes first (apply_pending)
    // One reconfiguration per period: every epoch gets its own segment, one more than the last.
    reconfigure_command command;
    if (!writer_.reconfigures.try_pop(command)) return false;
    if (hold_rate_change && command.segment && command.segment->format.sample_rate != segment_->format.sample_rate) {
        pending_ = std::move(command);
        return false;
    }
    return apply(command);
}

bool capture_device_port::apply_pending() noexcept { // rt-safe: bounded
    if (!pending_.segment) return false;
    reconfigure_command command = std::move(pending_);
    pending_ = reconfigure_command{};
    return apply(command);
}

bool capture_device_port::apply(reconfigure_command& command) noexcept { // rt-safe: bounded
    ring_segment* next = lead_to(*segment_, command, writer_.handoffs);
    if (!next) return false;
    segment_ = next;
    if (command.rebase_device_position) mark_gap();
    return true;
}

std::uint32_t capture_device_port::write(const std::byte* data, std::uint32_t frames) noexcept { // rt-safe: bounded
    if (!attach() || frames == 0) return 0;
    frame_ring_writer& writer = segment_->writer;
    const std::uint64_t free = writer.free_frames();
    const auto fitting = static_cast<std::uint32_t>(free < frames ? free : frames);
    if (fitting != 0) {
        std::memcpy(writer.try_acquire(fitting), data, std::size_t{fitting} * segment_->format.bytes_per_frame());
        writer.commit(fitting);
    }
    if (fitting < frames) {
        report(glitch_kind::overrun, writer.write_position(), frames - fitting);
        mark_gap();
    }
    return fitting;
}

std::byte* capture_device_port::try_acquire(std::uint32_t frames) noexcept { // rt-safe: bounded
    if (!attach()) return nullptr;
    return segment_->writer.try_acquire(frames);
}

void capture_device_port::commit(std::uint32_t frames) noexcept { // rt-safe: bounded
    if (segment_) segment_->writer.commit(frames);
}

} // namespace ae
