#include <openae/rt/event_signal.h>
#include <openae/rt/render_endpoint_rt.h>

#include <algorithm>
#include <openae/rt/segment_chain.h>

#include <cstring>

#include <atomic>

namespace ae {

std::uint64_t render_endpoint_rt::current_padding(position* pos) noexcept { // rt-safe: bounded
    if (!attach()) {
        if (pos) *pos = position{};
        return 0;
    }
    const std::uint64_t written = segment_->writer.write_position();
    // acquire, read before the consumer position: the device side publishes a switch to the new
    // segment (its position then including what it read ahead) before it clears this count.
    const std::uint64_t read_ahead = link_.read_ahead();
    // An acquire: the device's consumption is published after it finished reading.
    const std::uint64_t consumed = link_.consumed();
    std::uint64_t padding = written - consumed;
    const std::uint32_t rate = segment_->format.sample_rate;
    // At the seam itself too (every old frame read, the reader not yet switched): what the
    // successor read ahead is not queued any more.
    if (consumed <= seam_position_ && rate_before_seam_ != 0 && rate_before_seam_ != rate) {
        // Across a rate seam the old rate's frames still queued count in the current rate's
        // frames (the time they take to play): counted raw, 48 kHz frames ahead of an 8 kHz ring
        // would leave the engine no room to write the new ring's first frames, which a successor
        // chain reads ahead of the seam (less what it has read already).
        const std::uint64_t old_frames = seam_position_ - consumed;
        const std::uint64_t new_frames = written - seam_position_;
        const std::uint64_t ahead = std::min(read_ahead, new_frames);
        padding = new_frames - ahead + (old_frames * rate + rate_before_seam_ - 1) / rate_before_seam_;
    }
    if (pos) fill_position(*pos, written, padding);
    link_.sample_padding(padding);
    return padding;
}

std::expected<std::byte*, errc>
render_endpoint_rt::output_data_pointer(std::uint32_t frames, const position* /*timestamp*/) noexcept { // rt-safe: bounded
    if (!attach()) return std::unexpected(errc::not_initialized);
    if (pair_open_) {
        ++misuse_count_;
        return std::unexpected(errc::busy);
    }
    if (frames > segment_->frames_per_packet) return std::unexpected(errc::too_many_frames);
    std::byte* span = segment_->writer.try_acquire(frames);
    if (!span) {
        // A full buffer before start is the pre-fill's end, not an overrun.
        if (running()) report(glitch_kind::overrun, segment_->writer.write_position(), frames);
        return std::unexpected(errc::busy);
    }
    pair_open_ = true;
    acquired_ = span;
    acquired_frames_ = frames;
    return span;
}

errc render_endpoint_rt::try_release_output_data_pointer(const connection_property& property) noexcept { // rt-safe: bounded
    if (!pair_open_) {
        ++misuse_count_;
        return errc::bad_argument;
    }
    pair_open_ = false;
    if (property.valid_frames > acquired_frames_) {
        ++misuse_count_;
        return errc::bad_argument;
    }
    if (property.flags == buffer_flags::invalid || property.valid_frames == 0) return errc{};
    if (property.flags == buffer_flags::silent) {
        // Every encoding openae carries is signed: all-zero bytes are silence.
        std::memset(acquired_, 0, std::size_t{property.valid_frames} * segment_->format.bytes_per_frame());
    }
    segment_->writer.commit(property.valid_frames);
    return errc{};
}

void render_endpoint_rt::processing_complete() noexcept { // rt-safe: bounded
    if (!attach()) return;
    if (pair_open_) {
        // A pass that took a pointer and never released it commits nothing.
        pair_open_ = false;
        ++misuse_count_;
    }
    // A pass that comes after the device had to play silence since the previous pass was late.
    if (has_snapshot_ && snapshot_.gap_count != pass_gap_count_) {
        pass_gap_count_ = snapshot_.gap_count;
        report(glitch_kind::late_pass, segment_->writer.write_position(), 0);
    }
    // One reconfiguration per pass: the engine sees every epoch, each one more than the last.
    reconfigure_command command;
    if (writer_.reconfigures.try_pop(command)) apply(command);
    // An offline device waits for the engine's frames.
    // (Only when it waits: see device_port_base::set_device_waiting. A seq_cst exchange after
    // this pass's frames were published: TSan does not take fences.)
    link_.wake_waiting_device();
}

void render_endpoint_rt::apply(reconfigure_command& command) noexcept { // rt-safe: bounded
    const std::uint32_t rate_before = segment_->format.sample_rate;
    ring_segment* next = lead_to(*segment_, command, writer_.handoffs);
    if (!next) {
        ++misuse_count_;
        return;
    }
    seam_position_ = next->writer.write_position();
    rate_before_seam_ = rate_before;
    segment_ = next;
    epoch_ = next->epoch;
    if (command.rebase_device_position) discontinuity_pending_ = true;
}

} // namespace ae
