#include <openae/pipeline/device_thread.h>

#include <openae/pipeline/convert.h>
#include <openae/rt/errc.h>
#include <openae/rt/event_signal.h>
#include <openae/rt/monotonic_clock.h>
#include <openae/rt/thread_name.h>

#include <poll.h>
#include <ctime>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace ae::pipeline {
namespace {
constexpr std::size_t max_commands_per_period = 64;
constexpr int offline_poll_ms = 20;
// An offline device wakes its engines every this many periods (and whenever it waits for them).
constexpr int offline_signal_periods = 16;
constexpr std::uint32_t max_channels = remix::max_channels;
} // namespace

const char* to_string(device_event_kind kind) noexcept {
    switch (kind) {
    case device_event_kind::lost: return "device_lost";
    case device_event_kind::format_changed: return "format_changed";
    case device_event_kind::end_of_stream: return "end_of_stream";
    case device_event_kind::finished: return "finished";
    case device_event_kind::realtime_refused: return "realtime_refused";
    case device_event_kind::device_dropped: return "device_dropped";
    }
    return "unknown";
}

device_thread::device_thread(std::unique_ptr<device> dev, const device_thread_options& options)
    : device_(std::move(dev)), options_(options), direction_(device_->direction()),
      commands_(options.max_endpoints + 64),
      retired_(options.max_endpoints + 64), events_(256),
      device_meter_(device_->format().channels, std::max<std::uint32_t>(device_->format().sample_rate / 10, 1)) {}

device_thread::~device_thread() {
    stop();
    collect_retired();
    if (command_fd_ >= 0) ::close(command_fd_);
}

std::expected<std::unique_ptr<device_thread>, device_error> device_thread::create(std::unique_ptr<device> dev,
                                                                                 const device_thread_options& options) {
    if (!dev) return std::unexpected(device_error{make_error_code(errc::bad_argument), "device_thread: no device"});
    if (options.max_endpoints == 0) {
        return std::unexpected(device_error{make_error_code(errc::bad_argument), "device_thread: max_endpoints is 0"});
    }
    std::unique_ptr<device_thread> thread(new device_thread(std::move(dev), options));
    const frame_format& format = thread->device_->format();
    const std::size_t period = thread->device_->period_frames();
    thread->render_chains_.reserve(options.max_endpoints);
    thread->capture_chains_.reserve(options.max_endpoints);
    thread->attached_.reserve(options.max_endpoints);
    // Sized for the widest format a device may switch to.
    thread->mix_.assign(period * max_channels, 0.0f);
    thread->scratch_.assign(period * max_channels, 0.0f);
    thread->device_buffer_.assign(period * max_channels * sizeof(std::int32_t), std::byte{0});
    thread->lost_clock_ = virtual_clock({.rate = static_cast<double>(format.sample_rate),
                                         .period_frames = thread->device_->period_frames()});
    thread->command_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (thread->command_fd_ < 0) {
        return std::unexpected(device_error{make_error_code(errc::io_error), "device_thread: cannot create an eventfd"});
    }
    if (!thread->device_->realtime()) {
        thread->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (thread->wake_fd_ < 0) {
            return std::unexpected(device_error{make_error_code(errc::io_error), "device_thread: cannot create an eventfd"});
        }
        thread->wake_fd_owner_ = std::shared_ptr<const void>(new int(thread->wake_fd_), [](const void* p) {
            const int* fd = static_cast<const int*>(p);
            ::close(*fd);
            delete fd;
        });
    }
    return thread;
}

std::expected<void, device_error> device_thread::send(command&& c) {
    if (!commands_.try_push(std::move(c))) {
        return std::unexpected(device_error{make_error_code(errc::busy), "device '" + device_->spec() + "': command queue full"});
    }
    sent_.fetch_add(1, std::memory_order_acq_rel);
    // A lost device's thread waits on its virtual clock: woken to apply the command at once.
    if (lost_flag_.load(std::memory_order_acquire)) signal_eventfd(command_fd_);
    return {};
}

std::expected<void, device_error> device_thread::attach(render_endpoint_core& endpoint, const chain_options& options) {
    auto chain = build_chain(endpoint, plan(), options);
    if (!chain) return std::unexpected(chain.error());
    return attach(endpoint, std::move(*chain));
}

