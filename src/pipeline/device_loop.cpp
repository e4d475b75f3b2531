#include <openae/pipeline/device_loop.h>

#include <openae/pipeline/convert.h>
#include <openae/rt/event_signal.h>
#include <openae/rt/monotonic_clock.h>

#include <poll.h>
#include <ctime>
#include <unistd.h>

#include <algorithm>

namespace ae::pipeline {
namespace {
constexpr int offline_poll_ms = 20;
// An offline device wakes its engines every this many periods (and whenever it waits for them).
constexpr int offline_signal_periods = 16;
constexpr std::uint32_t max_channels = remix::max_channels;
// How long render rings are held for a device opened again after a rate change: far more than a
// JACK client's open (tens of ms), little enough that an engine is not stalled for long if it fails.
constexpr double reshape_hold_seconds = 0.5;

void drain_eventfd(int fd) noexcept { // rt-safe: wait-free (the fd is non-blocking)
    std::uint64_t count = 0;
    [[maybe_unused]] const auto got = ::read(fd, &count, sizeof count);
}
} // namespace

const char* to_string(device_event_kind kind) noexcept {
    switch (kind) {
    case device_event_kind::lost: return "device_lost";
    case device_event_kind::format_changed: return "format_changed";
    case device_event_kind::period_changed: return "period_changed";
    case device_event_kind::end_of_stream: return "end_of_stream";
    case device_event_kind::finished: return "finished";
    case device_event_kind::realtime_refused: return "realtime_refused";
    case device_event_kind::device_dropped: return "device_dropped";
    case device_event_kind::latency_changed: return "latency_changed";
    }
    return "unknown";
}

device_loop::device_loop(device& dev, const device_thread_options& options, device_loop_ends ends)
    : device_(&dev), options_(options), direction_(dev.direction()), ends_(std::move(ends)),
      device_meter_(dev.format().channels, std::max<std::uint32_t>(dev.format().sample_rate / 10, 1)) {
    // Sized for the longest period and the widest format the device may switch to while it runs.
    const std::size_t period = dev.max_period_frames();
    cycle_frames_ = dev.period_frames();
    render_chains_.reserve(options.max_endpoints);
    capture_chains_.reserve(options.max_endpoints);
    mix_.assign(period * max_channels, 0.0f);
    scratch_.assign(period * max_channels, 0.0f);
    device_buffer_.assign(period * max_channels * sizeof(std::int32_t), std::byte{0});
    lost_clock_ = virtual_clock({.rate = static_cast<double>(dev.format().sample_rate), .period_frames = dev.period_frames()});
}

void device_loop::emit(device_event_kind kind, std::uint64_t frames) noexcept { // rt-safe: wait-free
    device_event event;
    event.kind = kind;
    event.time = monotonic_now();
    event.device_position = last_timing_.position;
    event.frames = frames;
    event.format = device_->format();
    (void)ends_.events.try_push(event); // full: the control side is far behind; the state is still readable
    signal_eventfd(options_.control_wake_fd);
}

void device_loop::set_waiting(bool waiting) noexcept { // rt-safe: bounded
    for (auto& chain : render_chains_) chain->port().set_device_waiting(waiting);
    for (auto& chain : capture_chains_) chain->port().set_device_waiting(waiting);
}

// An offline device has no clock of its own: it moves when every running endpoint is ready,
// and holds while none runs (a file records what endpoints played, not the time before them).
bool device_loop::endpoints_ready(std::uint32_t frames) noexcept { // rt-safe: bounded
    bool any_active = false;
    auto all_ready = [&](auto& chains) {
        return std::ranges::all_of(chains, [&](auto& chain) {
            any_active = any_active || chain->active();
            return chain->ready(frames);
        });
    };
    return all_ready(render_chains_) && all_ready(capture_chains_) && any_active;
}

void device_loop::wait_for_engines() noexcept { // rt-safe: waits for the engines only
    const std::uint32_t frames = device_->period_frames();
    // Engines are woken once, when the device has to wait for them, not every period (a wake-up
    // per period made an offline render a ping-pong of two threads).
    bool engines_woken = false;
    while (!stop_requested() && !endpoints_ready(frames)) {
        if (!engines_woken) {
            signal_engines();
            engines_woken = true;
            offline_periods_unsignalled_ = 0;
        }
        // Ask the engines to signal, then look once more: frames written before the flag was
        // seen are found here, any after it are signalled (the poll's bound is a safety net, not
        // the pace).
        set_waiting(true);
        if (endpoints_ready(frames)) {
            set_waiting(false);
            break;
        }
        pollfd p{ends_.engine_wake_fd, POLLIN, 0};
        if (::poll(&p, 1, offline_poll_ms) > 0) drain_eventfd(ends_.engine_wake_fd);
        set_waiting(false);
        apply_commands();
        // A stopped endpoint's reset is acknowledged while the device holds.
        for (auto& chain : render_chains_) chain->poll_reset();
    }
}

device_period device_loop::wait() noexcept { // rt-safe: waits for the device only
    apply_commands();
    if (options_.hooks.wait_begin) options_.hooks.wait_begin(options_.hooks.context);
    device_period period;
    if (lost_) {
        // Until the virtual clock's next period, commands are applied as they come: a reroute's
        // detach is the control side's last step before the endpoint plays on its new device,
        // and a period's wait for it is what the reroute took.
        const hns due = lost_clock_.next_wake();
        // Under a virtual time (a simulation) there is no real wait to fill: the clock arrives.
        for (int turns = 0; turns < 64 && ends_.command_fd >= 0 && !virtual_time_active(); ++turns) { // bounded: each turn waits or ends
            const hns now = monotonic_now();
            if (now >= due) break;
            const std::int64_t left = (due - now).count();
            const timespec timeout{static_cast<time_t>(left / 10'000'000), static_cast<long>(left % 10'000'000) * 100};
            pollfd p{ends_.command_fd, POLLIN, 0};
            if (::ppoll(&p, 1, &timeout, nullptr) <= 0) break;
            drain_eventfd(ends_.command_fd);
            apply_commands();
        }
        period.timing = lost_clock_.wait_next();
        period.timing.position += lost_base_position_;
    } else {
        period.status = device_->wait_period();
        period.timing = period.status == device_status::lost ? last_timing_ : device_->timing();
        // Offline: the device is as fast as the CPU; wait for the engines instead.
        if (!device_->realtime() && period.status == device_status::ok) wait_for_engines();
    }
    if (options_.hooks.wait_end) options_.hooks.wait_end(options_.hooks.context);
    return period;
}

void device_loop::enter_lost(device_event_kind why) noexcept { // rt-safe: bounded
    if (lost_) return;
    lost_ = true;
    if (why == device_event_kind::format_changed) { // see hold_periods_left_
        hold_periods_left_ = static_cast<std::uint32_t>(reshape_hold_seconds * lost_clock_.settings().rate / lost_clock_.settings().period_frames) + 1;
    }
    // release: the chains' state is the lost one before the control side acts on the flag.
    lost_flag_.store(true, std::memory_order_release);
    // The virtual clock takes over from now: positions go on from the device's last one plus
    // the time since it (a loss noticed late must not take that time out of the positions).
    const hns now = monotonic_now();
    std::uint64_t since = 0;
    if (device_->realtime() && last_timing_.time > hns{0} && now > last_timing_.time) {
        since = static_cast<std::uint64_t>(static_cast<double>((now - last_timing_.time).count()) * device_->format().sample_rate / 1e7);
    }
    lost_base_position_ = last_timing_.position + since;
    lost_clock_.start(now);
    for (auto& chain : render_chains_) chain->restart_timing();
    for (auto& chain : capture_chains_) chain->restart_timing();
    emit(why);
}

void device_loop::render_period(std::uint32_t frames) noexcept { // rt-safe: bounded
    if (lost_) {
        if (hold_periods_left_ > 0) {
            --hold_periods_left_;
            return;
        }
        for (auto& chain : render_chains_) chain->drain_lost(frames);
        return;
    }
    const frame_format& format = device_->format();
    const std::size_t samples = std::size_t{frames} * format.channels;
    std::fill_n(mix_.data(), samples, 0.0f);
    for (auto& chain : render_chains_) {
        chain->render(scratch_.data(), frames);
        mix_add(scratch_.data(), mix_.data(), samples);
    }
    device_meter_.process(mix_.data(), frames);
    const std::byte* out = reinterpret_cast<const std::byte*>(mix_.data());
    if (format.sample != sample_type::f32) {
        (void)convert_samples(out, sample_type::f32, device_buffer_.data(), format.sample, samples);
        out = device_buffer_.data();
    }
    if (device_->play(out, frames) == device_status::lost) {
        // This period's frames went into a device that was gone.
        for (auto& chain : render_chains_) chain->lost_period(frames);
        enter_lost(device_event_kind::lost);
    }
}

void device_loop::capture_period(std::uint32_t frames) noexcept { // rt-safe: bounded
    if (lost_) {
        for (auto& chain : capture_chains_) chain->fill_lost(frames);
        return;
    }
    const frame_format& format = device_->format();
    std::size_t samples = std::size_t{frames} * format.channels;
    const device_status status = device_->record(device_buffer_.data(), frames);
    if (status == device_status::lost) {
        enter_lost(device_event_kind::lost);
        for (auto& chain : capture_chains_) chain->fill_lost(frames);
        return;
    }
    if (status == device_status::end_of_stream) {
        // The source's last frames: pass on only what it really had, not its padding.
        frames = std::min(frames, device_->recorded_frames());
        samples = std::size_t{frames} * format.channels;
    }
    const float* in = reinterpret_cast<const float*>(device_buffer_.data());
    if (format.sample != sample_type::f32) {
        (void)convert_samples(device_buffer_.data(), format.sample, reinterpret_cast<std::byte*>(mix_.data()), sample_type::f32, samples);
        in = mix_.data();
    }
    device_meter_.process(in, frames);
    if (frames > 0) {
        for (auto& chain : capture_chains_) chain->capture(in, frames);
    }
    if (status == device_status::end_of_stream) {
        last_status_ = device_status::end_of_stream;
        for (auto& chain : capture_chains_) chain->finish_stream();
    }
}

void device_loop::signal_engines() noexcept { // rt-safe: bounded, non-blocking writes
    // Event-driven engines wake once per period; endpoints of one engine share its fd: signal each
    // run of equal fds once (a write is a syscall; a thousand of them a period is not).
    int last = -1;
    auto signal = [&](int fd) {
        if (fd < 0 || fd == last) return;
        signal_eventfd(fd);
        last = fd;
    };
    for (auto& chain : render_chains_) signal(chain->port().engine_event_fd());
    for (auto& chain : capture_chains_) signal(chain->port().engine_event_fd());
}

device_loop::step_result device_loop::step(const device_period& period) noexcept { // rt-safe: bounded
    const loop_load::scope busy(load_);
    // Commands sent while the loop waited (a rate change's successor) apply before frames move.
    apply_commands();
    last_status_ = period.status;
    if (period.status != device_status::lost) last_timing_ = period.timing;
    if (period.status == device_status::lost) {
        enter_lost(device_event_kind::lost);
        return step_result::go_on; // the next wait paces on the virtual clock
    }
    const frame_format& format = device_->format();
    const bool format_changed = period.status == device_status::format_changed;
    if (period.status == device_status::period_changed ||
        (format_changed && (format.sample_rate != lost_clock_.settings().rate || format.channels > max_channels))) {
        // Chains and buffers are built for the old period or rate: until the control plane
        // rebuilds them, the endpoints run on the virtual clock and their frames count as device_lost.
        enter_lost(device_event_kind::format_changed);
        return step_result::go_on;
    }
    if (format_changed) { // the same rate, other channels: the chains follow
        for (auto& chain : render_chains_) chain->set_device_channels(format.channels);
        for (auto& chain : capture_chains_) chain->set_device_channels(format.channels);
        emit(device_event_kind::format_changed);
    }
    std::uint32_t frames = device_->period_frames();
    if (period.frames != 0) {
        // A self-driven device's cycle: another length is a period change, played as it comes
        // (the buffers and chains are sized for the longest) — no rebuild, no frame lost.
        if (period.frames > device_->max_period_frames()) {
            enter_lost(device_event_kind::format_changed);
            return step_result::go_on;
        }
        // Reported when it moves by more than a resampler's wobble (PipeWire asks a resampled
        // stream for a frame more or less from cycle to cycle): a new quantum, not jitter.
        const std::uint32_t moved = period.frames > cycle_frames_ ? period.frames - cycle_frames_ : cycle_frames_ - period.frames;
        if (moved > 2) {
            cycle_frames_ = period.frames;
            emit(device_event_kind::period_changed, cycle_frames_);
        }
        frames = period.frames;
    }
    if (options_.stop_after_frames != 0) {
        frames = static_cast<std::uint32_t>(std::min<std::uint64_t>(frames, options_.stop_after_frames - done_frames_));
    }
    if (direction_ == endpoint_direction::render) {
        for (const hns read_time = monotonic_now(); auto& chain : render_chains_) chain->port().publish_read_time(read_time);
        render_period(frames);
    } else {
        capture_period(frames);
        // Bridges drain their capture endpoint here, on this thread (a lost device's silence too).
        for (auto& chain : capture_chains_) chain->port().run_consumer();
    }
    hand_over_successors();
    for (auto& chain : render_chains_) chain->observe(last_timing_);
    for (auto& chain : capture_chains_) chain->observe(last_timing_);
    // Offline: every few periods (the engines top up while the device goes on) and when it
    // has to wait for them (wait()).
    if (device_->realtime() || lost_ || ++offline_periods_unsignalled_ >= offline_signal_periods) {
        if (period.defer_engine_wake) {
            engine_wake_pending_ = true;
        } else {
            signal_engines();
        }
        offline_periods_unsignalled_ = 0;
    }
    done_frames_ += frames;
    // release: the frames are in the device before a reader of the count looks at them.
    frames_.store(done_frames_, std::memory_order_release);
    periods_.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t drops = device_->device_dropped_frames();
    if (const std::uint64_t before = std::exchange(reported_device_drops_, drops); drops != before) emit(device_event_kind::device_dropped, drops - before);
    if (const std::uint64_t g = device_->latency_generation(); std::exchange(reported_latency_generation_, g) != g) emit(device_event_kind::latency_changed);
    if (last_status_ == device_status::end_of_stream) {
        // Its last frames may still wait for room in a ring (offline): on until they are out.
        if (std::any_of(capture_chains_.begin(), capture_chains_.end(), [](auto& c) { return c->holding_output(); })) return step_result::go_on;
        emit(device_event_kind::end_of_stream);
        return step_result::done;
    }
    if (options_.stop_after_frames != 0 && done_frames_ >= options_.stop_after_frames) return step_result::done;
    return step_result::go_on;
}

void device_loop::finish() noexcept { // rt-safe: bounded
    for (auto& chain : render_chains_) chain->flush_reports();
    for (auto& chain : capture_chains_) chain->flush_reports();
    if (!stop_requested()) emit(device_event_kind::finished);
    // release: the last reports are queued before finished() says so.
    finished_.store(true, std::memory_order_release);
}

} // namespace ae::pipeline
