// Routes: moving an endpoint to another device, device loss, rerouting by policy with storm
// hold-down and backoff — each step a named stage (route_stage) in status and as an event.
#include "context_state.h"

namespace ae::detail {

void control_actor::route_to(const std::shared_ptr<endpoint_block>& e, device_entry* entry,
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
    enter_stage(*e, route_stage::switching, 0, entry->spec);
    if (e->state == endpoint_state::created) return switch_route(e, entry, nullptr, std::move(done));
    // The chain for the new device (a resampler to prime when the rates differ: milliseconds) is
    // built on a helper thread while the endpoint still plays where it is.
    const auto plan = entry->thread->control().plan();
    const frame_format format = e->format;
    build_off_thread(e, plan, format, [this, e, entry, done = std::move(done)](const auto& chain) { switch_route(e, entry, chain, done); });
}

std::expected<void, pipeline::device_error> control_actor::attach_prepared(endpoint_block& e, device_entry& entry,
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

void control_actor::switch_route(const std::shared_ptr<endpoint_block>& e, device_entry* entry, std::shared_ptr<prepared_chain> chain,
                                std::function<void(std::error_code)> done) {
    device_entry* const from = e->entry;
    auto finish = [this, e, entry, from, chain, done = std::move(done)]() {
        e->moving = false;
        if (e->destroyed || impl_->stopping) {
            impl_->registry.release(entry);
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
        // What the old device reported as it detached (device_lost frames) is counted before
        // `rerouted` is told: stats never lag the event.
        drain_inbox();
        e->entry = entry;
        e->device = entry->spec;
        impl_->registry.release(from);
        // A device with longer periods needs a bigger buffer.
        (void)grow_buffer_for(*e, *entry);
        publish(*e);
        event ev = endpoint_event(*e, event_kind::rerouted);
        ev.device = from_spec;
        ev.to = entry->spec;
        if (ec) ev.message = ec.message();
        emit(std::move(ev));
        // A device with another period (or rate) changes what the engine's frames take to be heard.
        latency_changed_since(*e, latency_before);
        if (!ec && e->state == endpoint_state::error) state_changed(*e, endpoint_state::running);
        enter_stage(*e, ec ? route_stage::failed : e->recovering ? route_stage::rerouted : route_stage::routed, 0, entry->spec);
        if (!ec) e->recovering = false;
        done(ec);
    };
    if (e->destroyed || impl_->stopping) return finish();
    if (e->attached && from) {
        (void)from->thread->control().detach(e->id);
        e->attached = false;
        // The old device thread must have detached it before the new one reads the same ring.
        wait_detached(e, from, std::move(finish));
    } else {
        finish();
    }
}

void control_actor::move_to(endpoint_block& block, const std::string& device, std::function<void(std::error_code)> done) {
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
    impl_->registry.open(device, e->direction, [this, e, done = std::move(done)](std::expected<device_entry*, std::error_code> opened,
                                                                            const std::string&) mutable {
        if (!opened) {
            e->moving = false;
            // A hold this move ended stays ended: the endpoint waits, lost, for the next move.
            if (e->stage == route_stage::held_down) enter_stage(*e, route_stage::lost, 0, e->device);
            done(opened.error());
            return;
        }
        route_to(e, *opened, std::move(done));
    });
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
    for (auto& e : affected) {
        event ev = endpoint_event(*e, event_kind::device_lost);
        ev.device = entry.spec;
        ev.message = why;
        ev.time = when;
        emit(std::move(ev));
        e->recovering = true;
        enter_stage(*e, route_stage::lost, 0, entry.spec);
        // Storm debounce: the endpoint stays on the virtual clock while its device flaps.
        const hns now = monotonic_now();
        const hns window = impl_->options.storm_window;
        std::erase_if(e->recent_losses, [&](hns t) { return now - t > window; });
        e->recent_losses.push_back(now);
        const std::size_t losses = e->recent_losses.size();
        if (impl_->options.storm_losses != 0 && losses >= impl_->options.storm_losses) {
            const std::size_t extra = losses - impl_->options.storm_losses;
            const auto first = impl_->options.storm_hold_down.count();
            const std::int64_t delay = extra >= 30 ? impl_->options.retry_max.count()
                                                   : std::min<std::int64_t>(impl_->options.retry_max.count(), first << extra);
            control_detail::log_json(impl_->log.logger(), spdlog::level::warn,
                                     {{"component", "endpoint"}, {"endpoint", e->name}, {"event", "reroute_debounced"},
                                      {"device", entry.spec}, {"losses_in_window", losses}, {"delay_ms", static_cast<double>(delay) / 1e4}});
            // No automatic reroute while held down; a move asked for meanwhile cancels the hold.
            e->hold_down = std::make_shared<control_timer>(impl_->io, std::chrono::microseconds(delay / 10));
            enter_stage(*e, route_stage::held_down, 0, entry.spec);
            e->hold_down->async_wait([this, self = shared_from_this(), e, timer = e->hold_down](const std::error_code& ec) {
                if (e->hold_down == timer) e->hold_down.reset();
                if (!ec) reroute(e, 0);
            });
            continue;
        }
        reroute(e, 0);
    }
}

void control_actor::reroute(const std::shared_ptr<endpoint_block>& e, int attempt) {
    if (e->destroyed || impl_->stopping || !e->entry || !e->entry->lost || e->moving || e->hold_down) return;
    const routing_policy policy = e->config.routing;
    if (policy == routing_policy::fail) {
        control_detail::log_json(impl_->log.logger(), spdlog::level::err,
                                 {{"component", "endpoint"}, {"endpoint", e->name}, {"event", "route_failed"},
                                  {"device", e->device}, {"message", "routing=fail: the endpoint stays on the virtual clock"}});
        if (e->state == endpoint_state::running) state_changed(*e, endpoint_state::error);
        enter_stage(*e, route_stage::failed, 0, e->device);
        return;
    }
    // follow_default goes to the context's default device — unless that is what was lost, then
    // (like pinned) it keeps retrying the same device.
    std::string target = e->entry->spec;
    if (policy == routing_policy::follow_default && e->entry->spec != impl_->options.default_device) {
        target = impl_->options.default_device;
    }
    e->moving = true;
    enter_stage(*e, route_stage::reopening, static_cast<std::uint32_t>(attempt) + 1, target);
    impl_->registry.open(target, e->direction, [this, e, target, attempt](std::expected<device_entry*, std::error_code> opened,
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
        control_detail::log_json(impl_->log.logger(), spdlog::level::warn,
                                 {{"component", "endpoint"}, {"endpoint", e->name}, {"event", "reopen_scheduled"},
                                  {"device", target}, {"attempt", attempt + 1}, {"delay_ms", static_cast<double>(delay) / 1e4},
                                  {"code", to_string(static_cast<errc>(opened.error().value()))}});
        auto timer = std::make_shared<control_timer>(impl_->io, std::chrono::microseconds(delay / 10));
        timer->async_wait([this, self = shared_from_this(), e, attempt, timer](const std::error_code& ec) {
            if (!ec) reroute(e, attempt + 1);
        });
    });
}

void control_actor::enter_stage(endpoint_block& e, route_stage stage, std::uint32_t attempt, const std::string& device) {
    if (e.stage == stage && e.stage_attempt == attempt) return;
    e.stage = stage;
    e.stage_attempt = attempt;
    publish(e);
    event ev = endpoint_event(e, event_kind::route_stage);
    ev.stage = stage;
    ev.attempt = attempt;
    ev.device = device;
    emit(std::move(ev));
}

} // namespace ae::detail