std::expected<void, device_error> device_thread::attach(capture_endpoint_core& endpoint, const chain_options& options) {
    auto chain = build_chain(endpoint, plan(), options);
    if (!chain) return std::unexpected(chain.error());
    return attach(endpoint, std::move(*chain));
}

std::expected<void, device_error> device_thread::attach(render_endpoint_core& endpoint, std::unique_ptr<render_chain> chain) {
    return attach_built(endpoint, std::move(chain));
}

std::expected<void, device_error> device_thread::attach(capture_endpoint_core& endpoint, std::unique_ptr<capture_chain> chain) {
    return attach_built(endpoint, std::move(chain));
}

template <typename Endpoint, typename Chain>
std::expected<void, device_error> device_thread::attach_built(Endpoint& endpoint, std::unique_ptr<Chain> chain) {
    constexpr bool render = std::is_same_v<Chain, render_chain>;
    if (direction_ != (render ? device_direction::render : device_direction::capture)) {
        return std::unexpected(device_error{make_error_code(errc::bad_argument),
                                            render ? "device '" + device_->spec() + "' records: a render endpoint cannot use it"
                                                   : "device '" + device_->spec() + "' plays: a capture endpoint cannot use it"});
    }
    const std::lock_guard lock(control_mutex_);
    if (!chain || chain->endpoint_id() != endpoint.id() || chain->device_format() != device_->format()) {
        // Built for another endpoint, or for a format this device no longer has.
        return std::unexpected(device_error{make_error_code(errc::bad_argument), "device '" + device_->spec() + "': the chain was built for another format"});
    }
    if (attached_.size() >= options_.max_endpoints) {
        return std::unexpected(device_error{make_error_code(errc::busy), "device '" + device_->spec() + "': endpoint limit reached"});
    }
    if (wake_fd_ >= 0) {
        endpoint.hold(wake_fd_owner_);
        endpoint.device().set_wake_fd(wake_fd_);
    }
    chain_base* raw = chain.get();
    command c;
    c.what = render ? command::kind::attach_render : command::kind::attach_capture;
    if constexpr (render) {
        c.render = std::move(chain);
    } else {
        c.capture = std::move(chain);
    }
    if (auto sent = send(std::move(c)); !sent) return sent;
    attached_.push_back(raw);
    return {};
}

device_thread::chain_plan device_thread::plan() const {
    return chain_plan{device_->format(), device_->period_frames(), 1.0f, device_->spec(), device_->realtime()};
}

template <typename Chain, typename Endpoint>
std::expected<std::unique_ptr<Chain>, device_error> device_thread::build(Endpoint& endpoint, const chain_plan& plan, chain_options options) {
    if (!plan.realtime) options.resampler_latency = resampler::latency::throughput;
    auto chain = Chain::create(endpoint, plan.device_format, plan.period_frames, options);
    if (!chain) return std::unexpected(device_error{chain.error(), "device '" + plan.device_spec + "': cannot build the chain: " + chain.error().message()});
    return std::move(*chain);
}

std::expected<std::unique_ptr<render_chain>, device_error> device_thread::build_chain(render_endpoint_core& endpoint, const chain_plan& plan,
                                                                                      const chain_options& options) {
    return build<render_chain>(endpoint, plan, options);
}

std::expected<std::unique_ptr<capture_chain>, device_error> device_thread::build_chain(capture_endpoint_core& endpoint, const chain_plan& plan,
                                                                                       const chain_options& options) {
    return build<capture_chain>(endpoint, plan, options);
}

namespace {
// Where the endpoint's chain is listed (for set_gain / levels), checked against the chain about
// to succeed it; the successor starts from the gain the endpoint has now.
template <typename Chain, typename Endpoint>
std::expected<chain_base**, device_error> successor_slot(Endpoint& endpoint, Chain* chain, const device& dev,
                                                         std::vector<chain_base*>& attached) {
    const auto it = std::find_if(attached.begin(), attached.end(), [&](chain_base* c) { return c->endpoint_id() == endpoint.id(); });
    if (it == attached.end()) return std::unexpected(device_error{make_error_code(errc::unknown_endpoint), "endpoint not attached"});
    if (!chain || chain->endpoint_id() != endpoint.id()) {
        return std::unexpected(device_error{make_error_code(errc::bad_argument), "device '" + dev.spec() + "': not this endpoint's chain"});
    }
    // Built off this lock: a gain set meanwhile is the one to ramp to.
    chain->gain().set_target((*it)->gain().target());
    return &*it;
}
} // namespace

