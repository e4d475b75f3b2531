// render_chain: pulling the endpoint's frames, staging, resampling, the period's glitches.
#include <openae/pipeline/render_chain.h>

#include <openae/pipeline/convert.h>
#include <openae/rt/errc.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ae::pipeline {
namespace {
constexpr std::uint32_t max_channels = remix::max_channels;
// At a rate seam a chain waits this many periods for its successor (the control side sends it
// before it posts the new ring) before it counts the new rate's frames dropped.
constexpr int max_held_periods = 4;

const ring_segment* initial_segment(endpoint_core& endpoint) noexcept {
    return endpoint.control_link().initial_segment();
}
} // namespace

render_chain::render_chain(render_endpoint_core& endpoint, std::uint32_t endpoint_rate, const frame_format& device_format,
                           const chain_options& options)
    : chain_base(endpoint.device(), endpoint.id(), endpoint_rate, device_format, options, device_format.channels),
      port_(&endpoint.device()), remix_(device_format.channels), tail_(device_format.channels, endpoint_rate) {}

std::expected<std::unique_ptr<render_chain>, std::error_code>
render_chain::create(render_endpoint_core& endpoint, const frame_format& device_format, std::uint32_t max_device_frames,
                     const chain_options& options) {
    const ring_segment* segment = initial_segment(endpoint);
    if (!segment) return std::unexpected(make_error_code(errc::not_initialized));
    return create(endpoint, options.endpoint_format.value_or(segment->format), device_format, max_device_frames, options);
}

std::expected<std::unique_ptr<render_chain>, std::error_code>
render_chain::create(render_endpoint_core& endpoint, const frame_format& endpoint_format, const frame_format& device_format,
                     std::uint32_t max_device_frames, const chain_options& options) {
    if (device_format.channels < 1 || device_format.channels > max_channels || endpoint_format.channels > max_channels ||
        max_device_frames == 0) {
        return std::unexpected(make_error_code(errc::unsupported_format));
    }
    std::unique_ptr<render_chain> chain(new render_chain(endpoint, endpoint_format.sample_rate, device_format, options));
    auto r = remix::between(endpoint_format.channels, device_format.channels);
    if (!r) return std::unexpected(r.error());
    chain->remix_ = *r;
    const double er = endpoint_format.sample_rate;
    const double dr = device_format.sample_rate;
    chain->max_in_chunk_ = static_cast<std::uint32_t>(std::ceil(max_device_frames * er / dr)) + 64;
    chain->in_f32_.assign(std::size_t{chain->max_in_chunk_} * max_channels, 0.0f);
    chain->remixed_.assign(std::size_t{chain->max_in_chunk_} * device_format.channels, 0.0f);
    if (endpoint_format.sample_rate != device_format.sample_rate) {
        // The fifo holds at most a period plus what one run's blocks can bring.
        const std::size_t most = max_device_frames + static_cast<std::size_t>(std::ceil(chain->max_in_chunk_ * dr / er)) + 64;
        auto res = block_resampler::create(er, dr, device_format.channels, most, block_resampler::default_block_frames,
                                           options.resampler_latency);
        if (!res) return std::unexpected(res.error());
        chain->resampler_.emplace(std::move(*res));
    }
    // Channel counts up to 8 either way: size for the widest device a format change may bring.
    chain->remixed_.resize(std::size_t{chain->max_in_chunk_} * max_channels);
    chain->joined_.assign(std::size_t{max_device_frames} * max_channels, 0.0f);
    return chain;
}

std::uint64_t render_chain::to_endpoint_frames(std::uint64_t device_frames) const noexcept { // rt-safe: bounded
    if (endpoint_rate_ == device_format_.sample_rate) return device_frames;
    return (device_frames * endpoint_rate_ + device_format_.sample_rate - 1) / device_format_.sample_rate;
}

void render_chain::set_device_channels(std::uint16_t channels) noexcept { // rt-safe: bounded
    if (channels < 1 || channels > max_channels || channels == device_format_.channels) return;
    device_format_.channels = channels;
    if (auto r = remix::between(remix_.in_channels(), channels)) remix_ = *r;
    gain_.set_channels(channels);
    meter_.set_channels(channels);
    // The resampler keeps its channel count: a different device width needs a rebuilt chain.
    if (resampler_) dropped_pending_ += to_endpoint_frames(resampler_->clear_output());
}

