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
// The queue's first level beyond both devices' periods: the resampler's delay and the 4 ms
// the pump keeps its lowest point at (bridge_pump.cpp).
constexpr double prefill_extra_ms = 2.1 + 4;

std::uint64_t period_in(const control_actor::device_entry& entry, std::uint32_t rate) {
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
            auto made = pipeline::bridge_pump::create(capture->capture->rt(), (*render)->render->rt(),
                                                      {config.sample_rate, config.channels, config.drift_control});
            if (!made) return fail(made.error(), "cannot make the bridge's resampler");
            std::shared_ptr<pipeline::bridge_pump> pump = std::move(*made);
            capture->capture->hold(std::make_shared<pump_hold>(pump_hold{pump, *render}));
            // release: the pump is built before the capture device thread (started below) calls it.
            capture->capture->link().consumer.store(pump.get(), std::memory_order_release);
            // The first level covers a period of each device, so the render device does not find
            // the ring empty before the capture device's first period has come through.
            std::uint64_t prefill = std::llround(prefill_extra_ms * config.sample_rate / 1000.0);
            if (capture->entry) prefill += period_in(*capture->entry, config.sample_rate);
            if ((*render)->entry) prefill += period_in(*(*render)->entry, config.sample_rate);
            (void)pump->prefill(prefill);
            if (auto ec = start(**render)) return fail(ec, "cannot start the render side");
            if (auto ec = start(*capture)) return fail(ec, "cannot start the capture side");
            impl_->bridges.emplace(config.name, bridge_entry{config, capture, *render, pump});
            control_detail::log_json(impl_->log.logger(), spdlog::level::info,
                                     {{"component", "bridge"}, {"bridge", config.name}, {"event", "created"}, {"from", capture->device},
                                      {"to", (*render)->device}, {"prefill_frames", prefill}, {"drift_control", config.drift_control}});
            done(bridge_status_of(impl_->bridges.at(config.name)), {});
        });
    });
}

bool control_actor::destroy_bridge(const std::string& name) {
    const auto it = impl_->bridges.find(name);
    if (it == impl_->bridges.end()) return false;
    const bridge_entry bridge = it->second;
    impl_->bridges.erase(it);
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
