#include <openae/pipeline/chain.h>

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
    return endpoint.link().initial_segment.load(std::memory_order_acquire);
}
} // namespace

chain_base::chain_base(device_port_base& port, std::uint32_t endpoint_id, std::uint32_t endpoint_rate,
                       const frame_format& device_format, const chain_options& options, std::uint32_t gain_channels)
    : base_port_(&port), endpoint_id_(endpoint_id), endpoint_rate_(endpoint_rate), device_format_(device_format), options_(options),
      gain_(gain_channels, options.gain_ramp_frames, options.gain),
      meter_(gain_channels, std::max<std::uint32_t>(device_format.sample_rate / 10, 1)) {}

std::uint64_t chain_base::endpoint_position(std::uint64_t device_position) const noexcept { // rt-safe: bounded
    const std::uint64_t frames = device_position - anchor_;
    if (endpoint_rate_ == device_format_.sample_rate) return position_base_ + frames;
    return position_base_ +
           static_cast<std::uint64_t>(static_cast<unsigned __int128>(frames) * endpoint_rate_ / device_format_.sample_rate);
}

void chain_base::inherit_timing(const chain_base& from) noexcept { // rt-safe: bounded
    anchored_ = from.anchored_;
    anchor_ = from.last_device_position_;
    last_device_position_ = from.last_device_position_;
    position_base_ = from.anchored_ ? from.endpoint_position(from.last_device_position_) : 0;
    restart_estimator_ = true;
    // No mark_gap(): that is what a late pass looks like to the engine; the new epoch already
    // makes the first record after the seam discontinuous.
}

void chain_base::observe(const device_timing& timing) noexcept { // rt-safe: bounded
    if (!anchored_) {
        anchored_ = true;
        anchor_ = timing.position;
        restart_estimator_ = true; // the first observation starts the endpoint's rate estimate
    }
    if (timing.discontinuity) {
        base_port_->mark_gap();
        restart_estimator_ = true;
    }
    if (restart_estimator_) {
        restart_estimator_ = false;
        base_port_->restart_clock({.nominal_rate = static_cast<double>(endpoint_rate_)});
    }
    last_device_position_ = timing.position;
    base_port_->observe(endpoint_position(timing.position), timing.time);
}

void chain_base::flush_reports() noexcept { // rt-safe: bounded
    if (lost_frames_ == 0) return;
    base_port_->report(glitch_kind::device_lost, stream_position(), lost_frames_);
    base_port_->mark_gap();
    lost_frames_ = 0;
}

// ---------------------------------------------------------------------------------------------
// render

render_chain::render_chain(render_endpoint_core& endpoint, std::uint32_t endpoint_rate, const frame_format& device_format,
                           const chain_options& options)
    : chain_base(endpoint.device(), endpoint.id(), endpoint_rate, device_format, options, device_format.channels),
      port_(&endpoint.device()), remix_(device_format.channels) {}

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
            if (stage_in(run, out + std::size_t{filled} * channels)) {
                filled += run.frames;
            } else {
                dropped_pending_ += run.frames;
            }
            port_->release_at(run, run.frames);
            input_frames_ += run.frames;
        }
        return filled;
    }
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
        const bool direct = run.segment->format.sample == sample_type::f32 && run.segment->format.sample_rate == endpoint_rate_ &&
                            run.segment->format.channels == remix_.in_channels() && remix_.is_identity() &&
                            device_format_.channels == resampler_->channels();
        if (!direct && !stage_in(run, remixed_.data())) {
            dropped_pending_ += run.frames;
            port_->release_at(run, run.frames);
            input_frames_ += run.frames;
            continue;
        }
        const float* staged = direct ? reinterpret_cast<const float*>(run.data) : remixed_.data();
        const std::uint32_t taken = resampler_->push(staged, run.frames);
        port_->release_at(run, taken);
        input_frames_ += taken;
        if (taken < run.frames) break; // the fifo is full
    }
    return resampler_->pop(out, frames);
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
    // This chain's part ends when its filter has rung out — its delay twice over (soxr's stages
    // ring past their delay) and a block — and its own fractional delay's.
    const double ring = (resampler_ ? 2 * (resampler_->stage().leading_delay_frames() + resampler_->block_frames()) : 0.0) +
                        (delay_.active() ? fractional_delay::taps : 0.0);
    overlap_end_ = static_cast<std::uint64_t>(std::ceil(seam_out + ring));
    seam_planned_ = true;
    input_done_ = input_frames_ >= seam_input_frames_;
    if (input_done_) std::fill(remixed_.begin(), remixed_.end(), 0.0f);
}

