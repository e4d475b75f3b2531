// capture_chain: the device's frames into the endpoint's ring, and the rate seam's hand-over.
#include <openae/pipeline/capture_chain.h>

#include <openae/pipeline/convert.h>
#include <openae/rt/errc.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ae::pipeline {
namespace {
constexpr std::uint32_t max_channels = remix::max_channels;

const ring_segment* initial_segment(endpoint_core& endpoint) noexcept {
    return endpoint.control_link().initial_segment();
}
} // namespace

capture_chain::capture_chain(capture_endpoint_core& endpoint, const frame_format& endpoint_format,
                             const frame_format& device_format, const chain_options& options)
    : chain_base(endpoint.device(), endpoint.id(), endpoint_format.sample_rate, device_format, options, endpoint_format.channels),
      port_(&endpoint.device()), remix_(device_format.channels) {}

std::expected<std::unique_ptr<capture_chain>, std::error_code>
capture_chain::create(capture_endpoint_core& endpoint, const frame_format& device_format, std::uint32_t max_device_frames,
                      const chain_options& options) {
    const ring_segment* segment = initial_segment(endpoint);
    if (!segment) return std::unexpected(make_error_code(errc::not_initialized));
    return create(endpoint, options.endpoint_format.value_or(segment->format), device_format, max_device_frames, options);
}

std::expected<std::unique_ptr<capture_chain>, std::error_code>
capture_chain::create(capture_endpoint_core& endpoint, const frame_format& endpoint_format, const frame_format& device_format,
                      std::uint32_t max_device_frames, const chain_options& options) {
    if (device_format.channels < 1 || device_format.channels > max_channels || endpoint_format.channels > max_channels ||
        max_device_frames == 0) {
        return std::unexpected(make_error_code(errc::unsupported_format));
    }
    std::unique_ptr<capture_chain> chain(new capture_chain(endpoint, endpoint_format, device_format, options));
    auto r = remix::between(device_format.channels, endpoint_format.channels);
    if (!r) return std::unexpected(r.error());
    chain->remix_ = *r;
    chain->remixed_.assign(std::size_t{max_device_frames} * max_channels, 0.0f);
    std::size_t max_out = max_device_frames;
    if (endpoint_format.sample_rate != device_format.sample_rate) {
        // soxr delivers in DFT blocks: a period's output varies by up to ±35% around the ratio
        // (measured, 256-frame blocks); room for two periods and a burst means a push is never
        // refused.
        max_out = 2 * static_cast<std::size_t>(std::ceil(max_device_frames * static_cast<double>(endpoint_format.sample_rate) /
                                                         device_format.sample_rate)) + 512;
        auto res = block_resampler::create(device_format.sample_rate, endpoint_format.sample_rate, endpoint_format.channels,
                                           max_out, block_resampler::default_block_frames, options.resampler_latency);
        if (!res) return std::unexpected(res.error());
        chain->resampler_.emplace(std::move(*res));
    }
    chain->resampled_.assign(max_out * max_channels, 0.0f);
    chain->encoded_.assign(max_out * max_channels * sizeof(float), std::byte{0});
    chain->silence_.assign(std::size_t{max_device_frames} * max_channels, 0.0f);
    chain->history_.assign(history_capacity * max_channels, 0.0f);
    chain->max_device_frames_ = max_device_frames;
    return chain;
}

void capture_chain::set_device_channels(std::uint16_t channels) noexcept { // rt-safe: bounded
    if (channels < 1 || channels > max_channels || channels == device_format_.channels) return;
    device_format_.channels = channels;
    if (auto r = remix::between(channels, remix_.out_channels())) remix_ = *r;
    history_frames_ = 0; // kept at the old width
    history_at_ = 0;
}

void capture_chain::set_successor(std::unique_ptr<capture_chain> next) noexcept { // rt-safe: bounded
    capture_chain* last = this;
    for (int i = 0; i < 64 && last->successor_; ++i) last = last->successor_.get();
    last->successor_ = std::move(next);
}

void capture_chain::flush_tail() noexcept { // rt-safe: bounded
    // What the filter still holds of the old rate (its delay, in endpoint frames) comes out when
    // silence pushes it, in whole runs like any period (allocation-free); the silence's own
    // output is not delivered.
    const ring_segment* segment = port_->segment();
    if (!segment || resampler_->channels() != segment->format.channels) return;
    const std::size_t capacity = resampled_.size() / segment->format.channels;
    const auto tail = static_cast<std::uint32_t>(std::min<std::uint64_t>(resampler_->owed_frames(), capacity));
    const auto chunk = static_cast<std::uint32_t>(silence_.size() / max_channels);
    for (int turns = 0; turns < 64 && resampler_->output_frames() < tail; ++turns) { // bounded
        if (resampler_->push(silence_.data(), chunk) == 0) break;
    }
    const std::uint32_t popped = resampler_->pop(resampled_.data(), tail);
    delay_.process(resampled_.data(), popped, segment->format.channels);
    out_frames_ += popped;
    deliver(popped, segment->format);
    (void)resampler_->clear_output();
}

