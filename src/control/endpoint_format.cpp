// Reconfiguration through the barrier: a new format (a new rate: a successor chain built off
// ae-ctl) or period.
#include "context_state.h"

namespace ae::detail {

void control_actor::set_format(endpoint_block& block, const frame_format& format, std::function<void(std::error_code)> done) {
    if (block.destroyed) return done(make_error_code(errc::unknown_endpoint));
    if (!is_valid(format)) return done(make_error_code(errc::unsupported_format));
    if (block.building) return done(make_error_code(errc::busy)); // one chain build at a time
    const bool new_rate = block.state != endpoint_state::created && format.sample_rate != block.format.sample_rate;
    if (!new_rate || !block.attached || !block.entry) return done(reconfigure(block, format, {}));
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
            control_detail::log_json(impl_->log.logger(), spdlog::level::err,
                                     {{"component", "endpoint"}, {"endpoint", e->name}, {"event", "format_change_failed"},
                                      {"code", to_string(static_cast<errc>(failed->code.value()))}, {"message", failed->message}});
            return done(failed->code);
        }
        done(reconfigure(*e, format, chain));
    });
}

std::error_code control_actor::reconfigure(endpoint_block& e, const frame_format& format, const std::shared_ptr<prepared_chain>& successor) {
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
    event ev = endpoint_event(e, event_kind::format_changed);
    ev.format = format;
    emit(std::move(ev));
    return {};
}

void control_actor::build_off_thread(const std::shared_ptr<endpoint_block>& e, const pipeline::chain_plan& plan,
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

std::error_code control_actor::set_period(endpoint_block& e, hns period) {
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

bool control_actor::grow_buffer_for(endpoint_block& e, const device_entry& entry) {
    if (e.state == endpoint_state::created) return false;
    const std::uint64_t needed = minimum_buffer(e.format, entry);
    if (needed <= e.buffer_frames) return false;
    e.core().collect_retired();
    if (e.core().reconfigure(e.format, e.frames_per_packet, needed)) return false;
    control_detail::log_json(impl_->log.logger(), spdlog::level::info,
                             {{"component", "endpoint"}, {"endpoint", e.name}, {"event", "buffer_resized"}, {"device", entry.spec},
                              {"from_frames", e.buffer_frames}, {"to_frames", needed}});
    e.buffer_frames = needed;
    return true;
}

void control_actor::on_device_period_changed(device_entry& entry, std::uint32_t frames) {
    if (entry.period_frames == frames) return;
    control_detail::log_json(impl_->log.logger(), spdlog::level::info,
                             {{"component", "device"}, {"event", "period_changed"}, {"device", entry.spec},
                              {"from_frames", entry.period_frames}, {"to_frames", frames}});
    entry.period_frames = frames;
    for (auto& [name, e] : impl_->endpoints) {
        if (e->entry != &entry || e->destroyed) continue;
        const hns latency_before = summary(*e).latency;
        (void)grow_buffer_for(*e, entry);
        publish(*e);
        latency_changed_since(*e, latency_before);
    }
}

void control_actor::on_device_latency_changed(device_entry& entry) {
    for (auto& [name, e] : impl_->endpoints) {
        if (e->entry != &entry || e->destroyed) continue;
        const hns latency_before = summary(*e).latency;
        publish(*e);
        latency_changed_since(*e, latency_before);
    }
}

} // namespace ae::detail