std::expected<float, std::error_code> device_thread::gain(std::uint32_t endpoint_id) const {
    const std::lock_guard lock(const_cast<std::mutex&>(control_mutex_));
    for (chain_base* c : attached_) {
        if (c->endpoint_id() == endpoint_id) return c->gain().target();
    }
    return std::unexpected(make_error_code(errc::unknown_endpoint));
}

std::expected<void, device_error> device_thread::change_rate(render_endpoint_core& endpoint, const frame_format& format) {
    return change_rate_of(endpoint, format);
}

std::expected<void, device_error> device_thread::change_rate(capture_endpoint_core& endpoint, const frame_format& format) {
    return change_rate_of(endpoint, format);
}

template <typename Endpoint>
std::expected<void, device_error> device_thread::change_rate_of(Endpoint& endpoint, const frame_format& format) {
    auto p = plan_successor(endpoint.id());
    if (!p) return std::unexpected(p.error());
    auto chain = build_chain(endpoint, *p, {.gain = p->gain, .endpoint_format = format});
    if (!chain) return std::unexpected(chain.error());
    return send_successor(endpoint, std::move(*chain));
}

std::expected<device_thread::chain_plan, device_error> device_thread::plan_successor(std::uint32_t endpoint_id) const {
    auto g = gain(endpoint_id);
    if (!g) return std::unexpected(device_error{g.error(), "endpoint not attached"});
    chain_plan p = plan();
    p.gain = *g;
    return p;
}

std::expected<void, device_error> device_thread::send_successor(render_endpoint_core& endpoint, std::unique_ptr<render_chain> chain) {
    return send_built_successor(endpoint, std::move(chain));
}

std::expected<void, device_error> device_thread::send_successor(capture_endpoint_core& endpoint, std::unique_ptr<capture_chain> chain) {
    return send_built_successor(endpoint, std::move(chain));
}

template <typename Endpoint, typename Chain>
std::expected<void, device_error> device_thread::send_built_successor(Endpoint& endpoint, std::unique_ptr<Chain> chain) {
    constexpr bool render = std::is_same_v<Chain, render_chain>;
    if (direction_ != (render ? device_direction::render : device_direction::capture)) {
        return std::unexpected(device_error{make_error_code(errc::bad_argument), render ? "not a render device" : "not a capture device"});
    }
    const std::lock_guard lock(control_mutex_);
    auto slot = successor_slot(endpoint, chain.get(), *device_, attached_);
    if (!slot) return std::unexpected(slot.error());
    chain_base* raw = chain.get();
    command c;
    c.what = command::kind::successor;
    c.endpoint_id = endpoint.id();
    if constexpr (render) {
        c.render = std::move(chain);
    } else {
        c.capture = std::move(chain);
    }
    if (auto sent = send(std::move(c)); !sent) return sent;
    // From now on set_gain and levels() speak to the successor (the old chain's pointer leaves
    // the list before it can be retired and freed).
    **slot = raw;
    return {};
}

std::error_code device_thread::detach(std::uint32_t endpoint_id) {
    const std::lock_guard lock(control_mutex_);
    const auto it = std::find_if(attached_.begin(), attached_.end(), [&](chain_base* c) { return c->endpoint_id() == endpoint_id; });
    if (it == attached_.end()) return make_error_code(errc::unknown_endpoint);
    command c;
    c.what = command::kind::detach;
    c.endpoint_id = endpoint_id;
    if (auto sent = send(std::move(c)); !sent) return sent.error().code;
    attached_.erase(it);
    return {};
}

std::error_code device_thread::set_gain(std::uint32_t endpoint_id, float gain) {
    const std::lock_guard lock(control_mutex_);
    for (chain_base* c : attached_) {
        if (c->endpoint_id() == endpoint_id) {
            c->gain().set_target(gain);
            return {};
        }
    }
    return make_error_code(errc::unknown_endpoint);
}

