#include "context_core.h"

#include <openae/control/context.h>

#include "event_json.h"
#include "json_log.h"

#include <openae/pipeline/device_thread.h>
#include <openae/pipeline/devices.h>
#include <openae/rt/endpoint_core.h>
#include <openae/rt/event_signal.h>
#include <openae/rt/monotonic_clock.h>
#include <openae/rt/thread_name.h>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>

#include <sys/eventfd.h>

#include <array>
#include <bit>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <mutex>
#include <thread>

namespace ae::detail {

struct context_core::device_entry {
    std::string spec;
    endpoint_direction direction = endpoint_direction::render;
    std::unique_ptr<pipeline::device_thread> thread;
    std::size_t users = 0;
    bool lost = false;
};

struct endpoint_block {
    std::string name;
    endpoint_direction direction = endpoint_direction::render;
    endpoint_config config;
    std::uint32_t id = 0;
    std::unique_ptr<render_endpoint_core> render;
    std::unique_ptr<capture_endpoint_core> capture;
    std::string device;                           // the actual route (a device spec)
    context_core::device_entry* entry = nullptr;  // its device thread (registry-owned)
    int reroute_attempts = 0;
    std::vector<std::chrono::steady_clock::time_point> recent_losses; // storm detection
    endpoint_state state = endpoint_state::created;
    frame_format format{};
    std::uint32_t frames_per_packet = 0;
    std::uint64_t buffer_frames = 0;
    std::uint32_t latency_coefficient = 2;
    hns period{0};
    bool attached = false;
    bool destroyed = false;
    bool moving = false;
    bool building = false; // a chain for it is being built off ae-ctl (set_buffer, a rate change)
    std::shared_ptr<asio::steady_timer> hold_down; // storm debounce: the reroute waits for it
    endpoint_stats stats;

    mutable std::mutex summary_mutex; // the getters' copy (control side only, never RT)
    endpoint_summary published;

    [[nodiscard]] endpoint_core& core() noexcept {
        return render ? static_cast<endpoint_core&>(*render) : static_cast<endpoint_core&>(*capture);
    }
    [[nodiscard]] const endpoint_core& core() const noexcept {
        return render ? static_cast<const endpoint_core&>(*render) : static_cast<const endpoint_core&>(*capture);
    }
};

// A successor chain built off ae-ctl for a rate change (one of the two, by direction).
struct context_core::prepared_chain {
    std::expected<std::unique_ptr<pipeline::render_chain>, pipeline::device_error> render{nullptr};
    std::expected<std::unique_ptr<pipeline::capture_chain>, pipeline::device_error> capture{nullptr};
};

struct context_core::repeat_state {
    std::uint64_t count = 0; // repeats folded since the line that opened the window
    std::uint64_t frames = 0;
    std::chrono::steady_clock::time_point opened;
    event last;
    // A refused request's line, folded like an event (no event is emitted for it).
    struct refusal_line {
        std::string op, code, message;
    };
    std::optional<refusal_line> refusal;
};

// An endpoint waiting for a device thread to let go of it (applied() reaching `target`).
struct pending_detach {
    std::shared_ptr<endpoint_block> endpoint; // kept alive: the device thread may still touch it
    context_core::device_entry* entry = nullptr;
    std::uint64_t target = 0;
    std::function<void()> then;
};

// A reset waiting for the device thread to say its queue is discarded.
struct pending_reset {
    std::shared_ptr<endpoint_block> endpoint;
    std::uint32_t generation = 0;
    std::function<void(std::error_code)> done;
    std::chrono::steady_clock::time_point deadline;
};

struct context_core::impl {
    explicit impl(context_options opts) : options(std::move(opts)), drain_timer(io), wake(io) {
        // Device threads and device ports signal it (non-blocking writes from RT threads).
        const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd >= 0) {
            wake.assign(fd);
            wake_fd = fd;
        }
    }

    context_options options;
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::thread thread;
    std::atomic<std::thread::id> control_thread_id{};
    std::shared_ptr<spdlog::logger> logger;
    std::map<std::string, std::shared_ptr<endpoint_block>> endpoints;
    std::vector<std::unique_ptr<device_entry>> devices; // lost ones stay until their endpoints left
    std::map<std::uint64_t, std::function<void(const event&)>> subscribers;
    std::map<std::string, repeat_state> repeats;
    std::uint64_t next_subscriber = 1;
    std::uint32_t next_endpoint_id = 1;
    asio::steady_timer drain_timer;
    // The control wake eventfd: a device event or a reset acknowledgement is acted on at once;
    // the drain timer is left for statistics. -1 when no eventfd could be made (then the
    // drain timer does it all, later).
    asio::posix::stream_descriptor wake;
    int wake_fd = -1;
    std::vector<pending_reset> resets;
    std::vector<pending_detach> detaches;
    bool stopping = false;
};

namespace {

bool valid_format(const frame_format& f) noexcept {
    const bool known_type = f.sample == sample_type::s16 || f.sample == sample_type::s24 || f.sample == sample_type::s32 ||
                            f.sample == sample_type::f32;
    return known_type && f.channels >= 1 && f.channels <= 8 && f.sample_rate >= min_sample_rate &&
           f.sample_rate <= max_sample_rate;
}

std::uint32_t frames_in(hns duration, std::uint32_t rate) noexcept {
    return static_cast<std::uint32_t>(std::max<long long>(1, std::llround(static_cast<double>(duration.count()) * rate / 1e7)));
}

hns duration_of(std::uint64_t frames, std::uint32_t rate) noexcept {
    return hns{static_cast<std::int64_t>(std::llround(static_cast<double>(frames) * 1e7 / rate))};
}

std::string repeat_key(const event& e) {
    std::string key = std::string(to_string(e.kind)) + '|' + e.endpoint;
    if (e.kind == event_kind::glitch) key += std::string("|") + to_string(e.glitch);
    if (e.kind == event_kind::state_changed) key += std::string("|") + to_string(e.state);
    return key;
}

} // namespace

// ---------------------------------------------------------------------------------------------

context_core::context_core(context_options options) : impl_(std::make_unique<impl>(std::move(options))) {
    impl_->logger = control_detail::make_json_logger(impl_->options);
}

context_core::~context_core() { stop_thread(); }

spdlog::logger& context_core::logger() const noexcept { return *impl_->logger; }

asio::any_io_executor context_core::executor() const { return impl_->io.get_executor(); }

bool context_core::on_control_thread() const noexcept {
    return impl_->control_thread_id.load(std::memory_order_acquire) == std::this_thread::get_id();
}