void capture_chain::keep_history(const float* in, std::uint32_t frames) noexcept { // rt-safe: bounded
    const std::uint32_t channels = device_format_.channels;
    // Bounded: a period is at most the capacity (longer ones keep their last frames).
    const std::uint32_t skip = frames > history_capacity ? static_cast<std::uint32_t>(frames - history_capacity) : 0;
    for (std::uint32_t i = skip; i < frames;) {
        const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(frames - i, history_capacity - history_at_));
        std::memcpy(history_.data() + history_at_ * channels, in + std::size_t{i} * channels, sizeof(float) * n * channels);
        history_at_ = (history_at_ + n) % history_capacity;
        i += n;
    }
    history_frames_ = std::min<std::size_t>(history_frames_ + frames, history_capacity);
}

double capture_chain::output_origin() const noexcept { // rt-safe: wait-free
    return (resampler_ ? resampler_->stage().leading_delay_frames() : 0.0) + (delay_.active() ? delay_.delay_frames() : 0.0);
}

void capture_chain::start_after(const capture_chain& from) noexcept { // rt-safe: bounded
    const ring_segment* segment = port_->segment();
    if (!segment || from.device_format_.channels != device_format_.channels) return;
    const double device_rate = device_format_.sample_rate;
    // Where `from`'s epoch ends, in its device frames: after its last frame, exactly.
    const double end = (static_cast<double>(from.out_frames_) - from.output_origin()) * device_rate / from.endpoint_rate_;
    // This chain starts on the history: `from`'s last device frames before the seam.
    const std::size_t kept = from.history_frames_;
    const double first = static_cast<double>(from.device_in_) - static_cast<double>(kept);
    // The output index of the new epoch's first frame: the priming delay, the history's frames.
    const double at = (resampler_ ? resampler_->stage().leading_delay_frames() : 0.0) + (end - first) * endpoint_rate_ / device_rate;
    const double rounded = std::round(at);
    if (std::abs(at - rounded) < 1e-6) {
        delay_.set_active(false);
        skip_frames_ = rounded > 0 ? static_cast<std::uint64_t>(rounded) : 0;
    } else {
        const double whole = std::ceil(at + fractional_delay::whole_delay);
        delay_.set_fraction(whole - at - fractional_delay::whole_delay);
        delay_.set_active(true);
        skip_frames_ = static_cast<std::uint64_t>(whole);
    }
    // The history, oldest first, in chunks of a period (bounded: capacity / period chunks).
    const std::uint32_t channels = device_format_.channels;
    std::size_t slot = (from.history_at_ + history_capacity - kept) % history_capacity;
    for (std::size_t left = kept; left > 0;) {
        const auto n = static_cast<std::uint32_t>(std::min({left, history_capacity - slot, std::size_t{max_device_frames_}}));
        take(from.history_.data() + slot * channels, n, segment->format);
        slot = (slot + n) % history_capacity;
        left -= n;
    }
}

void capture_chain::take(const float* in, std::uint32_t frames, const frame_format& format) noexcept { // rt-safe: bounded
    device_in_ += frames;
    remix_.process(in, remixed_.data(), frames);
    std::uint32_t staged_frames = frames;
    if (resampler_) {
        // The fifo is emptied every period and sized for two periods' output: it takes them all.
        if (const std::uint32_t taken = resampler_->push(remixed_.data(), frames); taken < frames && active()) {
            port_->report(glitch_kind::dropped, port_->stream_position(), frames - taken);
        }
        staged_frames = resampler_->pop(resampled_.data(), output_room(format));
    } else {
        std::memcpy(resampled_.data(), remixed_.data(), sizeof(float) * staged_frames * format.channels);
    }
    pass_on(staged_frames, format);
}

std::uint32_t capture_chain::output_room(const frame_format& format) noexcept { // rt-safe: wait-free
    const auto staging = static_cast<std::uint32_t>(resampled_.size() / format.channels);
    // Offline: what the ring has no room for stays in the resampler's fifo (ready() counts it);
    // frames still to skip are not written. Not while stopped: a stopped endpoint gets nothing.
    if (!options_.offline || !active()) return staging;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(staging, port_->free_frames() + skip_frames_));
}

void capture_chain::pass_on(std::uint32_t staged_frames, const frame_format& format) noexcept { // rt-safe: bounded
    delay_.process(resampled_.data(), staged_frames, format.channels);
    out_frames_ += staged_frames;
    if (skip_frames_ > 0) {
        // What lies before the new epoch's first instant (the history's own output) is not delivered.
        const auto skipped = static_cast<std::uint32_t>(std::min<std::uint64_t>(skip_frames_, staged_frames));
        skip_frames_ -= skipped;
        staged_frames -= skipped;
        std::memmove(resampled_.data(), resampled_.data() + std::size_t{skipped} * format.channels,
                     sizeof(float) * staged_frames * format.channels);
    }
    deliver(staged_frames, format);
}

