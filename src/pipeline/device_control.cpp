#include <openae/pipeline/device_control.h>

#include <openae/rt/errc.h>
#include <openae/rt/event_signal.h>

#include <algorithm>


namespace ae::pipeline {

device_control::device_control(device& dev, const device_loop& loop, std::uint32_t max_endpoints, device_control_ends ends)
    : device_(&dev), loop_(&loop), max_endpoints_(max_endpoints), ends_(std::move(ends)) {
    attached_.reserve(max_endpoints);
}

std::expected<void, device_error> device_control::send(device_command&& c) {
    if (!ends_.commands.try_push(std::move(c))) {
        return std::unexpected(device_error{make_error_code(errc::busy), "device '" + device_->spec() + "': command queue full"});
    }
    ++sent_;
    // A lost device's loop waits on its virtual clock: woken to apply the command at once.
    if (loop_->lost()) signal_eventfd(ends_.command_fd);
    return {};
}

std::vector<chain_base*>::const_iterator device_control::find(std::uint32_t endpoint_id) const noexcept {
    return std::find_if(attached_.begin(), attached_.end(), [&](const chain_base* c) { return c->endpoint_id() == endpoint_id; });
}

chain_plan device_control::plan() const {
    return chain_plan{device_->format(), device_->max_period_frames(), 1.0f, device_->spec(), device_->realtime()};
}

template <typename Chain, typename Endpoint>
std::expected<std::unique_ptr<Chain>, device_error> device_control::build(Endpoint& endpoint, const chain_plan& plan, chain_options options) {
    if (!plan.realtime) {
        options.resampler_latency = resampler::latency::throughput;
        options.offline = true;
    }
    auto chain = Chain::create(endpoint, plan.device_format, plan.max_device_frames, options);
    if (!chain) {
        return std::unexpected(device_error{chain.error(), "device '" + plan.device_spec + "': cannot build the chain: " + chain.error().message()});
    }
    return std::move(*chain);
}

std::expected<std::unique_ptr<render_chain>, device_error> device_control::build_chain(render_endpoint_core& endpoint, const chain_plan& plan,
                                                                                       const chain_options& options) {
    return build<render_chain>(endpoint, plan, options);
}

std::expected<std::unique_ptr<capture_chain>, device_error> device_control::build_chain(capture_endpoint_core& endpoint, const chain_plan& plan,
                                                                                        const chain_options& options) {
    return build<capture_chain>(endpoint, plan, options);
}

std::expected<void, device_error> device_control::attach(render_endpoint_core& endpoint, const chain_options& options) {
    auto chain = build_chain(endpoint, plan(), options);
    if (!chain) return std::unexpected(chain.error());
    return attach_built(endpoint, std::move(*chain));
}

std::expected<void, device_error> device_control::attach(capture_endpoint_core& endpoint, const chain_options& options) {
    auto chain = build_chain(endpoint, plan(), options);
    if (!chain) return std::unexpected(chain.error());
    return attach_built(endpoint, std::move(*chain));
}

std::expected<void, device_error> device_control::attach(render_endpoint_core& endpoint, std::unique_ptr<render_chain> chain) {
    return attach_built(endpoint, std::move(chain));
}

std::expected<void, device_error> device_control::attach(capture_endpoint_core& endpoint, std::unique_ptr<capture_chain> chain) {
    return attach_built(endpoint, std::move(chain));
}

namespace {
template <typename Chain>
constexpr bool is_render = std::is_same_v<Chain, render_chain>;

template <typename Chain>
std::expected<void, device_error> check_direction(const device& dev) {
    if (dev.direction() == (is_render<Chain> ? endpoint_direction::render : endpoint_direction::capture)) return {};
    return std::unexpected(device_error{make_error_code(errc::bad_argument),
                                        is_render<Chain> ? "device '" + dev.spec() + "' records: a render endpoint cannot use it"
                                                         : "device '" + dev.spec() + "' plays: a capture endpoint cannot use it"});
}

template <typename Chain>
device_command carrying(device_command::kind what, std::unique_ptr<Chain> chain, std::uint32_t endpoint_id) {
    device_command c;
    c.what = what;
    c.endpoint_id = endpoint_id;
    if constexpr (is_render<Chain>) {
        c.render = std::move(chain);
    } else {
        c.capture = std::move(chain);
    }
    return c;
}
} // namespace

template <typename Endpoint, typename Chain>
std::expected<void, device_error> device_control::attach_built(Endpoint& endpoint, std::unique_ptr<Chain> chain) {
    if (auto ok = check_direction<Chain>(*device_); !ok) return ok;
    if (!chain || chain->endpoint_id() != endpoint.id() || chain->device_format() != device_->format()) {
        // Built for another endpoint, or for a format this device no longer has.
        return std::unexpected(device_error{make_error_code(errc::bad_argument), "device '" + device_->spec() + "': the chain was built for another format"});
    }
    if (attached_.size() >= max_endpoints_) {
        return std::unexpected(device_error{make_error_code(errc::busy), "device '" + device_->spec() + "': endpoint limit reached"});
    }
    if (ends_.engine_wake_fd >= 0) {
        endpoint.hold(ends_.engine_wake_fd_owner);
        endpoint.device().set_wake_fd(ends_.engine_wake_fd);
    }
    chain_base* raw = chain.get();
    const auto what = is_render<Chain> ? device_command::kind::attach_render : device_command::kind::attach_capture;
    if (auto sent = send(carrying(what, std::move(chain), endpoint.id())); !sent) return sent;
    attached_.push_back(raw);
    return {};
}

std::expected<float, std::error_code> device_control::gain(std::uint32_t endpoint_id) const {
    const auto it = find(endpoint_id);
    if (it == attached_.end()) return std::unexpected(make_error_code(errc::unknown_endpoint));
    return (*it)->gain().target();
}

std::error_code device_control::set_gain(std::uint32_t endpoint_id, float gain) {
    const auto it = find(endpoint_id);
    if (it == attached_.end()) return make_error_code(errc::unknown_endpoint);
    (*it)->gain().set_target(gain);
    return {};
}

std::expected<meter_reading, std::error_code> device_control::endpoint_levels(std::uint32_t endpoint_id) const {
    const auto it = find(endpoint_id);
    if (it == attached_.end()) return std::unexpected(make_error_code(errc::unknown_endpoint));
    return (*it)->levels().read();
}

std::expected<void, device_error> device_control::reconfigure(render_endpoint_core& endpoint, const frame_format& format) {
    return reconfigure_of(endpoint, format);
}

std::expected<void, device_error> device_control::reconfigure(capture_endpoint_core& endpoint, const frame_format& format) {
    return reconfigure_of(endpoint, format);
}

template <typename Endpoint>
std::expected<void, device_error> device_control::reconfigure_of(Endpoint& endpoint, const frame_format& format) {
    auto p = plan_successor(endpoint.id());
    if (!p) return std::unexpected(p.error());
    auto chain = build_chain(endpoint, *p, {.gain = p->gain, .endpoint_format = format});
    if (!chain) return std::unexpected(chain.error());
    return send_successor(endpoint, std::move(*chain));
}

std::expected<chain_plan, device_error> device_control::plan_successor(std::uint32_t endpoint_id) const {
    auto g = gain(endpoint_id);
    if (!g) return std::unexpected(device_error{g.error(), "endpoint not attached"});
    chain_plan p = plan();
    p.gain = *g;
    return p;
}

std::expected<void, device_error> device_control::send_successor(render_endpoint_core& endpoint, std::unique_ptr<render_chain> chain) {
    return send_built_successor(endpoint, std::move(chain));
}

std::expected<void, device_error> device_control::send_successor(capture_endpoint_core& endpoint, std::unique_ptr<capture_chain> chain) {
    return send_built_successor(endpoint, std::move(chain));
}

template <typename Endpoint, typename Chain>
std::expected<void, device_error> device_control::send_built_successor(Endpoint& endpoint, std::unique_ptr<Chain> chain) {
    if (auto ok = check_direction<Chain>(*device_); !ok) return ok;
    const auto it = find(endpoint.id());
    if (it == attached_.end()) return std::unexpected(device_error{make_error_code(errc::unknown_endpoint), "endpoint not attached"});
    if (!chain || chain->endpoint_id() != endpoint.id()) {
        return std::unexpected(device_error{make_error_code(errc::bad_argument), "device '" + device_->spec() + "': not this endpoint's chain"});
    }
    // Built before now: a gain set meanwhile is the one to ramp to.
    chain->gain().set_target((*it)->gain().target());
    chain_base* raw = chain.get();
    if (auto sent = send(carrying(device_command::kind::successor, std::move(chain), endpoint.id())); !sent) return sent;
    // From now on set_gain and levels speak to the successor (the old chain's pointer leaves the
    // list before it can be retired and freed).
    attached_[static_cast<std::size_t>(it - attached_.begin())] = raw;
    return {};
}

std::error_code device_control::detach(std::uint32_t endpoint_id) {
    const auto it = find(endpoint_id);
    if (it == attached_.end()) return make_error_code(errc::unknown_endpoint);
    device_command c;
    c.what = device_command::kind::detach;
    c.endpoint_id = endpoint_id;
    if (auto sent = send(std::move(c)); !sent) return sent.error().code;
    attached_.erase(it);
    return {};
}

std::size_t device_control::collect_retired() {
    std::size_t count = 0;
    retired_chain r;
    while (ends_.retired.try_pop(r)) {
        r = retired_chain{};
        ++count;
    }
    return count;
}

} // namespace ae::pipeline