void context_core::start_thread() {
    std::promise<void> running;
    auto started = running.get_future();
    impl_->thread = std::thread([this, &running] {
        set_current_thread_name("ae-ctl");
        impl_->control_thread_id.store(std::this_thread::get_id(), std::memory_order_release);
        running.set_value();
        impl_->io.run();
    });
    started.wait();
    asio::post(impl_->io, [self = shared_from_this()] {
        control_detail::log_json(*self->impl_->logger, spdlog::level::info,
                                 {{"component", "context"}, {"event", "started"}, {"default_device", self->impl_->options.default_device}});
        self->schedule_drain();
        self->watch_wake();
    });
}

void context_core::stop_thread() {
    if (!impl_->thread.joinable()) return;
    if (on_control_thread()) return; // the destructor of the last handle ran on ae-ctl: let run() end
    std::promise<void> done;
    asio::post(impl_->io, [this, &done] {
        impl_->stopping = true;
        impl_->drain_timer.cancel();
        std::error_code ignored;
        impl_->wake.cancel(ignored);
        for (auto& r : impl_->resets) r.done(make_error_code(errc::unknown_endpoint));
        impl_->resets.clear();
        for (auto& [name, e] : impl_->endpoints) {
            if (e->state == endpoint_state::running || e->state == endpoint_state::error) (void)e->core().stop();
            if (e->hold_down) e->hold_down->cancel(); // or run() would wait for it
        }
        drain();
        for (auto& entry : impl_->devices) entry->thread->stop();
        // The context tears everything down itself; what waited for a detach is let go only
        // now that no device thread runs (it holds endpoints a device thread may still touch).
        impl_->detaches.clear();
        drain();
        flush_repeats(true);
        control_detail::log_json(*impl_->logger, spdlog::level::info, {{"component", "context"}, {"event", "stopped"}});
        impl_->endpoints.clear();
        impl_->devices.clear();
        impl_->subscribers.clear(); // they may hold the core (async_wait_event does)
        done.set_value();
    });
    done.get_future().wait();
    // No io.stop(): run() returns once the cancelled timers' handlers have run, so nothing
    // queued keeps the core alive.
    impl_->work.reset();
    impl_->thread.join();
    impl_->logger->flush();
}

// ---------------------------------------------------------------------------------------------
// events and logs

std::uint64_t context_core::subscribe(std::function<void(const event&)> fn) {
    if (!on_control_thread()) {
        std::promise<std::uint64_t> done;
        asio::post(impl_->io, [&] { done.set_value(subscribe(std::move(fn))); });
        return done.get_future().get();
    }
    const std::uint64_t id = impl_->next_subscriber++;
    impl_->subscribers.emplace(id, std::move(fn));
    return id;
}

void context_core::unsubscribe(std::uint64_t id) {
    if (!on_control_thread()) {
        asio::post(impl_->io, [self = shared_from_this(), id] { self->impl_->subscribers.erase(id); });
        return;
    }
    impl_->subscribers.erase(id);
}

void context_core::emit(event e) {
    if (e.time == hns{0}) e.time = monotonic_now();
    // Subscribers see every event; a subscriber may unsubscribe itself while called.
    for (auto it = impl_->subscribers.begin(); it != impl_->subscribers.end();) {
        auto next = std::next(it);
        auto fn = it->second;
        fn(e);
        it = next;
    }
    // The log folds identical events within the repeat window into one line with a count.
    if (open_repeat(repeat_key(e), e)) log_event(e, 1, e.frames);
}

bool context_core::open_repeat(const std::string& key, const event& e) {
    const auto now = std::chrono::steady_clock::now();
    auto found = impl_->repeats.find(key);
    const auto window = std::chrono::microseconds(impl_->options.repeat_window.count() / 10);
    if (found != impl_->repeats.end() && now - found->second.opened < window) {
        ++found->second.count;
        found->second.frames += e.frames;
        found->second.last = e;
        return false;
    }
    if (found != impl_->repeats.end() && found->second.count > 0) log_repeat(found->second);
    impl_->repeats[key] = repeat_state{0, 0, now, e, std::nullopt};
    return true;
}

void context_core::log_refused(const std::string& op, const std::string& code, const std::string& message) {
    const std::string key = "refused|" + op + "|" + code + "|" + message;
    if (!open_repeat(key, event{})) return;
    impl_->repeats[key].refusal = repeat_state::refusal_line{op, code, message};
    control_detail::log_json(*impl_->logger, spdlog::level::warn,
                             {{"component", "control"}, {"event", "request_refused"}, {"op", op}, {"code", code}, {"message", message}});
}

void context_core::log_event(const event& e, std::uint64_t count, std::uint64_t frames) {
    nlohmann::json fields = control_detail::event_json(e);
    fields["component"] = e.kind == event_kind::device_lost || e.kind == event_kind::device_unresponsive ? "device" : "endpoint";
    if (count > 1) {
        fields["repeated"] = count;
        if (e.kind == event_kind::glitch) fields["frames"] = frames;
    }
    const auto level = e.kind == event_kind::glitch || e.kind == event_kind::device_lost || e.kind == event_kind::device_unresponsive
                           ? spdlog::level::warn
                           : spdlog::level::info;
    control_detail::log_json(*impl_->logger, level, fields);
}

void context_core::log_repeat(repeat_state& state) {
    if (state.refusal) {
        control_detail::log_json(*impl_->logger, spdlog::level::warn,
                                 {{"component", "control"}, {"event", "request_refused"}, {"op", state.refusal->op},
                                  {"code", state.refusal->code}, {"message", state.refusal->message}, {"repeated", state.count}});
    } else {
        log_event(state.last, state.count, state.frames);
    }
    state.count = 0;
    state.frames = 0;
}

void context_core::flush_repeats(bool all) {
    const auto now = std::chrono::steady_clock::now();
    const auto window = std::chrono::microseconds(impl_->options.repeat_window.count() / 10);
    for (auto it = impl_->repeats.begin(); it != impl_->repeats.end();) {
        if (all || now - it->second.opened >= window) {
            if (it->second.count > 0) log_repeat(it->second);
            it = impl_->repeats.erase(it);
        } else {
            ++it;
        }
    }
}

void context_core::schedule_drain() {
    if (impl_->stopping) return;
    impl_->drain_timer.expires_after(std::chrono::microseconds(impl_->options.drain_interval.count() / 10));
    impl_->drain_timer.async_wait([self = shared_from_this()](const std::error_code& ec) {
        if (ec || self->impl_->stopping) return;
        self->drain();
        self->check_detached();
        self->check_resets();
        self->flush_repeats(false);
        self->schedule_drain();
    });
}

void context_core::watch_wake() {
    if (impl_->stopping || impl_->wake_fd < 0) return;
    impl_->wake.async_wait(asio::posix::descriptor_base::wait_read, [self = shared_from_this()](const std::error_code& ec) {
        if (ec || self->impl_->stopping) return;
        std::uint64_t count = 0;
        [[maybe_unused]] const auto got = ::read(self->impl_->wake_fd, &count, sizeof count);
        self->drain();
        self->check_detached();
        self->check_resets();
        self->watch_wake();
    });
}

