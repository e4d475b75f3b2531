// The endpoint operations: create, destroy, buffer, stream flags, event handle, start, stop, reset,
// stats — and what the getters read.
#include "context_state.h"

namespace ae::detail {

void control_actor::publish(endpoint_block& e) {
    endpoint_summary s;
    s.state = e.state;
    s.format = e.format;
    s.frames_per_packet = e.frames_per_packet;
    s.buffer_frames = e.buffer_frames;
    s.period = e.period;
    s.epoch = e.core().requested_epoch();
    s.device = e.device;
    s.stage = e.route.stage;
    s.attempt = e.route.attempt;
    s.latency = hns{0};
    if (e.buffer_frames != 0) {
        s.latency = duration_of(e.buffer_frames, e.format.sample_rate);
        if (e.entry) s.latency += e.entry->thread->dev().latency();
    }
    const std::lock_guard lock(e.summary_mutex);
    e.published = s;
}

std::expected<endpoint_stats, std::error_code> control_actor::stats(const endpoint_block& e) const {
    if (e.destroyed) return std::unexpected(make_error_code(errc::unknown_endpoint));
    endpoint_stats st = e.stats;
    st.discarded_frames = e.core().control_link().discarded_frames();
    st.glitch_overflows = e.core().glitch_overflow_count();
    return st;
}

endpoint_summary control_actor::summary(const endpoint_block& e) {
    const std::lock_guard lock(e.summary_mutex);
    return e.published;
}

const std::string& control_actor::name(const endpoint_block& e) noexcept { return e.name; }
endpoint_direction control_actor::direction(const endpoint_block& e) noexcept { return e.direction; }
routing_policy control_actor::routing(const endpoint_block& e) noexcept { return e.config.routing; }

std::vector<std::shared_ptr<endpoint_block>> control_actor::endpoints() const {
    std::vector<std::shared_ptr<endpoint_block>> out;
    out.reserve(impl_->endpoints.size());
    for (const auto& [name, e] : impl_->endpoints) out.push_back(e);
    return out;
}

std::string control_actor::default_device() const {
    const std::lock_guard lock(impl_->default_mutex); // a host's thread may ask while ae-ctl changes it
    return impl_->options.default_device;
}

std::vector<device_info> control_actor::devices() const { return impl_->registry.infos(); }

std::shared_ptr<endpoint_block> control_actor::find(const std::string& name) const {
    const auto it = impl_->endpoints.find(name);
    return it == impl_->endpoints.end() ? nullptr : it->second;
}

std::error_code control_actor::inject(endpoint_block& e, const std::string& fault, std::string& message) {
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
    control_detail::log_json(impl_->log.logger(), spdlog::level::info,
                             {{"component", "device"}, {"event", "injected"}, {"endpoint", e.name}, {"device", e.entry->spec},
                              {"fault", fault}});
    return {};
}
render_endpoint_rt* control_actor::render_rt(endpoint_block& e) noexcept { return e.render ? &e.render->rt() : nullptr; }
capture_endpoint_rt* control_actor::capture_rt(endpoint_block& e) noexcept { return e.capture ? &e.capture->rt() : nullptr; }

void control_actor::latency_changed_since(endpoint_block& e, hns before) {
    const hns after = summary(e).latency;
    if (after == before) return;
    event ev = endpoint_event(e, event_kind::latency_changed);
    ev.latency = after;
    emit(std::move(ev));
}

void control_actor::state_changed(endpoint_block& e, endpoint_state state) {
    e.state = state;
    publish(e);
    event ev = endpoint_event(e, event_kind::state_changed);
    ev.state = state;
    emit(std::move(ev));
}

void control_actor::create(endpoint_direction direction, const endpoint_config& config, create_done done) {
    if (config.name.empty() || config.name.size() > 256) return done(std::unexpected(make_error_code(errc::bad_argument)), {});
    if (impl_->endpoints.contains(config.name)) return done(std::unexpected(make_error_code(errc::already_initialized)), {});
    if (!is_valid(config.format)) return done(std::unexpected(make_error_code(errc::unsupported_format)), {});
    if (config.period < hns{0}) return done(std::unexpected(make_error_code(errc::bad_argument)), {});
    const std::string device = config.device.empty() ? impl_->options.default_device : config.device;
    // The device is opened now (off ae-ctl, with the open timeout), so a bad spec fails the
    // creation, not a later set_buffer.
    impl_->registry.open(device, direction, [this, direction, config, device, done = std::move(done)](
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
            e->render->control_link().set_control_wake_fd(impl_->drain.wake_fd());
        } else {
            e->capture = std::make_unique<capture_endpoint_core>(e->id);
        }
        // Its glitch records go to the inbox, through a token of each side's own (made here, off
        // the RT threads, before either side runs).
        e->rt_post = impl_->drain.make_producer();
        e->device_post = impl_->drain.make_producer();
        e->core().route_glitches_to(e->rt_post.get(), e->device_post.get());
        auto finish = [this, e, config, done](const std::shared_ptr<prepared_chain>& chain) {
            // Another creation of the same name may have finished meanwhile; or the context stops.
            if (impl_->stopping || impl_->endpoints.contains(config.name)) {
                impl_->registry.release(e->entry);
                e->entry = nullptr;
                return done(std::unexpected(make_error_code(impl_->stopping ? errc::unknown_endpoint : errc::already_initialized)), {});
            }
            impl_->endpoints.emplace(e->name, e);
            impl_->drain.add_endpoint(e->id, *e);
            publish(*e);
            control_detail::log_json(impl_->log.logger(), spdlog::level::info,
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

std::error_code control_actor::destroy(const std::string& name) {
    if (destroy_bridge(name)) return {};
    auto e = find(name);
    if (!e) return make_error_code(errc::unknown_endpoint);
    // A bridge's endpoints go with their bridge.
    for (const auto& [bridge_name, bridge] : impl_->bridges) {
        if (bridge.capture == e || bridge.render == e) return make_error_code(errc::busy);
    }
    if (e->state == endpoint_state::running || e->state == endpoint_state::error) (void)e->core().stop();
    if (e->attached && e->entry) {
        (void)e->entry->thread->control().detach(e->id);
        // The device thread lets go of the chain at its next period; the endpoint's memory
        // must outlive that, so the block stays alive until the thread confirms.
        wait_detached(e, e->entry, [this, e] {
            impl_->registry.release(e->entry);
            e->entry = nullptr;
            e->attached = false;
        });
    } else if (!e->route.moving) {
        impl_->registry.release(e->entry);
        e->entry = nullptr;
    }
    e->destroyed = true;
    drain_inbox(); // what it reported before it went is counted
    impl_->drain.remove_endpoint(e->id);
    impl_->endpoints.erase(name);
    control_detail::log_json(impl_->log.logger(), spdlog::level::info, {{"component", "endpoint"}, {"endpoint", name}, {"event", "destroyed"}});
    return {};
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

std::uint64_t control_actor::minimum_buffer(const frame_format& format, const device_entry& device) {
    const frame_format device_format = device.thread->dev().format();
    const std::uint64_t device_period = (std::uint64_t{device.period_frames} * format.sample_rate +
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

void control_actor::set_buffer(endpoint_block& block, hns max_period, std::uint32_t latency_coefficient,
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

std::error_code control_actor::apply_buffer(endpoint_block& e, hns max_period, std::uint32_t latency_coefficient,
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

std::error_code control_actor::set_stream_flags(endpoint_block& e, stream_flags flags) {
    if (e.destroyed) return make_error_code(errc::unknown_endpoint);
    if (flags != stream_flags::none && flags != stream_flags::event_callback) return make_error_code(errc::bad_argument);
    return {};
}

std::error_code control_actor::set_event_handle(endpoint_block& e, int eventfd) {
    if (e.destroyed) return make_error_code(errc::unknown_endpoint);
    return e.core().set_event_handle(eventfd);
}

std::error_code control_actor::start(endpoint_block& e) {
    if (e.destroyed) return make_error_code(errc::unknown_endpoint);
    if (auto ec = e.core().start()) return ec;
    state_changed(e, endpoint_state::running);
    return {};
}

std::error_code control_actor::stop(endpoint_block& e) {
    if (e.destroyed) return make_error_code(errc::unknown_endpoint);
    if (auto ec = e.core().stop()) return ec;
    state_changed(e, endpoint_state::stopped);
    return {};
}

void control_actor::reset(endpoint_block& block, std::function<void(std::error_code)> done) {
    if (block.destroyed) return done(make_error_code(errc::unknown_endpoint));
    if (block.state == endpoint_state::created) return done(make_error_code(errc::not_initialized));
    if (auto ec = block.core().reset()) return done(ec);
    // Capture: the engine's side reads the ring; its next call discards (before it returns any
    // padding), so the reset is complete now.
    if (!block.render) return done({});
    auto& link = block.core().control_link();
    const std::uint32_t generation = link.reset_generation();
    // An offline device holding for its endpoints wakes to acknowledge it at once.
    link.wake_device();
    impl_->drain.wait_reset(find(block.name), generation, std::move(done));
}

} // namespace ae::detail
