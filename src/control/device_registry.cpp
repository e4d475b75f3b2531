// The device registry: one device thread per spec in use, opened off ae-ctl with a timeout.
#include "context_state.h"

namespace ae::detail {

std::shared_ptr<endpoint_block> control_actor::find(const std::string& name) const {
    const auto it = impl_->endpoints.find(name);
    return it == impl_->endpoints.end() ? nullptr : it->second;
}

namespace {
// Makes and starts a device thread: blocking (files, servers, a device that hangs) — never on
// ae-ctl (open_device_async runs it on a helper thread).
std::expected<std::unique_ptr<pipeline::device_thread>, pipeline::device_error> open_blocking(const std::string& spec,
                                                                                               endpoint_direction direction,
                                                                                               const context_options& context,
                                                                                               int control_wake_fd) {
    const auto endpoint_direction =
        direction == endpoint_direction::render ? endpoint_direction::render : endpoint_direction::capture;
    auto dev = context.device_factory ? context.device_factory(spec, direction) : pipeline::make_device(spec, endpoint_direction);
    if (!dev) return std::unexpected(dev.error());
    if (!*dev || (*dev)->direction() != endpoint_direction)
        return std::unexpected(pipeline::device_error{make_error_code(errc::device_unavailable),
                                                      "device '" + spec + "': the device factory made none for this direction"});
    pipeline::device_thread_options options;
    options.hooks = context.device_hooks;
    options.control_wake_fd = control_wake_fd;
    options.stepped = context.stepped;
    if (!(*dev)->realtime() && context.offline_stop_after > hns{0}) {
        options.stop_after_frames = static_cast<std::uint64_t>(
            std::llround(static_cast<double>(context.offline_stop_after.count()) * (*dev)->format().sample_rate / 1e7));
    }
    auto thread = pipeline::device_thread::create(std::move(*dev), options);
    if (!thread) return std::unexpected(thread.error());
    if (auto started = (*thread)->start(); !started) return std::unexpected(started.error());
    return std::move(*thread);
}
} // namespace

control_actor::device_entry* control_actor::find_device(const std::string& spec, endpoint_direction direction) const {
    for (const auto& entry : impl_->devices) {
        if (!entry->lost && entry->spec == spec && entry->direction == direction) return entry.get();
    }
    return nullptr;
}

control_actor::device_entry* control_actor::adopt_device(const std::string& spec, endpoint_direction direction,
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
    entry->period_frames = entry->thread->dev().period_frames();
    control_detail::log_json(impl_->log.logger(), spdlog::level::info,
                             {{"component", "device"}, {"event", "opened"}, {"device", spec},
                              {"format", control_detail::format_json(entry->thread->dev().format())},
                              {"period_frames", entry->thread->dev().period_frames()}});
    impl_->devices.push_back(std::move(entry));
    return impl_->devices.back().get();
}

std::error_code control_actor::log_open_failure(const std::string& spec, const pipeline::device_error& error) {
    control_detail::log_json(impl_->log.logger(), spdlog::level::err,
                             {{"component", "device"}, {"event", "open_failed"}, {"device", spec},
                              {"code", to_string(static_cast<errc>(error.code.value()))}, {"message", error.message}});
    return error.code;
}

void control_actor::open_device_async(const std::string& spec, endpoint_direction direction, open_done done) {
    if (device_entry* existing = find_device(spec, direction)) {
        done(existing, {});
        return;
    }
    struct pending {
        bool finished = false;
        open_done done;
        control_timer timer;
        explicit pending(asio::io_context& io) : timer(io) {}
    };
    auto state = std::make_shared<pending>(impl_->io);
    state->done = std::move(done);
    auto self = shared_from_this();
    // The opened device (or why not) back on ae-ctl.
    auto land = [self, state, spec, direction](auto result) {
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
    };
    if (impl_->options.stepped) { // a simulation: inline, and no real-time timeout
        land(std::make_shared<decltype(open_blocking(spec, direction, impl_->options, 0))>(
            open_blocking(spec, direction, impl_->options, impl_->wake_fd)));
        return;
    }
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
    std::thread([self, spec, direction, land] {
        set_current_thread_name("ae-open");
        auto opened = open_blocking(spec, direction, self->impl_->options, self->impl_->wake_fd);
        land(std::make_shared<decltype(opened)>(std::move(opened)));
    }).detach();
}

void control_actor::release_device(device_entry* entry) {
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
                    control_detail::log_json(impl_->log.logger(), spdlog::level::info, {{"component", "device"}, {"event", "closed"}, {"device", spec}});
                };
            });
            return;
        }
        entry->thread->stop();
        entry->thread->control().collect_retired();
        control_detail::log_json(impl_->log.logger(), spdlog::level::info,
                                 {{"component", "device"}, {"event", "closed"}, {"device", entry->spec}});
        impl_->devices.erase(it);
        return;
    }
}

} // namespace ae::detail