std::uint32_t render_chain::ring_out(float* out, std::uint32_t frames) noexcept { // rt-safe: bounded
    const std::uint32_t channels = device_format_.channels;
    const auto want = static_cast<std::uint32_t>(std::min<std::uint64_t>(frames, overlap_end_ > out_index_ ? overlap_end_ - out_index_ : 0));
    std::uint32_t got = want;
    if (resampler_) {
        // Silence through the filter: what it still holds of the old rate comes out (remixed_ is
        // zeros once the input is done). Bounded: each turn pushes a chunk or ends.
        for (int turns = 0; turns < 64 && resampler_->output_frames() < want; ++turns) {
            if (resampler_->push(remixed_.data(), max_in_chunk_) == 0) break;
        }
        got = resampler_->pop(out, want);
    } else {
        std::memset(out, 0, sizeof(float) * std::size_t{want} * channels);
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
        skip_frames_ += share - got;
        if (active()) {
            port_->report(glitch_kind::underrun, port_->stream_position(), to_endpoint_frames(share - got));
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
            input_done_ = true;
            std::fill(remixed_.begin(), remixed_.end(), 0.0f);
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
    if (!seam_planned_) return port_->available_frames() >= input_needed(frames);
    // At a planned seam: this chain needs the old rate's frames up to the seam (or fewer, its
    // last ones), and the successor its share of the period once it joins.
    const bool old_ready = input_done_ || port_->available_frames() >= std::min<std::uint64_t>(
                                                                      input_needed(frames), seam_input_frames_ - input_frames_);
    if (join_offset_ >= static_cast<std::int64_t>(frames)) return old_ready;
    const auto share = static_cast<std::uint32_t>(frames - join_offset_);
    const std::uint64_t needed = successor_->input_needed(static_cast<std::uint32_t>(share + successor_->skip_frames_));
    return old_ready && port_->available_at_rate(successor_->endpoint_rate_) >= needed;
}

// ---------------------------------------------------------------------------------------------
// capture

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
        staged_frames = resampler_->pop(resampled_.data(), static_cast<std::uint32_t>(resampled_.size() / format.channels));
    } else {
        std::memcpy(resampled_.data(), remixed_.data(), sizeof(float) * staged_frames * format.channels);
    }
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
    resampler_->finish();
    const auto capacity = static_cast<std::uint32_t>(resampled_.size() / segment->format.channels);
    for (int i = 0; i < 16 && resampler_->output_frames() > 0; ++i) deliver(resampler_->pop(resampled_.data(), capacity), segment->format);
}

void capture_chain::fill_lost(std::uint32_t frames) noexcept { // rt-safe: bounded
    const std::uint64_t before = port_->stream_position();
    capture(silence_.data(), frames);
    lost_frames_ += port_->stream_position() - before;
    if (lost_frames_ >= endpoint_rate_ / 10) flush_reports();
}


bool capture_chain::ready(std::uint32_t frames) noexcept { // rt-safe: bounded
    if (!active()) return true;
    // A resampler delivers in blocks: leave room for what a period can bring, and a block more.
    const std::uint64_t needed =
        resampler_ ? std::uint64_t{frames} * endpoint_rate_ / device_format_.sample_rate + 2 * block_resampler::default_block_frames
                   : frames;
    return port_->free_frames() >= needed;
}

} // namespace ae::pipeline