std::expected<meter_reading, std::error_code> device_thread::endpoint_levels(std::uint32_t endpoint_id) const {
    const std::lock_guard lock(const_cast<std::mutex&>(control_mutex_));
    for (const chain_base* c : attached_) {
        if (c->endpoint_id() == endpoint_id) return c->levels().read();
    }
    return std::unexpected(make_error_code(errc::unknown_endpoint));
}

std::size_t device_thread::attached() const {
    const std::lock_guard lock(const_cast<std::mutex&>(control_mutex_));
    return attached_.size();
}

std::expected<void, device_error> device_thread::start() {
    if (started_) return std::unexpected(device_error{make_error_code(errc::already_running), "device '" + device_->spec() + "' already started"});
    if (auto ok = device_->start(); !ok) return ok;
    started_ = true;
    thread_ = std::thread([this] { run(); });
    return {};
}

void device_thread::stop() {
    if (!thread_.joinable()) return;
    stop_.store(true, std::memory_order_release);
    thread_.join();
    device_->stop();
}

std::size_t device_thread::collect_retired() {
    std::size_t count = 0;
    retired r;
    while (retired_.try_pop(r)) {
        r = retired{};
        ++count;
    }
    return count;
}

void device_thread::emit(device_event_kind kind, std::uint64_t frames) noexcept { // rt-safe
    device_event event;
    event.kind = kind;
    event.time = monotonic_now();
    event.device_position = last_timing_.position;
    event.frames = frames;
    event.format = device_->format();
    (void)events_.try_push(event); // full: the control side is far behind; the state is still readable
    signal_eventfd(options_.control_wake_fd);
}

void device_thread::apply_commands() noexcept { // rt-safe
    command c;
    std::size_t i = 0;
    for (; i < max_commands_per_period && commands_.try_pop(c); ++i) {
        switch (c.what) {
        case command::kind::attach_render:
            // Within the reserved capacity: never reallocates.
            if (render_chains_.size() < render_chains_.capacity()) render_chains_.push_back(std::move(c.render));
            break;
        case command::kind::attach_capture:
            if (capture_chains_.size() < capture_chains_.capacity()) capture_chains_.push_back(std::move(c.capture));
            break;
        case command::kind::successor: {
            bool placed = false;
            for (auto& chain : render_chains_) {
                if (c.render && chain->endpoint_id() == c.endpoint_id) {
                    chain->set_successor(std::move(c.render));
                    placed = true;
                }
            }
            for (auto& chain : capture_chains_) {
                if (c.capture && chain->endpoint_id() == c.endpoint_id) {
                    chain->set_successor(std::move(c.capture));
                    placed = true;
                }
            }
            if (!placed) {
                retired r; // the endpoint left first: the successor goes back unused
                r.render = std::move(c.render);
                r.capture = std::move(c.capture);
                (void)retired_.try_push(std::move(r));
            }
            break;
        }
        case command::kind::detach: {
            auto leave = [&](auto& chains, auto member) {
                for (std::size_t k = 0; k < chains.size(); ++k) {
                    if (chains[k]->endpoint_id() != c.endpoint_id) continue;
                    chains[k]->flush_reports();
                    retired r;
                    r.*member = std::move(chains[k]);
                    chains[k] = std::move(chains.back());
                    chains.pop_back();
                    // Sized for every chain there can be: cannot fail.
                    (void)retired_.try_push(std::move(r));
                    return;
                }
            };
            leave(render_chains_, &retired::render);
            leave(capture_chains_, &retired::capture);
            break;
        }
        }
        c = command{};
        // release: whatever the command changed is done before the control side sees it applied.
        applied_.fetch_add(1, std::memory_order_release);
    }
    // The control side may be waiting for it (a detach before a reroute or a destroy).
    if (i != 0) signal_eventfd(options_.control_wake_fd);
}

void device_thread::set_waiting(bool waiting) noexcept { // rt-safe
    for (auto& chain : render_chains_) chain->port().set_device_waiting(waiting);
    for (auto& chain : capture_chains_) chain->port().set_device_waiting(waiting);
}

