// A capture endpoint feeding a render endpoint with drift control (bridge_pump.h).
#include <openae/pipeline/bridge_pump.h>

#include "queue_level_control.h"

#include <openae/rt/errc.h>
#include <openae/rt/event_signal.h>
#include <openae/rt/monotonic_clock.h>

#include <algorithm>
#include <cstring>

namespace ae::pipeline {
namespace {

// The resampler takes 5 ms blocks: what the pump holds back waiting for a block stays small.
constexpr std::uint32_t block_ms = 5;
// The most frames one capture period can bring (the largest device period openae runs).
constexpr std::size_t max_period_frames = 8192;
// Reads per pass: the capture ring holds at most a few periods; a bound, not a budget.
constexpr int max_reads_per_pass = 64;
// The render ring's lowest level, just before a write, that is not yet a near miss: half the
// margin the lowest level is placed at (options::margin_ms).
constexpr double guard_share = 0.5;
// The drift resampler's range: three times an RDP client's pace range (±1000 ppm), so a bridge
// into RDP speakers that run at their limit still has room (a 10-minute run against xfreerdp
// with ±1000 here had both at their limits for minutes and the bridge's ring ran short 68 times).
// 3000 ppm is 5 cents of pitch, reached only while a queue is far off its level.
constexpr double max_correction_ppm = 3000;
// The correction this close to its limit is saturated.
constexpr double saturated_ppm = 0.95 * max_correction_ppm;
// After the set point rose, the level needs a while to follow (drift control's averaging).
constexpr hns raise_interval{20'000'000}; // 2 s

} // namespace

std::expected<std::unique_ptr<bridge_pump>, std::error_code> bridge_pump::create(capture_endpoint_rt& from, render_endpoint_rt& to,
                                                                                 const options& opts) {
    if (opts.rate < min_sample_rate || opts.rate > max_sample_rate || opts.channels == 0 || opts.channels > max_channels) {
        return std::unexpected(make_error_code(errc::unsupported_format));
    }
    const std::uint32_t five_ms = std::max<std::uint32_t>(16, opts.rate * block_ms / 1000);
    const std::uint32_t block = opts.block_frames == 0 ? five_ms : std::clamp<std::uint32_t>(opts.block_frames, 16, five_ms);
    auto rs = resampler::create(opts.rate, opts.rate, opts.channels, resampler::mode::variable, block, resampler::latency::low, max_correction_ppm);
    if (!rs) return std::unexpected(rs.error());
    return std::unique_ptr<bridge_pump>(new bridge_pump(from, to, opts, std::move(*rs)));
}

bridge_pump::bridge_pump(capture_endpoint_rt& from, render_endpoint_rt& to, const options& opts, resampler rs)
    : from_(&from), to_(&to), options_(opts), resampler_(std::move(rs)), control_(std::make_unique<queue_level_control>(opts.rate, max_correction_ppm)),
      staged_((resampler_.block_frames() + max_period_frames) * opts.channels),
      resampled_(resampler_.max_output_for(resampler_.block_frames()) * opts.channels) {
    control_->restart(monotonic_now());
}

bridge_pump::~bridge_pump() = default;

std::uint64_t bridge_pump::prefill(std::uint64_t frames) noexcept {
    std::uint64_t written = 0;
    (void)to_->current_padding(); // the RT view picks up its ring on its first call
    while (written < frames) {
        const std::uint32_t packet = to_->frames_per_packet();
        if (packet == 0) break;
        const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(packet, frames - written));
        if (!to_->output_data_pointer(n)) break;
        to_->release_output_data_pointer({nullptr, n, buffer_flags::silent});
        written += n;
    }
    return written;
}

void bridge_pump::after_device_period() noexcept { // rt-safe: bounded
    const std::size_t channels = options_.channels;
    const std::size_t capacity = staged_.size() / channels;
    const std::uint32_t block = resampler_.block_frames();
    const hns now = monotonic_now(); // one clock read per pass
    guard_level(now);
    std::size_t taken = 0; // staged frames already resampled this pass
    for (int read = 0; read < max_reads_per_pass; ++read) {
        const std::uint64_t ready = from_->current_padding();
        if (ready == 0) break;
        const frame_format format = from_->format();
        const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>({ready, capacity - staged_frames_, from_->frames_per_packet()}));
        if (n == 0) break;
        connection_property property{nullptr, n, buffer_flags::invalid};
        if (from_->input_data_pointer(property) != errc{}) break;
        // The bridge made both endpoints in its format; another one (a host's set_format on them)
        // is not carried: the frames are consumed and counted as dropped.
        if (format.sample == sample_type::f32 && format.channels == channels && format.sample_rate == options_.rate) {
            std::memcpy(staged_.data() + staged_frames_ * channels, property.buffer, std::size_t{n} * channels * sizeof(float));
            staged_frames_ += n;
        } else {
            dropped_frames_.fetch_add(n, std::memory_order_relaxed);
        }
        from_->release_input_data_pointer(n, property.buffer);
        frames_in_.fetch_add(n, std::memory_order_relaxed);
        while (staged_frames_ - taken >= block) {
            const auto r = resampler_.process(staged_.data() + taken * channels, block, resampled_.data(), resampled_.size() / channels);
            write_render(resampled_.data(), r.produced);
            taken += r.consumed;
            if (r.consumed == 0) break;
        }
        if (taken > 0) {
            // Keep only the part of a block that waits for the next period.
            std::memmove(staged_.data(), staged_.data() + taken * channels, (staged_frames_ - taken) * channels * sizeof(float));
            staged_frames_ -= taken;
            taken = 0;
        }
    }
    from_->processing_complete();
    to_->processing_complete();
    steer(now);
    if (passes_.fetch_add(1, std::memory_order_relaxed) == 0) signal_eventfd(options_.first_pass_fd);
}