bool render_chain::stage_in(const render_device_port::frames_view& run, float* out) noexcept { // rt-safe: bounded
    const frame_format& format = run.segment->format;
    if (format.sample_rate != endpoint_rate_ || format.channels > max_channels ||
        (resampler_ && device_format_.channels != resampler_->channels())) {
        return false;
    }
    if (format.channels != remix_.in_channels()) {
        if (auto r = remix::between(format.channels, device_format_.channels)) remix_ = *r;
    }
    const float* source = reinterpret_cast<const float*>(run.data);
    if (format.sample != sample_type::f32) {
        (void)convert_samples(run.data, format.sample, reinterpret_cast<std::byte*>(in_f32_.data()), sample_type::f32,
                        std::size_t{run.frames} * format.channels);
        source = in_f32_.data();
    }
    remix_.process(source, out, run.frames);
    return true;
}

void render_chain::set_successor(std::unique_ptr<render_chain> next) noexcept { // rt-safe: bounded
    render_chain* last = this;
    for (int i = 0; i < 64 && last->successor_; ++i) last = last->successor_.get();
    next->fade_in_ = true;
    last->successor_ = std::move(next);
}

std::uint32_t render_chain::seam_at(const render_device_port::frames_view& empty_run) const noexcept { // rt-safe: bounded
    // Nothing to read, and the port has moved on to a ring of another rate: this rate's frames
    // are all taken — the seam is here even though the engine has not written the new ring yet
    // (a resampler takes its input in blocks: the last one can empty the old ring at once, and
    // what it still holds plays while the engine fills the new one).
    if (empty_run.segment && empty_run.segment->format.sample_rate != endpoint_rate_) return empty_run.segment->format.sample_rate;
    return 0;
}

std::uint32_t render_chain::take_frames(float* out, std::uint32_t frames, std::uint32_t& seam_rate) noexcept { // rt-safe: bounded
    const std::uint32_t channels = device_format_.channels;
    std::uint32_t filled = 0;
    if (!resampler_) {
        // Bounded: every run returns at least one frame or ends the loop; at most one run per seam.
        while (filled < frames) {
            const auto run = port_->acquire_at_rate(endpoint_rate_, std::min(frames - filled, max_in_chunk_));
            if (run.frames == 0) {
                seam_rate = seam_at(run);
                break;
            }
            float* staged = out + std::size_t{filled} * channels;
            if (stage_in(run, staged)) {
                if (successor_) tail_.remember(staged, run.frames, channels);
                if (fading_in()) fade_in(staged, run.frames, channels);
                filled += run.frames;
            } else {
                dropped_pending_ += run.frames;
            }
            port_->release_at(run, run.frames);
            input_frames_ += run.frames;
        }
        return filled;
    }
    fill_resampler(frames, seam_rate);
    return resampler_->pop(out, frames);
}

void render_chain::fill_resampler(std::uint32_t frames, std::uint32_t& seam_rate) noexcept { // rt-safe: bounded
    // Bounded: each run is taken whole or ends the loop; the fifo fills within a few runs.
    for (int runs = 0; runs < 64 && resampler_->output_frames() < frames; ++runs) {
        // At least what completes the staged block: soxr produces nothing for less.
        const std::uint64_t needed = std::max<std::uint64_t>(to_endpoint_frames(frames - resampler_->output_frames()),
                                                             resampler_->block_frames() - resampler_->staged_frames());
        const auto wanted = static_cast<std::uint32_t>(std::clamp<std::uint64_t>(needed, 1, max_in_chunk_));
        const auto run = port_->acquire_at_rate(endpoint_rate_, wanted);
        if (run.frames == 0) {
            seam_rate = seam_at(run);
            break;
        }
        // f32 frames of the device's width go to the resampler straight from the ring.
        const bool fading = fading_in();
        const bool direct = !fading && run.segment->format.sample == sample_type::f32 &&
                            run.segment->format.sample_rate == endpoint_rate_ && run.segment->format.channels == remix_.in_channels() &&
                            remix_.is_identity() && device_format_.channels == resampler_->channels();
        if (!direct && !stage_in(run, remixed_.data())) {
            dropped_pending_ += run.frames;
            port_->release_at(run, run.frames);
            input_frames_ += run.frames;
            continue;
        }
        const float* staged = direct ? reinterpret_cast<const float*>(run.data) : remixed_.data();
        // A seam coming (the successor arrives before the engine leaves the old ring, so what
        // is still queued there is remembered): the frames taken are the continuation's
        // history. Not in steady state: a copy per period into a history per endpoint cost a
        // many-endpoint device a fifth of its time (bench_mix, 0.87 -> 1.06 us per endpoint).
        if (successor_) tail_.remember(staged, run.frames, device_format_.channels);
        if (fading) fade_in(remixed_.data(), run.frames, device_format_.channels);
        const std::uint32_t taken = resampler_->push(staged, run.frames);
        if (successor_) tail_.forget(run.frames - taken);
        port_->release_at(run, taken);
        input_frames_ += taken;
        if (taken < run.frames) break; // the fifo is full
    }
}