// An offline device has no clock of its own: it moves when every running endpoint is ready,
// and holds while none runs (a file records what endpoints played, not the time before them).
bool device_thread::endpoints_ready(std::uint32_t frames) noexcept { // rt-safe
    bool any_active = false;
    for (auto& chain : render_chains_) {
        any_active = any_active || chain->active();
        if (!chain->ready(frames)) return false;
    }
    for (auto& chain : capture_chains_) {
        any_active = any_active || chain->active();
        if (!chain->ready(frames)) return false;
    }
    return any_active;
}

void device_thread::wait() noexcept { // rt-safe: the one wait point
    if (options_.hooks.wait_begin) options_.hooks.wait_begin(options_.hooks.context);
    if (lost_) {
        // Until the virtual clock's next period, commands are applied as they come: a reroute's
        // detach is the control side's last step before the endpoint plays on its new device,
        // and a period's wait for it is what the reroute took.
        const hns due = lost_clock_.next_wake();
        for (int turns = 0; turns < 64 && command_fd_ >= 0; ++turns) { // bounded: each turn waits or ends
            const hns now = monotonic_now();
            if (now >= due) break;
            const std::int64_t left = (due - now).count();
            const timespec timeout{static_cast<time_t>(left / 10'000'000), static_cast<long>(left % 10'000'000) * 100};
            pollfd p{command_fd_, POLLIN, 0};
            if (::ppoll(&p, 1, &timeout, nullptr) <= 0) break;
            std::uint64_t count = 0;
            [[maybe_unused]] const auto got = ::read(command_fd_, &count, sizeof count);
            apply_commands();
        }
        device_timing at = lost_clock_.wait_next();
        at.position += lost_base_position_;
        last_timing_ = at;
        last_status_ = device_status::ok;
    } else {
        last_status_ = device_->wait_period();
        if (last_status_ != device_status::lost) last_timing_ = device_->timing();
        // Offline: the device is as fast as the CPU; wait for the engines instead.
        if (!device_->realtime() && last_status_ == device_status::ok) {
            const std::uint32_t frames = device_->period_frames();
            // Engines are woken once, when the device has to wait for them, not every period:
            // an offline render runs through what is queued, then the engines fill it again
            // (a wake-up per period made it a ping-pong of two threads).
            bool engines_woken = false;
            while (!stop_.load(std::memory_order_acquire) && !endpoints_ready(frames)) {
                if (!engines_woken) {
                    signal_engines();
                    engines_woken = true;
                    offline_periods_unsignalled_ = 0;
                }
                // Ask the engines to signal, then look once more: frames written before the
                // flag was seen are found here, any after it are signalled (the poll's bound is
                // a safety net, not the pace).
                set_waiting(true);
                if (endpoints_ready(frames)) {
                    set_waiting(false);
                    break;
                }
                pollfd p{wake_fd_, POLLIN, 0};
                if (::poll(&p, 1, offline_poll_ms) > 0) {
                    std::uint64_t count = 0;
                    [[maybe_unused]] const auto got = ::read(wake_fd_, &count, sizeof count);
                }
                set_waiting(false);
                apply_commands();
                // A stopped endpoint's reset is acknowledged while the device holds.
                for (auto& chain : render_chains_) chain->poll_reset();
            }
        }
    }
    if (options_.hooks.wait_end) options_.hooks.wait_end(options_.hooks.context);
}

void device_thread::promote_successors() noexcept { // rt-safe
    auto promote = [&](auto& chains, auto member) {
        for (auto& chain : chains) {
            if (!chain->handed_over()) continue;
            auto next = chain->take_successor();
            retired r;
            r.*member = std::move(chain);
            chain = std::move(next);
            // Sized for every chain there can be, successors included: cannot fail.
            (void)retired_.try_push(std::move(r));
        }
    };
    promote(render_chains_, &retired::render);
    promote(capture_chains_, &retired::capture);
}

