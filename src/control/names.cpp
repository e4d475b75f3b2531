// Stable names of the control side's enumerations (logs and the wire protocol spell them so).
#include <openae/control/config.h>
#include <openae/control/event.h>

namespace ae {

const char* to_string(routing_policy policy) noexcept {
    switch (policy) {
    case routing_policy::follow_default: return "follow_default";
    case routing_policy::pinned: return "pinned";
    case routing_policy::fail: return "fail";
    }
    return "unknown";
}

std::optional<routing_policy> parse_routing_policy(std::string_view text) noexcept {
    if (text == "follow_default") return routing_policy::follow_default;
    if (text == "pinned") return routing_policy::pinned;
    if (text == "fail") return routing_policy::fail;
    return std::nullopt;
}

const char* to_string(endpoint_direction direction) noexcept {
    return direction == endpoint_direction::render ? "render" : "capture";
}

const char* to_string(endpoint_state state) noexcept {
    switch (state) {
    case endpoint_state::created: return "created";
    case endpoint_state::stopped: return "stopped";
    case endpoint_state::running: return "running";
    case endpoint_state::error: return "error";
    }
    return "unknown";
}

const char* to_string(route_stage stage) noexcept {
    switch (stage) {
    case route_stage::routed: return "routed";
    case route_stage::lost: return "lost";
    case route_stage::held_down: return "held_down";
    case route_stage::reopening: return "reopening";
    case route_stage::switching: return "switching";
    case route_stage::rerouted: return "rerouted";
    case route_stage::failed: return "failed";
    }
    return "unknown";
}

const char* to_string(event_kind kind) noexcept {
    switch (kind) {
    case event_kind::glitch: return "glitch";
    case event_kind::state_changed: return "state_changed";
    case event_kind::format_changed: return "format_changed";
    case event_kind::latency_changed: return "latency_changed";
    case event_kind::device_lost: return "device_lost";
    case event_kind::rerouted: return "rerouted";
    case event_kind::route_stage: return "route_stage";
    case event_kind::device_unresponsive: return "device_unresponsive";
    case event_kind::device_added: return "device_added";
    case event_kind::device_removed: return "device_removed";
    }
    return "unknown";
}

} // namespace ae