void capture_chain::capture(const float* in, std::uint32_t frames) noexcept { // rt-safe: bounded
    (void)port_->begin_period(resampler_.has_value());
    if (port_->take_reset() && resampler_) {
        // Captured before the reset: the engine's side discards the ring, this side its filter's.
        port_->add_discarded(resampler_->clear_output());
    }
    if (port_->pending_rate() != 0) {
        if (successor_ && successor_->endpoint_rate_ == port_->pending_rate()) {
            // The old epoch ends with the last frame this chain delivered, each made with all the
            // device frames its filter needed: no frame of it comes from a filter flushed with
            // silence. What the filter still holds is for the instants after that frame, which
            // the successor makes from the device frames this chain kept — not lost, not twice.
            (void)resampler_->clear_output();
        } else {
            // No successor yet: the old rate's last frames, still in the filter, go into the old
            // ring first (the engine reads them before the new epoch's).
            flush_tail();
        }
        (void)port_->apply_pending();
        flushed_ = true;
    }
    const ring_segment* segment = port_->segment();
    if (!segment) return;
    const frame_format& format = segment->format;
    if (format.sample_rate != endpoint_rate_ && successor_ && successor_->endpoint_rate_ == format.sample_rate) {
        // The ring changed rate: the successor takes over from this period. Unless flushed into
        // the old ring above, what this chain's resampler still holds is at the old rate, which
        // the new ring cannot take: counted.
        if (resampler_ && !flushed_) {
            // Its fifo, and what its filter still holds (old-rate frames).
            const std::uint64_t rest = resampler_->owed_frames();
            if (rest != 0 && active()) port_->report(glitch_kind::dropped, port_->stream_position(), rest);
        }
        successor_->inherit_timing(*this);
        successor_->start_after(*this);
        successor_->capture(in, frames);
        handed_over_ = true;
        return;
    }
    if (format.sample_rate != endpoint_rate_ || format.channels > max_channels ||
        (resampler_ && format.channels != resampler_->channels())) {
        // A new rate needs a new chain (control plane); count what cannot be delivered.
        if (active()) port_->report(glitch_kind::dropped, port_->stream_position(), frames);
        return;
    }
    if (format.channels != remix_.out_channels()) {
        if (auto r = remix::between(device_format_.channels, format.channels)) remix_ = *r;
        gain_.set_channels(format.channels);
        meter_.set_channels(format.channels);
    }
    keep_history(in, frames);
    take(in, frames, format);
}

void capture_chain::deliver(std::uint32_t frames, const frame_format& format) noexcept { // rt-safe: bounded
    float* scaled = resampled_.data();
    gain_.process(scaled, frames);
    meter_.process(scaled, frames);
    if (!active() || frames == 0) return;
    const std::byte* bytes = reinterpret_cast<const std::byte*>(scaled);
    if (format.sample != sample_type::f32) {
        (void)convert_samples(bytes, sample_type::f32, encoded_.data(), format.sample, std::size_t{frames} * format.channels);
        bytes = encoded_.data();
    }
    (void)port_->write(bytes, frames); // overruns are counted by the port
}

void capture_chain::finish_stream() noexcept {
    const ring_segment* segment = port_->segment();
    if (!resampler_ || !segment || resampler_->channels() != segment->format.channels) return;
    if (!stream_finished_) {
        // The stream's last output frame is the one its last device frame makes: what the filter
        // flushes after that is its ringing into the silence it was padded with, not the source.
        stream_tail_frames_ = resampler_->owed_frames();
        resampler_->finish();
        stream_finished_ = true;
    }
    for (int i = 0; i < 16 && stream_tail_frames_ > 0; ++i) {
        const auto wanted = static_cast<std::uint32_t>(std::min<std::uint64_t>(stream_tail_frames_, output_room(segment->format)));
        const std::uint32_t got = resampler_->pop(resampled_.data(), wanted);
        if (got == 0) break;
        stream_tail_frames_ -= got;
        pass_on(got, segment->format);
    }
}

void capture_chain::fill_lost(std::uint32_t frames) noexcept { // rt-safe: bounded
    const std::uint64_t before = port_->stream_position();
    capture(silence_.data(), frames);
    lost_frames_ += port_->stream_position() - before;
    if (lost_frames_ >= endpoint_rate_ / 10) flush_reports();
}


bool capture_chain::ready(std::uint32_t frames) noexcept { // rt-safe: bounded
    if (!active()) return true;
    // soxr delivers in DFT blocks, not per period: offline (its default sizes) a 10 ms period
    // at 44.1 -> 48 kHz brings out 0 or 892 frames. What can come is what the resampler still
    // owes for the input it took (its fifo, the staged block, what its filter holds) and the
    // period's own share — exact, whatever the point in soxr's cycle. A bound with a margin of
    // a block or two overran the ring when a slow engine left it just that much room.
    const std::uint64_t needed =
        resampler_ ? resampler_->owed_frames() + static_cast<std::uint64_t>(std::ceil(frames * resampler_->stage().ratio())) + 1
                   : frames;
    // At most the whole ring: a smaller one waits until the engine has emptied it, and what does
    // not fit then waits in the resampler (output_room()).
    return port_->free_frames() >= std::min(needed, port_->capacity_frames());
}

} // namespace ae::pipeline