void device_thread::enter_lost(device_event_kind why) noexcept { // rt-safe
    if (lost_) return;
    lost_ = true;
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

void device_thread::render_period(std::uint32_t frames) noexcept { // rt-safe
    if (lost_) {
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
        convert_samples(out, sample_type::f32, device_buffer_.data(), format.sample, samples);
        out = device_buffer_.data();
    }
    if (device_->play(out, frames) == device_status::lost) {
        // This period's frames went into a device that was gone.
        for (auto& chain : render_chains_) chain->lost_period(frames);
        enter_lost(device_event_kind::lost);
    }
}

void device_thread::capture_period(std::uint32_t frames) noexcept { // rt-safe
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
        convert_samples(device_buffer_.data(), format.sample, reinterpret_cast<std::byte*>(mix_.data()), sample_type::f32, samples);
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

void device_thread::signal_engines() noexcept { // rt-safe
    // Event-driven engines wake once per period. Endpoints of one engine usually share its fd:
    // signal each run of equal fds once (a write is a syscall; a thousand of them a period is not).
    int last = -1;
    auto signal = [&](int fd) {
        if (fd < 0 || fd == last) return;
        signal_eventfd(fd);
        last = fd;
    };
    for (auto& chain : render_chains_) signal(chain->port().engine_event_fd());
    for (auto& chain : capture_chains_) signal(chain->port().engine_event_fd());
}

void device_thread::run() noexcept {
    const std::string name = "ae-rt-dev-" + device_->spec().substr(0, device_->spec().find_first_of(":?"));
    set_current_thread_name(name.c_str());
    if (options_.realtime_priority > 0 && !try_set_realtime_priority(options_.realtime_priority)) {
        emit(device_event_kind::realtime_refused);
    }
    if (options_.hooks.started) options_.hooks.started(options_.hooks.context);
    std::uint64_t done = 0;
    while (!stop_.load(std::memory_order_acquire)) {
        apply_commands();
        wait();
        if (stop_.load(std::memory_order_acquire)) break;
        // Again after the wait: a command sent while the thread slept (a rate change's successor
        // chain, sent before its new ring) is in place before this period's frames move.
        apply_commands();
        if (last_status_ == device_status::lost) {
            enter_lost(device_event_kind::lost);
            continue; // the next wait paces on the virtual clock
        }
        if (last_status_ == device_status::format_changed) {
            const frame_format& format = device_->format();
            if (format.sample_rate != lost_clock_.settings().rate || format.channels > max_channels) {
                // A new rate needs rebuilt chains (the control plane's job): until then the
                // endpoints run on the virtual clock and their frames count as device_lost.
                enter_lost(device_event_kind::format_changed);
                continue;
            }
            for (auto& chain : render_chains_) chain->set_device_channels(format.channels);
            for (auto& chain : capture_chains_) chain->set_device_channels(format.channels);
            emit(device_event_kind::format_changed);
        }
        std::uint32_t frames = device_->period_frames();
        if (options_.stop_after_frames != 0) {
            frames = static_cast<std::uint32_t>(std::min<std::uint64_t>(frames, options_.stop_after_frames - done));
        }
        if (direction_ == device_direction::render) {
            render_period(frames);
        } else {
            capture_period(frames);
        }
        promote_successors();
        for (auto& chain : render_chains_) chain->observe(last_timing_);
        for (auto& chain : capture_chains_) chain->observe(last_timing_);
        // Offline: every few periods (the engines top up while the device goes on with what is
        // queued: two cores at work) and when it has to wait for them (wait()).
        if (device_->realtime() || lost_ || ++offline_periods_unsignalled_ >= offline_signal_periods) {
            signal_engines();
            offline_periods_unsignalled_ = 0;
        }
        done += frames;
        frames_.store(done, std::memory_order_release);
        periods_.fetch_add(1, std::memory_order_relaxed);
        if (const std::uint64_t drops = device_->device_dropped_frames(); drops != reported_device_drops_) {
            emit(device_event_kind::device_dropped, drops - reported_device_drops_);
            reported_device_drops_ = drops;
        }
        if (last_status_ == device_status::end_of_stream) {
            emit(device_event_kind::end_of_stream);
            break;
        }
        if (options_.stop_after_frames != 0 && done >= options_.stop_after_frames) break;
    }
    for (auto& chain : render_chains_) chain->flush_reports();
    for (auto& chain : capture_chains_) chain->flush_reports();
    if (stop_.load(std::memory_order_acquire) == false) emit(device_event_kind::finished);
    finished_.store(true, std::memory_order_release);
    if (options_.hooks.stopping) options_.hooks.stopping(options_.hooks.context);
}

} // namespace ae::pipeline
