// The control actor's bridges (bridge.h): two endpoints made and started together, joined by a
// pump on the capture device's thread; destroyed together.
#include "context_state.h"

#include <openae/pipeline/bridge_pump.h>

namespace ae::detail {
namespace {

// What the capture endpoint keeps alive while a device thread may still run its pump: the pump,
// and the render endpoint it writes into (destroyed first or not, its memory stays).
struct pump_hold {
    std::shared_ptr<pipeline::bridge_pump> pump;
    std::shared_ptr<endpoint_block> render;
};

// The render buffer holds the queue with room to spare: 50 periods (500 ms at 10 ms).
constexpr std::uint32_t render_buffer_periods = 50;
constexpr std::uint32_t capture_buffer_periods = 8;
// The queue's first level beyond both devices' periods: the resampler's delay, and the margin
// the pump keeps its lowest point at.
constexpr double resampler_delay_ms = 2.1;

std::uint64_t period_in(const device_entry& entry, std::uint32_t rate) {
    const frame_format device_format = entry.thread->dev().format();
    return (std::uint64_t{entry.period_frames} * rate + device_format.sample_rate - 1) / device_format.sample_rate;
}

} // namespace

void control_actor::create_bridge(const bridge_config& config, bridge_done done) {
    const frame_format format{config.sample_rate, config.channels, sample_type::f32};
    if (config.name.empty() || config.name.size() > 240) return done(std::unexpected(make_error_code(errc::bad_argument)), {});
    if (impl_->bridges.contains(config.name) || impl_->endpoints.contains(config.name)) {
        return done(std::unexpected(make_error_code(errc::already_initialized)), {});
    }
    if (!is_valid(format)) return done(std::unexpected(make_error_code(errc::unsupported_format)), {});
    if (config.period <= hns{0} || config.period > hns{1'000'000}) return done(std::unexpected(make_error_code(errc::bad_argument)), {});
    if (config.margin < hns{0} || config.margin > hns{5'000'000}) return done(std::unexpected(make_error_code(errc::bad_argument)), {});
    endpoint_config from{config.name + ".capture", config.from, format, config.period, capture_buffer_periods, config.routing};
    endpoint_config to{config.name + ".render", config.to, format, config.period, render_buffer_periods, config.routing};
    create(endpoint_direction::capture, from, [this, config, to, done](auto capture, const std::string& why) {
        if (!capture) return done(std::unexpected(capture.error()), why);
        create(endpoint_direction::render, to, [this, config, capture = *capture, done](auto render, const std::string& why) {
            auto fail = [&](std::error_code ec, const std::string& reason) {
                (void)destroy(capture->name);
                if (render) (void)destroy((*render)->name);
                done(std::unexpected(ec), reason);
            };
            if (!render) return fail(render.error(), why);
            if (impl_->stopping || impl_->bridges.contains(config.name)) return fail(make_error_code(errc::already_initialized), {});
            // The capture device's period in the bridge's frames (rounded down: a period that
            // brings one frame more now and then still completes a block).
            std::uint32_t capture_period = 0;
            if (capture->entry) {
                const frame_format device_format = capture->entry->thread->dev().format();
                capture_period = static_cast<std::uint32_t>(std::uint64_t{capture->entry->period_frames} * config.sample_rate / device_format.sample_rate);
            }
            auto made = pipeline::bridge_pump::create(capture->capture->rt(), (*render)->render->rt(),
                                                      {config.sample_rate, config.channels, config.drift_control, static_cast<double>(config.margin.count()) / 1e4,
                                                       capture_period, impl_->drain.wake_fd()});
            if (!made) return fail(made.error(), "cannot make the bridge's resampler");
            std::shared_ptr<pipeline::bridge_pump> pump = std::move(*made);
            capture->capture->hold(std::make_shared<pump_hold>(pump_hold{pump, *render}));
            // release: the pump is built before the capture device thread (started below) calls it.
            capture->capture->control_link().set_consumer(pump.get());
            // The first level covers a period of each device, so the render device does not find
            // the ring empty before the capture device's second period has come through.
            std::uint64_t prefill = std::llround((resampler_delay_ms + static_cast<double>(config.margin.count()) / 1e4) * config.sample_rate / 1000.0);
            if (capture->entry) prefill += period_in(*capture->entry, config.sample_rate);
            if ((*render)->entry) prefill += period_in(*(*render)->entry, config.sample_rate);
            (void)pump->prefill(prefill);
            // The capture side first; the render side once the pump's first pass has come
            // (check_bridge_starts, woken by the pump), or after the open timeout at the latest.
            if (auto ec = start(*capture)) return fail(ec, "cannot start the capture side");
            auto deadline = std::make_shared<control_timer>(impl_->io, std::chrono::microseconds(impl_->options.open_timeout.count() / 10));
            impl_->bridges.emplace(config.name, bridge_entry{config, capture, *render, pump, false, done, deadline});
            deadline->async_wait([this, self = shared_from_this(), name = config.name](const std::error_code& ec) {
                if (!ec && !impl_->stopping) start_bridge_render(name, true);
            });
            control_detail::log_json(impl_->log.logger(), spdlog::level::info,
                                     {{"component", "bridge"}, {"bridge", config.name}, {"event", "created"}, {"from", capture->device},
                                      {"to", (*render)->device}, {"prefill_frames", prefill}, {"drift_control", config.drift_control}});
            check_bridge_starts();
        });
    });
}

void control_actor::check_bridge_starts() {
    std::vector<std::string> ready;
    for (const auto& [name, bridge] : impl_->bridges) {
        if (!bridge.render_started && bridge.pump->read_figures().passes > 0) ready.push_back(name);
    }
    for (const auto& name : ready) start_bridge_render(name, false);
}

void control_actor::start_bridge_render(const std::string& name, bool timed_out) {
    const auto it = impl_->bridges.find(name);
    if (it == impl_->bridges.end() || it->second.render_started) return;
    bridge_entry& bridge = it->second;
    bridge.render_started = true;
    bridge.first_pass_deadline->cancel();
    if (timed_out) {
        control_detail::log_json(impl_->log.logger(), spdlog::level::warn,
                                 {{"component", "bridge"}, {"bridge", name}, {"event", "capture_late"},
                                  {"message", "no capture period within the open timeout: the render side starts anyway"}});
    }
    const std::error_code ec = start(*bridge.render);
    auto done = std::move(bridge.done);
    if (ec) {
        (void)destroy_bridge(name);
        if (done) done(std::unexpected(ec), "cannot start the render side");
        return;
    }
    if (done) done(bridge_status_of(bridge), {});
}

bool control_actor::destroy_bridge(const std::string& name) {
    const auto it = impl_->bridges.find(name);
    if (it == impl_->bridges.end()) return false;
    const bridge_entry bridge = it->second;
    impl_->bridges.erase(it);
    if (bridge.first_pass_deadline) bridge.first_pass_deadline->cancel();
    // Asked for while it was being made: the creation's caller hears it is gone.
    if (bridge.done) bridge.done(std::unexpected(make_error_code(errc::unknown_endpoint)), "destroyed while it was being made");
    // The capture endpoint first: its device thread lets go of the pump at its next period (the
    // pump and the render endpoint stay alive until then, held by it).
    (void)destroy(bridge.capture->name);
    (void)destroy(bridge.render->name);
    control_detail::log_json(impl_->log.logger(), spdlog::level::info, {{"component", "bridge"}, {"bridge", name}, {"event", "destroyed"}});
    return true;
}

bridge_status control_actor::bridge_status_of(const bridge_entry& bridge) const {
    const auto figures = bridge.pump->read_figures();
    const double ms_per_frame = 1000.0 / bridge.config.sample_rate;
    bridge_status s;
    s.name = bridge.config.name;
    s.from = bridge.capture->device;
    s.to = bridge.render->device;
    s.format = bridge.capture->format;
    s.drift_control = bridge.config.drift_control;
    s.queue_ms = figures.queue_frames * ms_per_frame;
    s.average_ms = figures.average_frames * ms_per_frame;
    s.target_ms = figures.target_frames * ms_per_frame;
    s.drift_ppm = figures.drift_ppm;
    s.latency = hns{std::llround(s.average_ms * 1e4)};
    if (bridge.capture->entry) s.latency += bridge.capture->entry->thread->dev().latency();
    if (bridge.render->entry) s.latency += bridge.render->entry->thread->dev().latency();
    s.frames_in = figures.frames_in;
    s.frames_out = figures.frames_out;
    s.dropped_frames = figures.dropped_frames;
    s.raises = figures.raises;
    if (auto st = stats(*bridge.capture)) s.capture = *st;
    if (auto st = stats(*bridge.render)) s.render = *st;
    return s;
}

std::vector<bridge_status> control_actor::bridges() const {
    std::vector<bridge_status> list;
    for (const auto& [name, bridge] : impl_->bridges) list.push_back(bridge_status_of(bridge));
    return list;
}

} // namespace ae::detail
