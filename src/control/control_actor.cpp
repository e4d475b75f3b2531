// The control actor: its thread, its executor and its helpers off ae-ctl.
#include "context_state.h"

#include <openae/pipeline/device_discovery.h>

namespace ae::detail {

namespace {
// `auto` chosen once, on the thread that makes the context (it may connect to sound servers).
context_options resolve_default(context_options options, std::string& reason) {
    if (options.default_device == "auto") {
        auto choice = pipeline::choose_default_device();
        options.default_device = std::move(choice.spec);
        reason = std::move(choice.reason);
    }
    return options;
}
} // namespace

control_actor::control_actor(context_options options) {
    std::string reason;
    const bool default_auto = options.default_device == "auto";
    impl_ = std::make_unique<impl>(resolve_default(std::move(options), reason), static_cast<device_registry_owner&>(*this), static_cast<router_owner&>(*this),
                                   static_cast<rt_drain_owner&>(*this));
    impl_->default_device_reason = std::move(reason);
    impl_->default_auto = default_auto;
    impl_->auto_choice = impl_->options.default_device;
}

control_actor::~control_actor() { stop_thread(); }

spdlog::logger& control_actor::logger() const noexcept { return impl_->log.logger(); }

std::uint64_t control_actor::subscribe(std::function<void(const event&)> fn) {
    if (!on_control_thread()) {
        std::promise<std::uint64_t> done;
        asio::post(impl_->io, [&] { done.set_value(subscribe(std::move(fn))); });
        return done.get_future().get();
    }
    return impl_->log.subscribe(std::move(fn));
}

void control_actor::unsubscribe(std::uint64_t id) {
    if (!on_control_thread()) {
        asio::post(impl_->io, [self = shared_from_this(), id] { self->impl_->log.unsubscribe(id); });
        return;
    }
    impl_->log.unsubscribe(id);
}

void control_actor::emit(event e) { impl_->log.emit(std::move(e)); }

void control_actor::log_refused(const std::string& op, const std::string& code, const std::string& message) {
    impl_->log.log_refused(op, code, message);
}

asio::any_io_executor control_actor::executor() const { return impl_->io.get_executor(); }

bool control_actor::on_control_thread() const noexcept {
    return impl_->control_thread_id.load(std::memory_order_acquire) == std::this_thread::get_id();
}

namespace {
// What an endpoint can be made for on `device`: "render", "capture" or "render capture".
std::string directions_of(const pipeline::available_device& device) {
    std::string directions = device.render ? "render" : "";
    if (device.capture) directions += directions.empty() ? "capture" : " capture";
    return directions;
}
} // namespace

void control_actor::watch_devices() {
    // The watch's thread posts each change to ae-ctl; a change that arrives once the actor is
    // gone is dropped (the weak pointers: no handler keeps the actor alive from its own queue).
    std::weak_ptr<control_actor> weak = shared_from_this();
    // `directions`: "render", "capture" or "render capture" — what an endpoint can be made for.
    const auto post_change = [weak](bool added, const std::string& spec, std::string directions) {
        const auto self = weak.lock();
        if (!self) return;
        asio::post(self->impl_->io, [weak, added, spec, directions = std::move(directions)] {
            const auto me = weak.lock();
            if (!me || me->impl_->stopping) return;
            event ev;
            ev.kind = added ? event_kind::device_added : event_kind::device_removed;
            ev.device = spec;
            ev.message = directions;
            ev.time = monotonic_now();
            me->emit(std::move(ev));
        });
    };
    // A sound server's default coming or going: `auto` may follow it (on_server_default).
    const auto post_default = [weak](bool added, const pipeline::available_device& device) {
        if (!device.backend_default) return;
        if (const auto self = weak.lock()) {
            asio::post(self->impl_->io, [weak, added, device] {
                const auto me = weak.lock();
                if (me && !me->impl_->stopping) me->on_server_default(added, device);
            });
        }
    };
    impl_->device_watch = pipeline::device_watch::watch_pipewire(
        [post_change, post_default](bool added, const pipeline::available_device& device) {
            post_change(added, device.spec, directions_of(device));
            if (device.spec == "pipewire") post_default(added, device);
        },
        std::chrono::milliseconds(2000));
    impl_->jack_watch = pipeline::device_watch::watch_jack(
        [post_change, post_default](bool added, const pipeline::available_device& device) {
            post_change(added, device.spec, device.render ? "render" : "capture");
            post_default(added, device);
        },
        std::chrono::milliseconds(500));
    impl_->alsa_watch = pipeline::device_watch::watch_alsa(
        [post_change](bool added, const pipeline::available_device& device) { post_change(added, device.spec, directions_of(device)); });
    // RDP sessions (rdp.h): their speakers and microphone come and go with their clients.
    impl_->rdp_watch = std::make_unique<pipeline::rdp_session_watch>(
        [post_change](bool added, const std::string& spec, bool render) { post_change(added, spec, render ? "render" : "capture"); });
    control_detail::log_json(impl_->log.logger(), spdlog::level::info,
                             {{"component", "context"}, {"event", "device_watch"},
                              {"watching", "pipewire, jack, alsa, rdp"}});
}

void control_actor::on_server_default(bool added, const pipeline::available_device& device) {
    if (!impl_->default_auto || !device.backend_default) return;
    // As `auto` names it (choose_default_device): a JACK server's physical ports, any channel
    // count; a PipeWire server's default sink and source.
    const bool jack = device.kind == "jack";
    const std::string spec = jack ? device.spec.substr(0, device.spec.find("&channels=")) : device.spec;
    const std::string server = jack ? "the default JACK server" : "the PipeWire server";
    if (added && impl_->options.default_device == "null") change_default(spec, server + " started");
    if (!added && impl_->options.default_device == spec && spec != impl_->auto_choice) change_default(impl_->auto_choice, server + " stopped");
}

void control_actor::on_device_lost(device_entry& entry, const char* why, hns when) {
    entry.lost = true; // a new open of this spec makes a new device thread
    // A default that a device appearing gave `auto` is gone: what `auto` chose at the start is the
    // default again before anything reroutes (retrying a JACK server that is shutting down opened
    // a client that crashed libjack when it was closed).
    if (impl_->default_auto && entry.spec == default_device() && entry.spec != impl_->auto_choice) {
        change_default(impl_->auto_choice, "the default device that appeared was lost");
    }
    control_detail::log_json(impl_->log.logger(), spdlog::level::warn,
                             {{"component", "device"}, {"event", "device_lost"}, {"device", entry.spec}, {"message", why}});
    std::vector<std::shared_ptr<endpoint_block>> affected;
    for (auto& [name, e] : impl_->endpoints) {
        if (e->entry == &entry) affected.push_back(e);
    }
    impl_->routes.on_device_lost(entry, affected, why, when);
}

void control_actor::on_device_reshaped(device_entry& entry, hns when) {
    entry.lost = true; // the open that follows makes a new device thread, at the device's new rate
    control_detail::log_json(impl_->log.logger(), spdlog::level::info,
                             {{"component", "device"}, {"event", "reshaped"}, {"device", entry.spec},
                              {"message", "device changed its rate under its chains; its endpoints move to it opened again"}});
    std::vector<std::shared_ptr<endpoint_block>> affected;
    for (auto& [name, e] : impl_->endpoints) {
        if (e->entry == &entry) affected.push_back(e);
    }
    impl_->routes.on_device_reshaped(entry, affected, when);
}

void control_actor::move_to(endpoint_block& block, const std::string& device, std::function<void(std::error_code)> done) {
    if (block.destroyed) return done(make_error_code(errc::unknown_endpoint));
    impl_->routes.move_to(find(block.name), device, std::move(done));
}

std::shared_ptr<void> control_actor::keep_alive() { return shared_from_this(); }

void control_actor::change_default(const std::string& device, const std::string& why) {
    std::string before;
    {
        const std::lock_guard lock(impl_->default_mutex);
        before = std::exchange(impl_->options.default_device, device);
    }
    impl_->default_device_reason = why;
    control_detail::log_json(impl_->log.logger(), spdlog::level::info,
                             {{"component", "context"}, {"event", "default_changed"}, {"from", before}, {"to", device}, {"message", why}});
    for (auto& [name, e] : impl_->endpoints) {
        // A lost one takes the new default at its next reroute; a moving one is on its way.
        if (e->destroyed || e->route.moving || !e->config.device.empty() || e->config.routing != routing_policy::follow_default) continue;
        if (e->device != before || !e->entry || e->entry->lost) continue;
        impl_->routes.move_to(e, device, [this, name = e->name, device](std::error_code ec) {
            if (!ec) return;
            control_detail::log_json(impl_->log.logger(), spdlog::level::warn,
                                     {{"component", "endpoint"}, {"endpoint", name}, {"event", "follow_default_failed"}, {"device", device},
                                      {"code", to_string(static_cast<errc>(ec.value()))}});
        });
    }
}

void control_actor::start_thread() {
    if (impl_->options.watch_devices && !impl_->options.stepped) watch_devices();
    if (impl_->options.rdp_desktop_audio.enabled && !impl_->options.stepped) watch_rdp_desktop_audio();
    auto started = [self = shared_from_this()] {
        nlohmann::json record{{"component", "context"}, {"event", "started"}, {"default_device", self->impl_->options.default_device}};
        if (!self->impl_->default_device_reason.empty()) record["default_device_chosen"] = self->impl_->default_device_reason;
        control_detail::log_json(self->impl_->log.logger(), spdlog::level::info, record);
        if (self->impl_->options.stepped) return; // poll() drains
        self->impl_->drain.start();
    };
    if (impl_->options.stepped) {
        impl_->control_thread_id.store(std::this_thread::get_id(), std::memory_order_release);
        started();
        return;
    }
    std::promise<void> running;
    auto running_now = running.get_future();
    impl_->thread = std::thread([this, &running] {
        set_current_thread_name("ae-ctl");
        impl_->control_thread_id.store(std::this_thread::get_id(), std::memory_order_release);
        running.set_value();
        impl_->io.run();
    });
    running_now.wait();
    asio::post(impl_->io, std::move(started));
}

void control_actor::tear_down() {
    impl_->stopping = true;
    impl_->registry.begin_stopping();
    impl_->routes.begin_stopping(endpoints());
    impl_->drain.stop();
    for (auto& [name, e] : impl_->endpoints) {
        if (e->state == endpoint_state::running || e->state == endpoint_state::error) (void)e->core().stop();
    }
    drain();
    impl_->registry.stop_threads();
    // The context tears everything down itself; what waited for a detach is freed only
    // now that no device thread runs (it holds endpoints a device thread may still touch).
    impl_->drain.forget_detaches();
    for (auto& [name, bridge] : impl_->bridges) {
        if (bridge.first_pass_deadline) bridge.first_pass_deadline->cancel();
        if (bridge.done) bridge.done(std::unexpected(make_error_code(errc::unknown_endpoint)), "the context stopped");
    }
    impl_->bridges.clear();
    drain();
    impl_->log.flush_repeats(true);
    control_detail::log_json(impl_->log.logger(), spdlog::level::info, {{"component", "context"}, {"event", "stopped"}});
    impl_->drain.clear_endpoints();
    impl_->endpoints.clear();
    impl_->registry.clear();
    impl_->log.clear_subscribers(); // they may hold the core (async_wait_event does)
}

void control_actor::stop_thread() {
    if (impl_->options.stepped) {
        if (impl_->stopping) return;
        tear_down();
        impl_->work.reset();
        impl_->io.poll(); // the cancelled timers' handlers: nothing queued keeps the core alive
        impl_->log.logger().flush();
        return;
    }
    if (!impl_->thread.joinable()) return;
    if (on_control_thread()) return; // the destructor of the last handle ran on ae-ctl: let run() end
    impl_->device_watch.reset(); // no change is posted after this
    impl_->jack_watch.reset();
    impl_->alsa_watch.reset();
    impl_->rdp_watch.reset();
    impl_->rdp_desktop_watch.reset();
    std::promise<void> done;
    asio::post(impl_->io, [this, &done] {
        tear_down();
        done.set_value();
    });
    done.get_future().wait();
    // No io.stop(): run() returns once the cancelled timers' handlers have run, so nothing
    // queued keeps the core alive.
    impl_->work.reset();
    impl_->thread.join();
    impl_->log.logger().flush();
}

std::size_t control_actor::poll() {
    if (!impl_->options.stepped || !on_control_thread() || impl_->stopping) return 0;
    std::size_t ran = 0;
    // Bounded: each round either ran something or ends the loop; a chain of work posting work
    // (a reroute: open, build, switch) settles within a few rounds.
    for (int round = 0; round < 1000; ++round) {
        // Virtual timers the test's time has reached (their handlers are posted), then the rest.
        std::size_t now = asio::use_service<virtual_timers>(impl_->io).fire_due(control_clock::now());
        now += impl_->io.poll();
        drain();
        impl_->drain.check_detached();
        impl_->drain.check_resets();
        check_bridge_starts();
        now += impl_->io.poll();
        ran += now;
        if (now == 0) break;
    }
    return ran;
}

std::size_t control_actor::step_devices() {
    if (!impl_->options.stepped || !on_control_thread() || impl_->stopping) return 0;
    std::size_t stepped = 0;
    for (const auto& entry : impl_->registry.entries()) {
        if (entry->thread->step_once()) ++stepped;
    }
    return stepped;
}

// ---------------------------------------------------------------------------------------------
// events and logs

void control_actor::off_thread(const char* name, std::function<std::function<void()>()> work) {
    // The work guard keeps ae-ctl's run() going until the continuation ran: a context being
    // destroyed waits for it (bounded work only — device opens, which may hang, do not use this).
    if (impl_->options.stepped) { // a simulation: inline, its continuation posted as it would be
        if (impl_->options.helper_started) impl_->options.helper_started(name);
        asio::post(impl_->io, work());
        return;
    }
    std::thread([self = shared_from_this(), guard = asio::make_work_guard(impl_->io), name, work = std::move(work)]() mutable {
        set_current_thread_name(name);
        if (self->impl_->options.helper_started) self->impl_->options.helper_started(name);
        auto then = work();
        asio::post(self->impl_->io, std::move(then));
        guard.reset();
    }).detach();
}

} // namespace ae::detail