std::uint32_t render_chain::produce(float* out, std::uint32_t frames, std::uint32_t& seam_rate) noexcept { // rt-safe: bounded
    const std::uint32_t channels = device_format_.channels;
    // Frames to skip go through the fractional delay too (its history is the stream's), then are
    // dropped; `out` is the scratch. Bounded: each turn skips a period's worth or ends.
    for (int turns = 0; turns < 64 && skip_frames_ > 0; ++turns) {
        const auto chunk = static_cast<std::uint32_t>(std::min<std::uint64_t>(skip_frames_, frames));
        const std::uint32_t got = take_frames(out, chunk, seam_rate);
        delay_.process(out, got, channels);
        out_index_ += got;
        skip_frames_ -= got;
        if (got < chunk) return 0;
    }
    if (skip_frames_ > 0) return 0;
    const std::uint32_t got = take_frames(out, frames, seam_rate);
    delay_.process(out, got, channels);
    out_index_ += got;
    return got;
}

double render_chain::input_origin() const noexcept { // rt-safe: wait-free
    return (resampler_ ? resampler_->stage().leading_delay_frames() : 0.0) + (delay_.active() ? delay_.delay_frames() : 0.0);
}

void render_chain::finish_period(float* out, std::uint32_t frames, std::uint32_t filled, bool count_underrun) noexcept { // rt-safe: bounded
    const std::uint32_t channels = device_format_.channels;
    if (filled > 0) started_ = true;
    if (filled < frames) {
        std::memset(out + std::size_t{filled} * channels, 0, sizeof(float) * (frames - filled) * channels);
        if (count_underrun && active() && (started_ || options_.count_underruns_before_first_frames)) {
            port_->report(glitch_kind::underrun, port_->stream_position(), to_endpoint_frames(frames - filled));
            port_->mark_gap();
        }
    }
    if (dropped_pending_ != 0) {
        port_->report(glitch_kind::dropped, port_->stream_position(), dropped_pending_);
        dropped_pending_ = 0;
    }
    gain_.process(out, frames);
    meter_.process(out, frames);
}

void render_chain::poll_reset() noexcept { // rt-safe: bounded
    (void)port_->begin_period();
    if (!port_->reset_applied_now() || !resampler_) return;
    // What the resampler holds came from the discarded frames: dropped too, and its filter's
    // share of them skipped, so the first frame after the reset is the host's next one.
    port_->add_discarded(to_endpoint_frames(resampler_->clear_output()));
    skip_frames_ = resampler_->owed_frames();
}