void bridge_pump::guard_level(hns now) noexcept { // rt-safe: wait-free
    // Just before the pump writes, the render ring is at its lowest since the last pass: how near
    // the render device came to finding it short. The level drift control holds is the one the
    // queue settled at in its first second, moved so that this lowest point sits `margin_ms` above
    // empty: as little latency as the two devices' periods and phase allow, and no more. Later,
    // a lowest point under half of it (a device late, a phase the first second did not show)
    // raises it again — once per `raise_interval`, so one dip is not counted for every pass.
    const auto lowest = static_cast<double>(to_->current_padding());
    const double safe = options_.rate * options_.margin_ms / 1000.0;
    if (!control_->target_known()) {
        settle_lowest_ = std::min(settle_lowest_, lowest);
        return;
    }
    if (!target_placed_) {
        target_placed_ = true;
        last_raise_ = now;
        const double excess = settle_lowest_ - safe;
        if (excess > 0) {
            // The first level was more than the devices need (it covers both periods however
            // late the capture side starts): the set point glides down (0.5 ms/s, inaudible)
            // rather than cutting audio or swinging the resampler to its limit.
            control_->lower_floor(excess);
        } else {
            control_->shift_target(-excess);
        }
        return;
    }
    if (lowest >= guard_share * safe || now - last_raise_ < raise_interval) return;
    // Not while the correction is already at its limit the way that fills the queue (the render
    // device running faster than the resampler can follow, an RDP client refilling its own
    // queue): the level is low because of the limit, and a higher target would only wind up.
    if (control_->correction() <= -saturated_ppm) return;
    // Raised for a while, then back down (a device late once should not cost latency for good).
    control_->raise_target(safe - lowest, now);
    last_raise_ = now;
    raises_.fetch_add(1, std::memory_order_relaxed);
}

void bridge_pump::write_render(const float* samples, std::size_t frames) noexcept { // rt-safe: wait-free
    const std::size_t channels = options_.channels;
    while (frames > 0) {
        const std::uint32_t packet = to_->frames_per_packet();
        const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(frames, packet));
        const auto span = n == 0 ? std::expected<std::byte*, errc>(std::unexpected(errc::not_initialized)) : to_->output_data_pointer(n);
        if (!span) {
            // The render ring is full (its device stalled) or not there: the render endpoint
            // records the overrun; the pump counts what it could not write.
            dropped_frames_.fetch_add(frames, std::memory_order_relaxed);
            return;
        }
        std::memcpy(*span, samples, std::size_t{n} * channels * sizeof(float));
        to_->release_output_data_pointer({*span, n, buffer_flags::valid});
        frames_out_.fetch_add(n, std::memory_order_relaxed);
        samples += std::size_t{n} * channels;
        frames -= n;
    }
}

void bridge_pump::steer(hns now) noexcept { // rt-safe: bounded
    // The render ring's padding drops by a whole device period at each of the render device's
    // reads, so sampled at the capture device's instants it swings by up to that period with the
    // two devices' phase (a beat that can last minutes when the periods are nearly equal). The
    // device's read taken as continuous instead: less what it has consumed, at the queue's rate,
    // since its last read. Sampled right after each write, that is smooth, and moves only with
    // the drift.
    double queued = static_cast<double>(to_->current_padding());
    if (const hns read = to_->device_read_time(); read.count() > 0 && now > read) {
        queued -= std::min(1.0, static_cast<double>((now - read).count()) * 1e-7) * options_.rate;
    }
    queued += static_cast<double>(staged_frames_) + resampler_.delay_frames();
    const auto ppm = control_->sample(queued, now, options_.drift_control);
    if (ppm) {
        (void)resampler_.set_ratio_adjust(*ppm);
        drift_ppm_.store(*ppm, std::memory_order_relaxed);
    }
    queue_frames_.store(queued, std::memory_order_relaxed);
    average_frames_.store(control_->average(), std::memory_order_relaxed);
    target_frames_.store(control_->target_known() ? control_->target() : 0.0, std::memory_order_relaxed);
}

bridge_pump::figures bridge_pump::read_figures() const noexcept {
    figures f;
    f.queue_frames = queue_frames_.load(std::memory_order_relaxed);
    f.average_frames = average_frames_.load(std::memory_order_relaxed);
    f.target_frames = target_frames_.load(std::memory_order_relaxed);
    f.drift_ppm = drift_ppm_.load(std::memory_order_relaxed);
    f.frames_in = frames_in_.load(std::memory_order_relaxed);
    f.frames_out = frames_out_.load(std::memory_order_relaxed);
    f.dropped_frames = dropped_frames_.load(std::memory_order_relaxed);
    f.passes = passes_.load(std::memory_order_relaxed);
    f.raises = raises_.load(std::memory_order_relaxed);
    return f;
}

} // namespace ae::pipeline
