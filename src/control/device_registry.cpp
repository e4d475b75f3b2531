// The device registry (device_registry.h): device threads opened off ae-ctl with a timeout,
// shared by their users, closed by the last.
#include "device_registry.h"

#include "event_json.h"
#include "json_log.h"

#include <openae/pipeline/devices.h>
#include <openae/rt/thread_name.h>

#include <asio/post.hpp>

#include <cmath>
#include <thread>

namespace ae::detail {

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

device_registry::device_registry(asio::io_context& io, const context_options& options, event_log& log, int control_wake_fd,
                                 device_registry_owner& owner)
    : io_(io), options_(options), log_(log), control_wake_fd_(control_wake_fd), owner_(owner) {}

device_entry* device_registry::find(const std::string& spec, endpoint_direction direction) const {
    for (const auto& entry : devices_) {
        if (!entry->lost && entry->spec == spec && entry->direction == direction) return entry.get();
    }
    return nullptr;
}

device_entry* device_registry::adopt(const std::string& spec, endpoint_direction direction,
                                     std::unique_ptr<pipeline::device_thread> thread) {
    if (device_entry* existing = find(spec, direction)) {
        // Opened twice at once (two reroutes): keep the first, let this one go.
        thread->stop();
        return existing;
    }
    auto entry = std::make_unique<device_entry>();
    entry->spec = spec;
    entry->direction = direction;
    entry->thread = std::move(thread);
    entry->period_frames = entry->thread->dev().period_frames();
    control_detail::log_json(log_.logger(), spdlog::level::info,
                             {{"component", "device"}, {"event", "opened"}, {"device", spec},
                              {"format", control_detail::format_json(entry->thread->dev().format())},
                              {"period_frames", entry->thread->dev().period_frames()}});
    devices_.push_back(std::move(entry));
    return devices_.back().get();
}

std::error_code device_registry::log_open_failure(const std::string& spec, const pipeline::device_error& error) {
    control_detail::log_json(log_.logger(), spdlog::level::err,
                             {{"component", "device"}, {"event", "open_failed"}, {"device", spec},
                              {"code", to_string(static_cast<errc>(error.code.value()))}, {"message", error.message}});
    return error.code;
}

void device_registry::open(const std::string& spec, endpoint_direction direction, open_done done) {
    if (device_entry* existing = find(spec, direction)) {
        done(existing, {});
        return;
    }
    struct pending {
        bool finished = false;
        open_done done;
        control_timer timer;
        explicit pending(asio::io_context& io) : timer(io) {}
    };
    auto state = std::make_shared<pending>(io_);
    state->done = std::move(done);
    // The owner (and this registry in it) lives until every open has landed.
    auto alive = owner_.keep_alive();
    // The opened device (or why not) back on ae-ctl.
    auto land = [this, alive, state, spec, direction](auto result) {
        asio::post(io_, [this, alive, state, spec, direction, result] {
            if (state->finished || stopping_) {
                if (*result) (**result)->stop(); // too late: the caller was told `timeout`
                return;
            }
            state->finished = true;
            state->timer.cancel();
            if (!*result) {
                state->done(std::unexpected(log_open_failure(spec, result->error())), result->error().message);
                return;
            }
            state->done(adopt(spec, direction, std::move(**result)), {});
        });
    };
    if (options_.stepped) { // a simulation: inline, and no real-time timeout
        land(std::make_shared<decltype(open_blocking(spec, direction, options_, 0))>(
            open_blocking(spec, direction, options_, control_wake_fd_)));
        return;
    }
    state->timer.expires_after(std::chrono::microseconds(options_.open_timeout.count() / 10));
    state->timer.async_wait([this, alive, state, spec](const std::error_code& ec) {
        if (ec || state->finished || stopping_) return;
        state->finished = true;
        event ev;
        ev.kind = event_kind::device_unresponsive;
        ev.device = spec;
        ev.message = "open did not finish within " + std::to_string(options_.open_timeout.count() / 10'000) + " ms";
        const std::string why = "device '" + spec + "': " + ev.message;
        owner_.emit(std::move(ev));
        state->done(std::unexpected(make_error_code(errc::timeout)), why);
    });
    // A helper thread, not ae-ctl: an open may hang. It holds the owner alive until it ends.
    std::thread([this, alive, spec, direction, land] {
        set_current_thread_name("ae-open");
        auto opened = open_blocking(spec, direction, options_, control_wake_fd_);
        land(std::make_shared<decltype(opened)>(std::move(opened)));
    }).detach();
}

void device_registry::release(device_entry* entry) {
    if (!entry) return;
    if (entry->users > 0) --entry->users;
    if (entry->users != 0) return;
    for (auto it = devices_.begin(); it != devices_.end(); ++it) {
        if (it->get() != entry) continue;
        if (entry->lost && !stopping_) {
            // Joining a device thread waits for its wait point, up to a period (a reroute's old
            // device, on its virtual clock): on an "ae-stop" helper, not on ae-ctl. A lost device
            // has nothing left to flush; the registry forgets it now.
            std::shared_ptr<pipeline::device_thread> thread(std::move(entry->thread));
            std::string spec = entry->spec;
            devices_.erase(it);
            owner_.off_thread("ae-stop", [this, thread = std::move(thread), spec = std::move(spec)]() mutable -> std::function<void()> {
                thread->stop();
                thread.reset(); // freed here, with the chains it retired
                return [this, spec] {
                    control_detail::log_json(log_.logger(), spdlog::level::info, {{"component", "device"}, {"event", "closed"}, {"device", spec}});
                };
            });
            return;
        }
        entry->thread->stop();
        entry->thread->control().collect_retired();
        control_detail::log_json(log_.logger(), spdlog::level::info,
                                 {{"component", "device"}, {"event", "closed"}, {"device", entry->spec}});
        devices_.erase(it);
        return;
    }
}

void device_registry::stop_threads() {
    for (auto& entry : devices_) entry->thread->stop();
}

std::vector<device_info> device_registry::infos() const {
    std::vector<device_info> out;
    for (const auto& entry : devices_) {
        const auto& dev = entry->thread->dev();
        device_info d;
        d.spec = entry->spec;
        d.direction = entry->direction;
        d.format = dev.format();
        d.period_frames = entry->period_frames;
        d.latency = dev.latency();
        d.realtime = dev.realtime();
        d.lost = entry->lost || entry->thread->lost();
        d.finished = entry->thread->finished();
        d.users = entry->users;
        d.frames = entry->thread->frames_processed();
        d.periods = entry->thread->periods();
        const auto load = entry->thread->load();
        d.busy_ns = load.busy_ns;
        d.busy_steps = load.steps;
        out.push_back(std::move(d));
    }
    return out;
}

} // namespace ae::detail