void render_chain::render(float* out, std::uint32_t frames) noexcept { // rt-safe: bounded
    poll_reset();
    if (!port_->running()) {
        // A stopped endpoint keeps what is queued (it plays after start: a pre-fill waits here).
        std::memset(out, 0, sizeof(float) * frames * device_format_.channels);
        meter_.process(out, frames);
        return;
    }
    if (successor_ && !seam_planned_) {
        // The engine has moved on to the next rate's ring: where the old one ends is known.
        const std::int64_t seam = port_->next_segment_start(successor_->endpoint_rate_);
        if (seam >= 0) plan_seam(static_cast<std::uint64_t>(seam), 0);
    }
    if (seam_planned_) return render_seam(out, frames, 0);
    std::uint32_t seam_rate = 0;
    const std::uint32_t filled = produce(out, frames, seam_rate);
    if (seam_rate == 0) {
        held_periods_ = 0;
        finish_period(out, frames, filled, true);
        return;
    }
    if (successor_ && successor_->endpoint_rate_ == seam_rate) {
        // Reached before it was seen ahead: the seam is where this chain stopped reading.
        plan_seam(port_->stream_position(), filled);
        return render_seam(out, frames, filled);
    }
    if (held_periods_ < max_held_periods) {
        // The successor is on its way (sent before the new ring): the frames wait in the ring.
        ++held_periods_;
        finish_period(out, frames, filled, true);
        return;
    }
    // None came: the new rate's frames cannot be played here; counted.
    for (int runs = 0; runs < 4; ++runs) {
        const auto run = port_->acquire(max_in_chunk_);
        if (run.frames == 0 || run.segment->format.sample_rate == endpoint_rate_) break;
        dropped_pending_ += run.frames;
        port_->release(run.frames);
    }
    finish_period(out, frames, filled, true);
}

void render_chain::drain_lost(std::uint32_t frames) noexcept { // rt-safe: bounded
    poll_reset();
    if (!port_->running()) return; // its queued frames wait for start, as on a device
    std::uint64_t wanted = to_endpoint_frames(frames);
    // What was already resampled for the device is lost too.
    if (resampler_) lost_frames_ += to_endpoint_frames(resampler_->clear_output());
    for (int runs = 0; wanted > 0 && runs < 4; ++runs) {
        const auto run = port_->acquire(static_cast<std::uint32_t>(std::min<std::uint64_t>(wanted, max_in_chunk_)));
        if (run.frames == 0) break;
        port_->release(run.frames);
        lost_frames_ += run.frames;
        wanted -= run.frames;
    }
    // Report about ten times a second, not every period: glitch queues are for events, not streams.
    if (lost_frames_ >= endpoint_rate_ / 10) flush_reports();
}


std::uint64_t render_chain::input_needed(std::uint32_t frames) const noexcept { // rt-safe: bounded
    const std::size_t held = resampler_ ? resampler_->output_frames() : 0;
    const std::uint64_t buffered = held >= frames ? 0 : to_endpoint_frames(frames - held);
    // A resampler delivers in blocks: ask for a run more than the exact ratio.
    const std::uint64_t margin = resampler_ ? max_in_chunk_ : 0;
    return buffered + margin;
}

bool render_chain::ready(std::uint32_t frames) noexcept { // rt-safe: bounded
    if (!active()) return true;
    if (successor_ && !seam_planned_) {
        const std::int64_t seam = port_->next_segment_start(successor_->endpoint_rate_);
        if (seam >= 0) plan_seam(static_cast<std::uint64_t>(seam), 0);
    }
    // At most a full ring: an engine's buffer smaller than what a period may take (a resampler's
    // block and margin) would otherwise hold an offline device for ever.
    if (!seam_planned_) {
        if (resampler_ && options_.offline && !successor_ && skip_frames_ == 0) {
            // soxr's default DFT blocks (offline) can need more input for a period's output than
            // a small engine buffer holds: what the ring has goes into the resampler now, which
            // gives the engine room for the rest. Ready once the period's output is there (or
            // the ring moved on to another rate: render() deals with that).
            std::uint32_t seam_rate = 0;
            fill_resampler(frames, seam_rate);
            return resampler_->output_frames() >= frames || seam_rate != 0;
        }
        // At most a full ring: a buffer smaller than a period's input and margin would
        // otherwise hold an offline device for ever.
        return port_->available_frames() >= std::min(input_needed(frames), port_->capacity_frames());
    }
    // At a planned seam: this chain needs the old rate's frames up to the seam (or fewer, its
    // last ones), and the successor its share of the period once it joins.
    const bool old_ready = input_done_ || port_->available_frames() >= std::min<std::uint64_t>(
                                                                      input_needed(frames), seam_input_frames_ - input_frames_);
    if (join_offset_ >= static_cast<std::int64_t>(frames)) return old_ready;
    const auto share = static_cast<std::uint32_t>(frames - join_offset_);
    const std::uint64_t needed = successor_->input_needed(static_cast<std::uint32_t>(share + successor_->skip_frames_));
    return old_ready && port_->available_at_rate(successor_->endpoint_rate_) >= needed;
}

} // namespace ae::pipeline