void context_core::check_resets() {
    const auto now = std::chrono::steady_clock::now();
    auto& resets = impl_->resets;
    for (std::size_t i = 0; i < resets.size();) {
        pending_reset& r = resets[i];
        endpoint_block& e = *r.endpoint;
        std::error_code result;
        bool finished = true;
        const std::uint32_t applied = e.core().link().reset_applied.load(std::memory_order_acquire);
        if (static_cast<std::int32_t>(applied - r.generation) >= 0) {
            result = {};
        } else if (e.destroyed) {
            result = make_error_code(errc::unknown_endpoint);
        } else if (!e.moving && (!e.attached || !e.entry || e.entry->thread->finished())) {
            // No device thread reads the endpoint now: the discard is made here.
            (void)e.render->device().begin_period();
        } else if (now >= r.deadline) {
            result = make_error_code(errc::timeout);
            control_detail::log_json(*impl_->logger, spdlog::level::warn,
                                     {{"component", "endpoint"}, {"endpoint", e.name}, {"event", "reset_timeout"},
                                      {"device", e.device}, {"message", "the device thread did not discard the queue within 2 s"}});
        } else {
            finished = false;
        }
        if (!finished) {
            ++i;
            continue;
        }
        auto done = std::move(r.done);
        resets.erase(resets.begin() + static_cast<std::ptrdiff_t>(i));
        done(result);
    }
}

void context_core::drain_glitches(endpoint_block& e) {
    e.core().drain_glitches([&](const glitch_record& r) {
        ++e.stats.glitch_count[static_cast<int>(r.kind)];
        e.stats.glitch_frames[static_cast<int>(r.kind)] += r.frames;
        e.stats.last_glitch = r.time;
        event ev;
        ev.kind = event_kind::glitch;
        ev.endpoint = e.name;
        ev.epoch = r.epoch;
        ev.time = r.time;
        ev.glitch = r.kind;
        ev.stream_position = r.stream_position;
        ev.frames = r.frames;
        emit(std::move(ev));
    });
}

void context_core::drain() {
    for (auto& [name, e] : impl_->endpoints) {
        if (e->state == endpoint_state::running || e->state == endpoint_state::error) {
            const std::uint64_t padding = e->core().link().last_padding.load(std::memory_order_relaxed);
            const int bucket = padding == 0 ? 0 : std::min(endpoint_stats::padding_buckets - 1, static_cast<int>(std::bit_width(padding)));
            auto& st = e->stats;
            ++st.padding_histogram[static_cast<std::size_t>(bucket)];
            st.padding_min = st.padding_samples == 0 ? padding : std::min(st.padding_min, padding);
            st.padding_max = std::max(st.padding_max, padding);
            ++st.padding_samples;
        }
        drain_glitches(*e);
        e->core().collect_retired();
    }
    struct loss {
        device_entry* entry;
        const char* why;
        hns time; // when the device thread saw it
    };
    std::vector<loss> lost;
    for (auto& entry : impl_->devices) {
        entry->thread->control().collect_retired();
        pipeline::device_event de;
        while (entry->thread->control().try_pop_event(de)) {
            if (de.kind == pipeline::device_event_kind::lost && !entry->lost) {
                lost.push_back({entry.get(), "device went away; its endpoints run on the virtual clock", de.time});
            } else if (de.kind == pipeline::device_event_kind::format_changed && entry->thread->lost() && !entry->lost) {
                lost.push_back({entry.get(), "device changed its rate; its endpoints run on the virtual clock", de.time});
            } else if (de.kind == pipeline::device_event_kind::realtime_refused) {
                control_detail::log_json(*impl_->logger, spdlog::level::warn,
                                         {{"component", "device"}, {"event", "realtime_refused"}, {"device", entry->spec},
                                          {"message", "device thread runs without SCHED_FIFO"}});
            } else if (de.kind == pipeline::device_event_kind::device_dropped) {
                control_detail::log_json(*impl_->logger, spdlog::level::warn,
                                         {{"component", "device"}, {"event", "device_dropped"}, {"device", entry->spec},
                                          {"frames", de.frames}});
            }
        }
    }
    // Handled after the loop: rerouting opens devices (the registry grows).
    for (const auto& l : lost) on_device_lost(*l.entry, l.why, l.time);
}

// ---------------------------------------------------------------------------------------------
// endpoints

std::shared_ptr<endpoint_block> context_core::find(const std::string& name) const {
    const auto it = impl_->endpoints.find(name);
    return it == impl_->endpoints.end() ? nullptr : it->second;
}

namespace {
// Makes and starts a device thread: blocking (files, servers, a device that hangs) — never on
// ae-ctl (open_device_async runs it on a helper thread).
std::expected<std::unique_ptr<pipeline::device_thread>, pipeline::device_error> open_blocking(const std::string& spec,
                                                                                               endpoint_direction direction,
                                                                                               hns offline_stop_after,
                                                                                               const pipeline::device_thread_hooks& hooks,
                                                                                               int control_wake_fd) {
    const auto device_direction =
        direction == endpoint_direction::render ? pipeline::device_direction::render : pipeline::device_direction::capture;
    auto dev = pipeline::make_device(spec, device_direction);
    if (!dev) return std::unexpected(dev.error());
    pipeline::device_thread_options options;
    options.hooks = hooks;
    options.control_wake_fd = control_wake_fd;
    if (!(*dev)->realtime() && offline_stop_after > hns{0}) {
        options.stop_after_frames = static_cast<std::uint64_t>(
            std::llround(static_cast<double>(offline_stop_after.count()) * (*dev)->format().sample_rate / 1e7));
    }
    auto thread = pipeline::device_thread::create(std::move(*dev), options);
    if (!thread) return std::unexpected(thread.error());
    if (auto started = (*thread)->start(); !started) return std::unexpected(started.error());
    return std::move(*thread);
}
} // namespace

context_core::device_entry* context_core::find_device(const std::string& spec, endpoint_direction direction) const {
    for (const auto& entry : impl_->devices) {
        if (!entry->lost && entry->spec == spec && entry->direction == direction) return entry.get();
    }
    return nullptr;
}

context_core::device_entry* context_core::adopt_device(const std::string& spec, endpoint_direction direction,
                                                       std::unique_ptr<pipeline::device_thread> thread) {
    if (device_entry* existing = find_device(spec, direction)) {
        // Opened twice at once (two reroutes): keep the first, let this one go.
        thread->stop();
        return existing;
    }
    auto entry = std::make_unique<device_entry>();
    entry->spec = spec;
    entry->direction = direction;
    entry->thread = std::move(thread);
    control_detail::log_json(*impl_->logger, spdlog::level::info,
                             {{"component", "device"}, {"event", "opened"}, {"device", spec},
                              {"format", control_detail::format_json(entry->thread->dev().format())},
                              {"period_frames", entry->thread->dev().period_frames()}});
    impl_->devices.push_back(std::move(entry));
    return impl_->devices.back().get();
}

