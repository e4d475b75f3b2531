// The router (router.h): moves, device loss, rerouting by policy with storm hold-down and
// backoff — each step a named stage (route_stage) in status and as an event.
#include "router.h"

#include "context_state.h"

namespace ae::detail {

namespace {
// A storm's hold-down: storm_hold_down for the first loss over storm_losses, doubled for each
// one more, capped at retry_max.
hns hold_down_for(const context_options& options, std::size_t losses) {
    const std::size_t extra = losses - options.storm_losses;
    const auto first = options.storm_hold_down.count();
    return hns{extra >= 30 ? options.retry_max.count() : std::min<std::int64_t>(options.retry_max.count(), first << extra)};
}
// Reopening's backoff: retry_first, 2 x, 4 x... capped at retry_max.
hns backoff_after(const context_options& options, int attempt) {
    const auto first = options.retry_first.count();
    const auto cap = options.retry_max.count();
    return hns{attempt >= 30 ? cap : std::min<std::int64_t>(cap, first << attempt)};
}
} // namespace

router::router(asio::io_context& io, const context_options& options, event_log& log, device_registry& registry, router_owner& owner)
    : io_(io), options_(options), log_(log), registry_(registry), owner_(owner) {}

void router::begin_stopping(const std::vector<std::shared_ptr<endpoint_block>>& endpoints) {
    stopping_ = true;
    for (const auto& e : endpoints) {
        if (e->route.hold_down) e->route.hold_down->cancel(); // or run() would wait for it
    }
}

void router::route_to(const std::shared_ptr<endpoint_block>& e, device_entry* entry, std::function<void(std::error_code)> done) {
    if (e->destroyed) {
        done(make_error_code(errc::unknown_endpoint));
        return;
    }
    if (entry == e->entry) {
        done({});
        return;
    }
    ++entry->users; // held from now, so nothing closes it while the old device lets go
    e->route.moving = true;
    enter_stage(*e, route_stage::switching, 0, entry->spec);
    if (e->state == endpoint_state::created) return switch_route(e, entry, nullptr, std::move(done));
    // The chain for the new device (a resampler to prime when the rates differ: milliseconds) is
    // built on a helper thread while the endpoint still plays where it is.
    const auto plan = entry->thread->control().plan();
    const frame_format format = e->format;
    owner_.build_off_thread(e, plan, format, [this, e, entry, done = std::move(done)](const auto& chain) { switch_route(e, entry, chain, done); });
}

void router::switch_route(const std::shared_ptr<endpoint_block>& e, device_entry* entry, std::shared_ptr<prepared_chain> chain,
                          std::function<void(std::error_code)> done) {
    device_entry* const from = e->entry;
    auto finish = [this, e, entry, from, chain, done = std::move(done)]() {
        e->route.moving = false;
        if (e->destroyed || stopping_) {
            registry_.release(entry);
            done(make_error_code(errc::unknown_endpoint));
            return;
        }
        std::error_code ec;
        if (e->state != endpoint_state::created) {
            auto attached = owner_.attach_prepared(*e, *entry, chain);
            e->attached = attached.has_value();
            if (!attached) ec = attached.error().code;
        }
        const std::string from_spec = from ? from->spec : std::string{};
        const hns latency_before = control_actor::summary(*e).latency;
        // What the old device reported as it detached (device_lost frames) is counted before
        // `rerouted` is told: stats never lag the event.
        owner_.drain_inbox();
        e->entry = entry;
        e->device = entry->spec;
        registry_.release(from);
        // A device with longer periods needs a bigger buffer.
        (void)owner_.grow_buffer_for(*e, *entry);
        owner_.publish(*e);
        event ev = endpoint_event(*e, event_kind::rerouted);
        ev.device = from_spec;
        ev.to = entry->spec;
        if (ec) ev.message = ec.message();
        owner_.emit(std::move(ev));
        // A device with another period (or rate) changes what the engine's frames take to be heard.
        owner_.latency_changed_since(*e, latency_before);
        if (!ec && e->state == endpoint_state::error) owner_.state_changed(*e, endpoint_state::running);
        enter_stage(*e, ec ? route_stage::failed : e->route.recovering ? route_stage::rerouted : route_stage::routed, 0, entry->spec);
        if (!ec) e->route.recovering = false;
        done(ec);
    };
    if (e->destroyed || stopping_) return finish();
    if (e->attached && from) {
        (void)from->thread->control().detach(e->id);
        e->attached = false;
        // The old device thread must have detached it before the new one reads the same ring.
        owner_.wait_detached(e, from, std::move(finish));
    } else {
        finish();
    }
}

void router::move_to(const std::shared_ptr<endpoint_block>& e, const std::string& device, std::function<void(std::error_code)> done) {
    if (e->destroyed) return done(make_error_code(errc::unknown_endpoint));
    if (device.empty()) return done(make_error_code(errc::bad_argument));
    if (e->route.moving) return done(make_error_code(errc::busy));
    if (e->entry && !e->entry->lost && device == e->device) return done({});
    if (e->route.hold_down) {
        // Held down after a storm of losses: the caller's choice of device ends the hold.
        auto timer = std::move(e->route.hold_down);
        timer->cancel();
    }
    e->route.moving = true; // until route_to finishes: no second move, no destroy of the route under it
    registry_.open(device, e->direction, [this, e, done = std::move(done)](std::expected<device_entry*, std::error_code> opened,
                                                                          const std::string&) mutable {
        if (!opened) {
            e->route.moving = false;
            // A hold this move ended stays ended: the endpoint waits, lost, for the next move.
            if (e->route.stage == route_stage::held_down) enter_stage(*e, route_stage::lost, 0, e->device);
            done(opened.error());
            return;
        }
        route_to(e, *opened, std::move(done));
    });
}

void router::on_device_lost(const device_entry& entry, const std::vector<std::shared_ptr<endpoint_block>>& affected, const char* why,
                            hns when) {
    for (auto& e : affected) {
        event ev = endpoint_event(*e, event_kind::device_lost);
        ev.device = entry.spec;
        ev.message = why;
        ev.time = when;
        owner_.emit(std::move(ev));
        e->route.recovering = true;
        enter_stage(*e, route_stage::lost, 0, entry.spec);
        // Storm debounce: the endpoint stays on the virtual clock while its device flaps.
        const hns now = monotonic_now();
        const hns window = options_.storm_window;
        std::erase_if(e->route.recent_losses, [&](hns t) { return now - t > window; });
        e->route.recent_losses.push_back(now);
        const std::size_t losses = e->route.recent_losses.size();
        if (options_.storm_losses != 0 && losses >= options_.storm_losses) {
            const std::int64_t delay = hold_down_for(options_, losses).count();
            control_detail::log_json(log_.logger(), spdlog::level::warn,
                                     {{"component", "endpoint"}, {"endpoint", e->name}, {"event", "reroute_debounced"},
                                      {"device", entry.spec}, {"losses_in_window", losses}, {"delay_ms", static_cast<double>(delay) / 1e4}});
            // No automatic reroute while held down; a move asked for meanwhile cancels the hold.
            e->route.hold_down = std::make_shared<control_timer>(io_, std::chrono::microseconds(delay / 10));
            enter_stage(*e, route_stage::held_down, 0, entry.spec);
            e->route.hold_down->async_wait([this, alive = owner_.keep_alive(), e, timer = e->route.hold_down](const std::error_code& ec) {
                if (e->route.hold_down == timer) e->route.hold_down.reset();
                if (!ec) reroute(e, 0);
            });
            continue;
        }
        reroute(e, 0);
    }
}

void router::on_device_reshaped(const device_entry& entry, const std::vector<std::shared_ptr<endpoint_block>>& affected, hns when) {
    for (const auto& e : affected) {
        if (e->destroyed || stopping_ || e->route.moving || e->route.hold_down) continue;
        e->route.moving = true;
        enter_stage(*e, route_stage::reopening, 1, entry.spec);
        registry_.open(entry.spec, e->direction, [this, e, spec = entry.spec, when](std::expected<device_entry*, std::error_code> opened,
                                                                                   const std::string&) {
            e->route.moving = false;
            if (opened) {
                route_to(e, *opened, [](std::error_code) {});
                return;
            }
            // Gone while it changed (a server stopping): a loss, by the endpoint's policy.
            if (!e->destroyed && e->entry != nullptr && e->entry->spec == spec) {
                on_device_lost(*e->entry, {e}, "device changed its rate and did not open again", when);
            }
        });
    }
}

void router::reroute(const std::shared_ptr<endpoint_block>& e, int attempt) {
    if (e->destroyed || stopping_ || !e->entry || !e->entry->lost || e->route.moving || e->route.hold_down) return;
    const routing_policy policy = e->config.routing;
    if (policy == routing_policy::fail) {
        control_detail::log_json(log_.logger(), spdlog::level::err,
                                 {{"component", "endpoint"}, {"endpoint", e->name}, {"event", "route_failed"},
                                  {"device", e->device}, {"message", "routing=fail: the endpoint stays on the virtual clock"}});
        if (e->state == endpoint_state::running) owner_.state_changed(*e, endpoint_state::error);
        enter_stage(*e, route_stage::failed, 0, e->device);
        return;
    }
    // follow_default goes to the context's default device — unless that is what was lost, then
    // (like pinned) it keeps retrying the same device.
    std::string target = e->entry->spec;
    if (policy == routing_policy::follow_default && e->entry->spec != options_.default_device) {
        target = options_.default_device;
    }
    e->route.moving = true;
    enter_stage(*e, route_stage::reopening, static_cast<std::uint32_t>(attempt) + 1, target);
    registry_.open(target, e->direction, [this, e, target, attempt](std::expected<device_entry*, std::error_code> opened,
                                                                    const std::string&) {
        e->route.moving = false;
        if (opened) {
            route_to(e, *opened, [](std::error_code) {});
            return;
        }
        const std::int64_t delay = backoff_after(options_, attempt).count();
        control_detail::log_json(log_.logger(), spdlog::level::warn,
                                 {{"component", "endpoint"}, {"endpoint", e->name}, {"event", "reopen_scheduled"},
                                  {"device", target}, {"attempt", attempt + 1}, {"delay_ms", static_cast<double>(delay) / 1e4},
                                  {"code", to_string(static_cast<errc>(opened.error().value()))}});
        auto timer = std::make_shared<control_timer>(io_, std::chrono::microseconds(delay / 10));
        timer->async_wait([this, alive = owner_.keep_alive(), e, attempt, timer](const std::error_code& ec) {
            if (!ec) reroute(e, attempt + 1);
        });
    });
}

void router::enter_stage(endpoint_block& e, route_stage stage, std::uint32_t attempt, const std::string& device) {
    if (e.route.stage == stage && e.route.attempt == attempt) return;
    e.route.stage = stage;
    e.route.attempt = attempt;
    owner_.publish(e);
    event ev = endpoint_event(e, event_kind::route_stage);
    ev.stage = stage;
    ev.attempt = attempt;
    ev.device = device;
    owner_.emit(std::move(ev));
}

} // namespace ae::detail