std::error_code context_core::log_open_failure(const std::string& spec, const pipeline::device_error& error) {
    control_detail::log_json(*impl_->logger, spdlog::level::err,
                             {{"component", "device"}, {"event", "open_failed"}, {"device", spec},
                              {"code", to_string(static_cast<errc>(error.code.value()))}, {"message", error.message}});
    return error.code;
}

void context_core::open_device_async(const std::string& spec, endpoint_direction direction, open_done done) {
    if (device_entry* existing = find_device(spec, direction)) {
        done(existing, {});
        return;
    }
    struct pending {
        bool finished = false;
        open_done done;
        asio::steady_timer timer;
        explicit pending(asio::io_context& io) : timer(io) {}
    };
    auto state = std::make_shared<pending>(impl_->io);
    state->done = std::move(done);
    auto self = shared_from_this();
    state->timer.expires_after(std::chrono::microseconds(impl_->options.open_timeout.count() / 10));
    state->timer.async_wait([self, state, spec](const std::error_code& ec) {
        if (ec || state->finished || self->impl_->stopping) return;
        state->finished = true;
        event ev;
        ev.kind = event_kind::device_unresponsive;
        ev.device = spec;
        ev.message = "open did not finish within " + std::to_string(self->impl_->options.open_timeout.count() / 10'000) + " ms";
        const std::string why = "device '" + spec + "': " + ev.message;
        self->emit(std::move(ev));
        state->done(std::unexpected(make_error_code(errc::timeout)), why);
    });
    // A helper thread, not ae-ctl: an open may hang. It holds the core alive until it ends.
    std::thread([self, state, spec, direction] {
        set_current_thread_name("ae-open");
        auto opened = open_blocking(spec, direction, self->impl_->options.offline_stop_after, self->impl_->options.device_hooks,
                                    self->impl_->wake_fd);
        auto result = std::make_shared<decltype(opened)>(std::move(opened));
        asio::post(self->impl_->io, [self, state, spec, direction, result] {
            if (state->finished || self->impl_->stopping) {
                if (*result) (**result)->stop(); // too late: the caller was told `timeout`
                return;
            }
            state->finished = true;
            state->timer.cancel();
            if (!*result) {
                state->done(std::unexpected(self->log_open_failure(spec, result->error())), result->error().message);
                return;
            }
            state->done(self->adopt_device(spec, direction, std::move(**result)), {});
        });
    }).detach();
}

void context_core::release_device(device_entry* entry) {
    if (!entry) return;
    if (entry->users > 0) --entry->users;
    if (entry->users != 0) return;
    for (auto it = impl_->devices.begin(); it != impl_->devices.end(); ++it) {
        if (it->get() != entry) continue;
        if (entry->lost && !impl_->stopping) {
            // Joining a device thread waits for its wait point, up to a period (a reroute's old
            // device, on its virtual clock): on an "ae-stop" helper, not on ae-ctl. A lost device
            // has nothing left to flush; the registry forgets it now.
            std::shared_ptr<pipeline::device_thread> thread(std::move(entry->thread));
            std::string spec = entry->spec;
            impl_->devices.erase(it);
            off_thread("ae-stop", [this, thread = std::move(thread), spec = std::move(spec)]() mutable -> std::function<void()> {
                thread->stop();
                thread.reset(); // freed here, with the chains it retired
                return [this, spec] {
                    control_detail::log_json(*impl_->logger, spdlog::level::info, {{"component", "device"}, {"event", "closed"}, {"device", spec}});
                };
            });
            return;
        }
        entry->thread->stop();
        entry->thread->control().collect_retired();
        control_detail::log_json(*impl_->logger, spdlog::level::info,
                                 {{"component", "device"}, {"event", "closed"}, {"device", entry->spec}});
        impl_->devices.erase(it);
        return;
    }
}

void context_core::publish(endpoint_block& e) {
    endpoint_summary s;
    s.state = e.state;
    s.format = e.format;
    s.frames_per_packet = e.frames_per_packet;
    s.buffer_frames = e.buffer_frames;
    s.period = e.period;
    s.epoch = e.core().requested_epoch();
    s.device = e.device;
    s.latency = hns{0};
    if (e.buffer_frames != 0) {
        s.latency = duration_of(e.buffer_frames, e.format.sample_rate);
        if (e.entry) s.latency += e.entry->thread->dev().latency();
    }
    const std::lock_guard lock(e.summary_mutex);
    e.published = s;
}

std::expected<endpoint_stats, std::error_code> context_core::stats(const endpoint_block& e) const {
    if (e.destroyed) return std::unexpected(make_error_code(errc::unknown_endpoint));
    endpoint_stats st = e.stats;
    st.discarded_frames = e.core().link().discarded_frames.load(std::memory_order_relaxed);
    return st;
}

endpoint_summary context_core::summary(const endpoint_block& e) {
    const std::lock_guard lock(e.summary_mutex);
    return e.published;
}

const std::string& context_core::name(const endpoint_block& e) noexcept { return e.name; }
endpoint_direction context_core::direction(const endpoint_block& e) noexcept { return e.direction; }
routing_policy context_core::routing(const endpoint_block& e) noexcept { return e.config.routing; }

std::vector<std::shared_ptr<endpoint_block>> context_core::endpoints() const {
    std::vector<std::shared_ptr<endpoint_block>> out;
    out.reserve(impl_->endpoints.size());
    for (const auto& [name, e] : impl_->endpoints) out.push_back(e);
    return out;
}

std::vector<device_info> context_core::devices() const {
    std::vector<device_info> out;
    for (const auto& entry : impl_->devices) {
        const auto& dev = entry->thread->dev();
        device_info d;
        d.spec = entry->spec;
        d.direction = entry->direction;
        d.format = dev.format();
        d.period_frames = dev.period_frames();
        d.latency = dev.latency();
        d.realtime = dev.realtime();
        d.lost = entry->lost || entry->thread->lost();
        d.finished = entry->thread->finished();
        d.users = entry->users;
        d.frames = entry->thread->frames_processed();
        d.periods = entry->thread->periods();
        out.push_back(std::move(d));
    }
    return out;
}

std::error_code context_core::inject(endpoint_block& e, const std::string& fault, std::string& message) {
    if (e.destroyed) return make_error_code(errc::unknown_endpoint);
    if (!e.entry) {
        message = "endpoint '" + e.name + "' has no device right now";
        return make_error_code(errc::device_unavailable);
    }
    auto done = e.entry->thread->dev().inject(fault);
    if (!done) {
        message = done.error().message;
        return done.error().code;
    }
    control_detail::log_json(*impl_->logger, spdlog::level::info,
                             {{"component", "device"}, {"event", "injected"}, {"endpoint", e.name}, {"device", e.entry->spec},
                              {"fault", fault}});
    return {};
}
render_endpoint_rt* context_core::render_rt(endpoint_block& e) noexcept { return e.render ? &e.render->rt() : nullptr; }
capture_endpoint_rt* context_core::capture_rt(endpoint_block& e) noexcept { return e.capture ? &e.capture->rt() : nullptr; }

void context_core::latency_changed_since(endpoint_block& e, hns before) {
    const hns after = summary(e).latency;
    if (after == before) return;
    event ev;
    ev.kind = event_kind::latency_changed;
    ev.endpoint = e.name;
    ev.epoch = e.core().requested_epoch();
    ev.latency = after;
    emit(std::move(ev));
}

void context_core::state_changed(endpoint_block& e, endpoint_state state) {
    e.state = state;
    publish(e);
    event ev;
    ev.kind = event_kind::state_changed;
    ev.endpoint = e.name;
    ev.epoch = e.core().requested_epoch();
    ev.state = state;
    emit(std::move(ev));
}

void context_core::create(endpoint_direction direction, const endpoint_config& config, create_done done) {
    if (config.name.empty() || config.name.size() > 256) return done(std::unexpected(make_error_code(errc::bad_argument)), {});
    if (impl_->endpoints.contains(config.name)) return done(std::unexpected(make_error_code(errc::already_initialized)), {});
    if (!valid_format(config.format)) return done(std::unexpected(make_error_code(errc::unsupported_format)), {});
    if (config.period < hns{0}) return done(std::unexpected(make_error_code(errc::bad_argument)), {});
    const std::string device = config.device.empty() ? impl_->options.default_device : config.device;
    // The device is opened now (off ae-ctl, with the open timeout), so a bad spec fails the
    // creation, not a later set_buffer.
    open_device_async(device, direction, [this, direction, config, device, done = std::move(done)](
                                             std::expected<device_entry*, std::error_code> opened, const std::string& why) {
        if (!opened) return done(std::unexpected(opened.error()), why);
        device_entry* const entry = *opened;
        ++entry->users; // held while the chain is built
        auto e = std::make_shared<endpoint_block>();
        e->name = config.name;
        e->direction = direction;
        e->config = config;
        e->format = config.format;
        e->id = impl_->next_endpoint_id++;
        e->device = device;
        e->entry = entry;
        if (direction == endpoint_direction::render) {
            e->render = std::make_unique<render_endpoint_core>(e->id);
            e->render->link().control_wake_fd.store(impl_->wake_fd, std::memory_order_release);
        } else {
            e->capture = std::make_unique<capture_endpoint_core>(e->id);
        }
        auto finish = [this, e, config, done](const std::shared_ptr<prepared_chain>& chain) {
            // Another creation of the same name may have finished meanwhile; or the context stops.
            if (impl_->stopping || impl_->endpoints.contains(config.name)) {
                release_device(e->entry);
                e->entry = nullptr;
                return done(std::unexpected(make_error_code(impl_->stopping ? errc::unknown_endpoint : errc::already_initialized)), {});
            }
            impl_->endpoints.emplace(e->name, e);
            publish(*e);
            control_detail::log_json(*impl_->logger, spdlog::level::info,
                                     {{"component", "endpoint"}, {"endpoint", e->name}, {"event", "created"},
                                      {"direction", to_string(e->direction)}, {"device", e->device},
                                      {"format", control_detail::format_json(e->format)}, {"routing", to_string(config.routing)}});
            if (config.period > hns{0}) {
                if (auto ec = apply_buffer(*e, config.period, config.latency_coefficient, chain)) {
                    (void)destroy(e->name);
                    return done(std::unexpected(ec), {});
                }
            }
            done(e, {});
        };
        if (config.period <= hns{0}) return finish(nullptr);
        // Its chain (a resampler to prime when the rates differ: milliseconds) is built off ae-ctl.
        const auto plan = entry->thread->control().plan();
        build_off_thread(e, plan, e->format, finish);
    });
}

std::error_code context_core::destroy(const std::string& name) {
    auto e = find(name);
    if (!e) return make_error_code(errc::unknown_endpoint);
    if (e->state == endpoint_state::running || e->state == endpoint_state::error) (void)e->core().stop();
    if (e->attached && e->entry) {
        (void)e->entry->thread->control().detach(e->id);
        // The device thread lets go of the chain at its next period; the endpoint's memory
        // must outlive that, so the block stays alive until the thread confirms.
        wait_detached(e, e->entry, [this, e] {
            release_device(e->entry);
            e->entry = nullptr;
            e->attached = false;
        });
    } else if (!e->moving) {
        release_device(e->entry);
        e->entry = nullptr;
    }
    e->destroyed = true;
    impl_->endpoints.erase(name);
    control_detail::log_json(*impl_->logger, spdlog::level::info, {{"component", "endpoint"}, {"endpoint", name}, {"event", "destroyed"}});
    return {};
}

void context_core::wait_detached(std::shared_ptr<endpoint_block> e, device_entry* entry, std::function<void()> then) {
    // The device thread applies the detach at its next period and wakes ae-ctl when it has.
    impl_->detaches.push_back({std::move(e), entry, entry->thread->control().commands_sent(), std::move(then)});
    check_detached();
}

void context_core::check_detached() {
    auto& waits = impl_->detaches;
    for (std::size_t i = 0; i < waits.size();) {
        pending_detach& w = waits[i];
        if (w.entry->thread->control().commands_applied() < w.target && !w.entry->thread->finished()) {
            ++i;
            continue;
        }
        auto then = std::move(w.then);
        waits.erase(waits.begin() + static_cast<std::ptrdiff_t>(i));
        then(); // may add waits (a reroute's next step): the loop sees them
    }
}

// The buffer a device needs: two of its periods, in the endpoint's frames, and a resampler's
// margin when the rates differ.
std::uint64_t context_core::minimum_buffer(const frame_format& format, const device_entry& device) {
    const frame_format device_format = device.thread->dev().format();
    const std::uint64_t device_period = (std::uint64_t{device.thread->dev().period_frames()} * format.sample_rate +
                                         device_format.sample_rate - 1) / device_format.sample_rate;
    std::uint64_t minimum = 2 * device_period;
    // Resampled: a period more, a block, and the resampler's own delay (~300 frames at 48 kHz): a
    // chain that takes over at a rate seam fills its filter from the ring before its first frame.
    if (device_format.sample_rate != format.sample_rate) minimum += device_period + 128 + 384;
    // Offline (no clock, no latency to keep low): room for 32 periods, so an engine tops the
    // buffer up while the device works through what is queued — an offline render runs on two
    // cores instead of passing the turn between two threads every period.
    if (!device.thread->dev().realtime()) minimum = std::max<std::uint64_t>(minimum, 32 * device_period);
    return minimum;
}

namespace {
std::error_code check_set_buffer(const endpoint_block& e, hns max_period, std::uint32_t latency_coefficient) {
    if (e.destroyed) return make_error_code(errc::unknown_endpoint);
    if (e.state != endpoint_state::created) return make_error_code(errc::already_initialized);
    if (max_period <= hns{0} || max_period > hns{10'000'000} || latency_coefficient == 0 || latency_coefficient > 64)
        return make_error_code(errc::bad_argument);
    if (!e.entry) return make_error_code(errc::device_unavailable);
    if (e.building) return make_error_code(errc::busy);
    return {};
}
} // namespace

void context_core::set_buffer(endpoint_block& block, hns max_period, std::uint32_t latency_coefficient,
                              std::function<void(std::error_code)> done) {
    if (auto ec = check_set_buffer(block, max_period, latency_coefficient)) return done(ec);
    // Its chain (a resampler to prime when the rates differ: milliseconds) is built off ae-ctl.
    auto e = find(block.name);
    e->building = true;
    const auto plan = e->entry->thread->control().plan();
    build_off_thread(e, plan, e->format, [this, e, max_period, latency_coefficient, done = std::move(done)](const auto& chain) {
        e->building = false;
        if (impl_->stopping) return done(make_error_code(errc::unknown_endpoint));
        done(apply_buffer(*e, max_period, latency_coefficient, chain));
    });
}

std::error_code context_core::apply_buffer(endpoint_block& e, hns max_period, std::uint32_t latency_coefficient,
                                           const std::shared_ptr<prepared_chain>& chain) {
    if (auto ec = check_set_buffer(e, max_period, latency_coefficient)) return ec;
    device_entry* const device = e.entry;
    const std::uint32_t packet = frames_in(max_period, e.format.sample_rate);
    const std::uint64_t buffer =
        std::max<std::uint64_t>(std::uint64_t{packet} * latency_coefficient, std::max<std::uint64_t>(minimum_buffer(e.format, *device), packet));
    if (auto ec = e.core().set_buffer(e.format, packet, buffer)) return ec;
    auto attached = attach_prepared(e, *device, chain);
    if (!attached) return attached.error().code;
    e.attached = true;
    e.frames_per_packet = packet;
    e.buffer_frames = buffer;
    e.period = max_period;
    e.latency_coefficient = latency_coefficient;
    state_changed(e, endpoint_state::stopped);
    return {};
}

std::error_code context_core::set_stream_flags(endpoint_block& e, stream_flags flags) {
    if (e.destroyed) return make_error_code(errc::unknown_endpoint);
    if (flags != stream_flags::none && flags != stream_flags::event_callback) return make_error_code(errc::bad_argument);
    return {};
}

std::error_code context_core::set_event_handle(endpoint_block& e, int eventfd) {
    if (e.destroyed) return make_error_code(errc::unknown_endpoint);
    return e.core().set_event_handle(eventfd);
}

std::error_code context_core::start(endpoint_block& e) {
    if (e.destroyed) return make_error_code(errc::unknown_endpoint);
    if (auto ec = e.core().start()) return ec;
    state_changed(e, endpoint_state::running);
    return {};
}

std::error_code context_core::stop(endpoint_block& e) {
    if (e.destroyed) return make_error_code(errc::unknown_endpoint);
    if (auto ec = e.core().stop()) return ec;
    state_changed(e, endpoint_state::stopped);
    return {};
}

void context_core::reset(endpoint_block& block, std::function<void(std::error_code)> done) {
    if (block.destroyed) return done(make_error_code(errc::unknown_endpoint));
    if (block.state == endpoint_state::created) return done(make_error_code(errc::not_initialized));
    if (auto ec = block.core().reset()) return done(ec);
    // Capture: the engine's side reads the ring; its next call discards (before it returns any
    // padding), so the reset is complete now.
    if (!block.render) return done({});
    endpoint_link& link = block.core().link();
    const std::uint32_t generation = link.reset_generation.load(std::memory_order_relaxed);
    // An offline device holding for its endpoints wakes to acknowledge it at once.
    signal_eventfd(link.device_wake_fd.load(std::memory_order_acquire));
    impl_->resets.push_back({find(block.name), generation, std::move(done), std::chrono::steady_clock::now() + std::chrono::seconds(2)});
    check_resets();
}

void context_core::set_format(endpoint_block& block, const frame_format& format, std::function<void(std::error_code)> done) {
    if (block.destroyed) return done(make_error_code(errc::unknown_endpoint));
    if (!valid_format(format)) return done(make_error_code(errc::unsupported_format));
    if (block.building) return done(make_error_code(errc::busy)); // one chain build at a time
    const bool new_rate = block.state != endpoint_state::created && format.sample_rate != block.format.sample_rate;
    if (!new_rate || !block.attached || !block.entry) return done(apply_format(block, format, {}));
    if (block.core().segments_in_flight() >= 8) return done(make_error_code(errc::busy));
    // The chain for the new rate primes a resampler (milliseconds): built on a helper thread so
    // ae-ctl keeps answering; the change is applied when it is ready.
    auto plan = block.entry->thread->control().plan_successor(block.id);
    if (!plan) return done(plan.error().code);
    auto e = find(block.name);
    e->building = true;
    device_entry* const entry = e->entry;
    build_off_thread(e, *plan, format, [this, e, format, entry, done = std::move(done)](const auto& chain) {
        e->building = false;
        if (e->destroyed || impl_->stopping) return done(make_error_code(errc::unknown_endpoint));
        // Rerouted meanwhile: build again for the device it plays on now.
        if (e->entry != entry || !e->attached || e->format.sample_rate == format.sample_rate) return set_format(*e, format, done);
        const pipeline::device_error* failed = nullptr;
        if (!chain->render) failed = &chain->render.error();
        if (!chain->capture) failed = &chain->capture.error();
        if (failed) {
            control_detail::log_json(*impl_->logger, spdlog::level::err,
                                     {{"component", "endpoint"}, {"endpoint", e->name}, {"event", "format_change_failed"},
                                      {"code", to_string(static_cast<errc>(failed->code.value()))}, {"message", failed->message}});
            return done(failed->code);
        }
        done(apply_format(*e, format, chain));
    });
}

std::error_code context_core::apply_format(endpoint_block& e, const frame_format& format, const std::shared_ptr<prepared_chain>& successor) {
    if (e.state == endpoint_state::created) {
        // Before set_buffer the format is just configuration.
        e.format = format;
        publish(e);
        return {};
    }
    if (format == e.format) return {};
    e.core().collect_retired();
    std::uint32_t packet = e.frames_per_packet;
    std::uint64_t buffer = e.buffer_frames;
    const hns latency_before = summary(e).latency;
    if (format.sample_rate != e.format.sample_rate) {
        // A new rate: the same period and latency coefficient in the new rate's frames, at least
        // what the device needs with (or without) resampling now.
        packet = frames_in(e.period, format.sample_rate);
        buffer = std::max<std::uint64_t>(std::uint64_t{packet} * e.latency_coefficient, packet);
        if (e.entry) buffer = std::max(buffer, minimum_buffer(format, *e.entry));
        if (e.core().segments_in_flight() >= 8) return make_error_code(errc::busy);
        // The chain for the new rate goes to the device thread first; it takes over at the seam.
        if (e.attached && e.entry && successor) {
            auto sent = e.render ? e.entry->thread->control().send_successor(*e.render, std::move(*successor->render))
                                 : e.entry->thread->control().send_successor(*e.capture, std::move(*successor->capture));
            if (!sent) return sent.error().code;
        }
    }
    if (auto ec = e.core().reconfigure(format, packet, buffer)) return ec;
    e.format = format;
    e.frames_per_packet = packet;
    e.buffer_frames = buffer;
    publish(e);
    latency_changed_since(e, latency_before);
    event ev;
    ev.kind = event_kind::format_changed;
    ev.endpoint = e.name;
    ev.epoch = e.core().requested_epoch();
    ev.format = format;
    emit(std::move(ev));
    return {};
}

void context_core::build_off_thread(const std::shared_ptr<endpoint_block>& e, const pipeline::chain_plan& plan,
                                    const frame_format& format, std::function<void(const std::shared_ptr<prepared_chain>&)> then) {
    off_thread("ae-build", [e, plan, format, then = std::move(then)]() -> std::function<void()> {
        auto chain = std::make_shared<prepared_chain>();
        const pipeline::chain_options options{.gain = plan.gain, .endpoint_format = format};
        if (e->render) {
            chain->render = pipeline::device_control::build_chain(*e->render, plan, options);
        } else {
            chain->capture = pipeline::device_control::build_chain(*e->capture, plan, options);
        }
        return [then, chain] { then(chain); };
    });
}

void context_core::off_thread(const char* name, std::function<std::function<void()>()> work) {
    // The work guard keeps ae-ctl's run() going until the continuation ran: a context being
    // destroyed waits for it (bounded work only — device opens, which may hang, do not use this).
    std::thread([self = shared_from_this(), guard = asio::make_work_guard(impl_->io), name, work = std::move(work)]() mutable {
        set_current_thread_name(name);
        if (self->impl_->options.helper_started) self->impl_->options.helper_started(name);
        auto then = work();
        asio::post(self->impl_->io, std::move(then));
        guard.reset();
    }).detach();
}

std::error_code context_core::set_period(endpoint_block& e, hns period) {
    if (e.destroyed) return make_error_code(errc::unknown_endpoint);
    if (e.state == endpoint_state::created) return make_error_code(errc::not_initialized);
    if (period <= hns{0} || period > hns{10'000'000}) return make_error_code(errc::bad_argument);
    const std::uint32_t packet = frames_in(period, e.format.sample_rate);
    // Keep at least the buffer the device needs; grow with the packet.
    const std::uint64_t buffer = std::max<std::uint64_t>(std::uint64_t{packet} * e.latency_coefficient, e.buffer_frames);
    e.core().collect_retired();
    if (auto ec = e.core().reconfigure(e.format, packet, buffer)) return ec;
    const hns before = summary(e).latency;
    e.frames_per_packet = packet;
    e.buffer_frames = buffer;
    e.period = period;
    publish(e);
    latency_changed_since(e, before);
    return {};
}

void context_core::route_to(const std::shared_ptr<endpoint_block>& e, device_entry* entry,
                            std::function<void(std::error_code)> done) {
    if (e->destroyed) {
        done(make_error_code(errc::unknown_endpoint));
        return;
    }
    if (entry == e->entry) {
        done({});
        return;
    }
    ++entry->users; // held from now, so nothing closes it while the old device lets go
    e->moving = true;
    if (e->state == endpoint_state::created) return switch_route(e, entry, nullptr, std::move(done));
    // The chain for the new device (a resampler to prime when the rates differ: milliseconds) is
    // built on a helper thread while the endpoint still plays where it is.
    const auto plan = entry->thread->control().plan();
    const frame_format format = e->format;
    build_off_thread(e, plan, format, [this, e, entry, done = std::move(done)](const auto& chain) { switch_route(e, entry, chain, done); });
}

std::expected<void, pipeline::device_error> context_core::attach_prepared(endpoint_block& e, device_entry& entry,
                                                                          const std::shared_ptr<prepared_chain>& chain) {
    // Built for the format the endpoint had then; a rate change since needs another (built here).
    auto usable = [&](const auto& built) { return built && *built && (*built)->endpoint_rate() == e.format.sample_rate; };
    if (e.render) {
        if (chain && usable(chain->render)) return entry.thread->control().attach(*e.render, std::move(*chain->render));
        return entry.thread->control().attach(*e.render, pipeline::chain_options{.endpoint_format = e.format});
    }
    if (chain && usable(chain->capture)) return entry.thread->control().attach(*e.capture, std::move(*chain->capture));
    return entry.thread->control().attach(*e.capture, pipeline::chain_options{.endpoint_format = e.format});
}

void context_core::switch_route(const std::shared_ptr<endpoint_block>& e, device_entry* entry, std::shared_ptr<prepared_chain> chain,
                                std::function<void(std::error_code)> done) {
    device_entry* const from = e->entry;
    auto finish = [this, e, entry, from, chain, done = std::move(done)]() {
        e->moving = false;
        if (e->destroyed || impl_->stopping) {
            release_device(entry);
            done(make_error_code(errc::unknown_endpoint));
            return;
        }
        std::error_code ec;
        if (e->state != endpoint_state::created) {
            auto attached = attach_prepared(*e, *entry, chain);
            e->attached = attached.has_value();
            if (!attached) ec = attached.error().code;
        }
        const std::string from_spec = from ? from->spec : std::string{};
        const hns latency_before = summary(*e).latency;
        // What the old device reported as it let go (device_lost frames) is counted before
        // `rerouted` is told: stats never lag the event.
        drain_glitches(*e);
        e->entry = entry;
        e->device = entry->spec;
        release_device(from);
        // A device with longer periods needs a bigger buffer: grown through the barrier (a new
        // epoch the engine takes at its next pass), never shrunk.
        if (e->state != endpoint_state::created) {
            const std::uint64_t needed = minimum_buffer(e->format, *entry);
            if (needed > e->buffer_frames) {
                e->core().collect_retired();
                if (!e->core().reconfigure(e->format, e->frames_per_packet, needed)) {
                    control_detail::log_json(*impl_->logger, spdlog::level::info,
                                             {{"component", "endpoint"}, {"endpoint", e->name}, {"event", "buffer_resized"},
                                              {"device", entry->spec}, {"from_frames", e->buffer_frames}, {"to_frames", needed}});
                    e->buffer_frames = needed;
                }
            }
        }
        publish(*e);
        event ev;
        ev.kind = event_kind::rerouted;
        ev.endpoint = e->name;
        ev.epoch = e->core().requested_epoch();
        ev.device = from_spec;
        ev.to = entry->spec;
        if (ec) ev.message = ec.message();
        emit(std::move(ev));
        // A device with another period (or rate) changes what the engine's frames take to be heard.
        latency_changed_since(*e, latency_before);
        if (!ec && e->state == endpoint_state::error) state_changed(*e, endpoint_state::running);
        done(ec);
    };
    if (e->destroyed || impl_->stopping) return finish();
    if (e->attached && from) {
        (void)from->thread->control().detach(e->id);
        e->attached = false;
        // The old device thread must have let go before the new one reads the same ring.
        wait_detached(e, from, std::move(finish));
    } else {
        finish();
    }
}

void context_core::move_to(endpoint_block& block, const std::string& device, std::function<void(std::error_code)> done) {
    if (block.destroyed) return done(make_error_code(errc::unknown_endpoint));
    if (device.empty()) return done(make_error_code(errc::bad_argument));
    if (block.moving) return done(make_error_code(errc::busy));
    if (block.entry && !block.entry->lost && device == block.device) return done({});
    auto e = find(block.name);
    if (e->hold_down) {
        // Held down after a storm of losses: the caller's choice of device ends the hold.
        auto timer = std::move(e->hold_down);
        timer->cancel();
    }
    block.moving = true; // until route_to finishes: no second move, no destroy of the route under it
    open_device_async(device, e->direction, [this, e, done = std::move(done)](std::expected<device_entry*, std::error_code> opened,
                                                                            const std::string&) mutable {
        if (!opened) {
            e->moving = false;
            done(opened.error());
            return;
        }
        route_to(e, *opened, std::move(done));
    });
}

void context_core::on_device_lost(device_entry& entry, const char* why, hns when) {
    entry.lost = true; // a new open of this spec makes a new device thread
    control_detail::log_json(*impl_->logger, spdlog::level::warn,
                             {{"component", "device"}, {"event", "device_lost"}, {"device", entry.spec}, {"message", why}});
    std::vector<std::shared_ptr<endpoint_block>> affected;
    for (auto& [name, e] : impl_->endpoints) {
        if (e->entry == &entry) affected.push_back(e);
    }
    for (auto& e : affected) {
        event ev;
        ev.kind = event_kind::device_lost;
        ev.endpoint = e->name;
        ev.epoch = e->core().requested_epoch();
        ev.device = entry.spec;
        ev.message = why;
        ev.time = when;
        emit(std::move(ev));
        e->reroute_attempts = 0;
        // Storm debounce: the endpoint stays on the virtual clock while its device flaps.
        const auto now = std::chrono::steady_clock::now();
        const auto window = std::chrono::microseconds(impl_->options.storm_window.count() / 10);
        std::erase_if(e->recent_losses, [&](auto t) { return now - t > window; });
        e->recent_losses.push_back(now);
        const std::size_t losses = e->recent_losses.size();
        if (impl_->options.storm_losses != 0 && losses >= impl_->options.storm_losses) {
            const std::size_t extra = losses - impl_->options.storm_losses;
            const auto first = impl_->options.storm_hold_down.count();
            const std::int64_t delay = extra >= 30 ? impl_->options.retry_max.count()
                                                   : std::min<std::int64_t>(impl_->options.retry_max.count(), first << extra);
            control_detail::log_json(*impl_->logger, spdlog::level::warn,
                                     {{"component", "endpoint"}, {"endpoint", e->name}, {"event", "reroute_debounced"},
                                      {"device", entry.spec}, {"losses_in_window", losses}, {"delay_ms", static_cast<double>(delay) / 1e4}});
            // No automatic reroute while held down; a move asked for meanwhile cancels the hold.
            e->hold_down = std::make_shared<asio::steady_timer>(impl_->io, std::chrono::microseconds(delay / 10));
            e->hold_down->async_wait([this, self = shared_from_this(), e, timer = e->hold_down](const std::error_code& ec) {
                if (e->hold_down == timer) e->hold_down.reset();
                if (!ec) reroute(e, 0);
            });
            continue;
        }
        reroute(e, 0);
    }
}

void context_core::reroute(const std::shared_ptr<endpoint_block>& e, int attempt) {
    if (e->destroyed || impl_->stopping || !e->entry || !e->entry->lost || e->moving || e->hold_down) return;
    const routing_policy policy = e->config.routing;
    if (policy == routing_policy::fail) {
        control_detail::log_json(*impl_->logger, spdlog::level::err,
                                 {{"component", "endpoint"}, {"endpoint", e->name}, {"event", "route_failed"},
                                  {"device", e->device}, {"message", "routing=fail: the endpoint stays on the virtual clock"}});
        if (e->state == endpoint_state::running) state_changed(*e, endpoint_state::error);
        return;
    }
    // follow_default goes to the context's default device — unless that is what was lost, then
    // (like pinned) it keeps retrying the same device.
    std::string target = e->entry->spec;
    if (policy == routing_policy::follow_default && e->entry->spec != impl_->options.default_device) {
        target = impl_->options.default_device;
    }
    e->moving = true;
    open_device_async(target, e->direction, [this, e, target, attempt](std::expected<device_entry*, std::error_code> opened,
                                                                       const std::string&) {
        e->moving = false;
        if (opened) {
            route_to(e, *opened, [](std::error_code) {});
            return;
        }
        // Exponential backoff: first, 2 x first, 4 x first... capped.
        const auto first = impl_->options.retry_first.count();
        const auto cap = impl_->options.retry_max.count();
        const std::int64_t delay = attempt >= 30 ? cap : std::min<std::int64_t>(cap, first << attempt);
        control_detail::log_json(*impl_->logger, spdlog::level::warn,
                                 {{"component", "endpoint"}, {"endpoint", e->name}, {"event", "reopen_scheduled"},
                                  {"device", target}, {"attempt", attempt + 1}, {"delay_ms", static_cast<double>(delay) / 1e4},
                                  {"code", to_string(static_cast<errc>(opened.error().value()))}});
        auto timer = std::make_shared<asio::steady_timer>(impl_->io, std::chrono::microseconds(delay / 10));
        timer->async_wait([this, self = shared_from_this(), e, attempt, timer](const std::error_code& ec) {
            if (!ec) reroute(e, attempt + 1);
        });
    });
}

} // namespace ae::detail
