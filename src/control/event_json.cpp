#include "event_json.h"
#include <openae/pipeline/device_spec.h>

namespace ae {
namespace control_detail {

namespace {
const char* sample_name(sample_type type) {
    switch (type) {
    case sample_type::s16: return "s16";
    case sample_type::s24: return "s24";
    case sample_type::s32: return "s32";
    case sample_type::f32: return "f32";
    }
    return "unknown";
}
} // namespace

nlohmann::json format_json(const frame_format& format) {
    return {{"sample_rate", format.sample_rate}, {"channels", format.channels}, {"sample", sample_name(format.sample)}};
}

nlohmann::json event_json(const event& e) {
    nlohmann::json j;
    j["event"] = to_string(e.kind);
    if (!e.endpoint.empty()) j["endpoint"] = e.endpoint;
    j["epoch"] = e.epoch;
    j["time_ns"] = e.time.count() * 100;
    switch (e.kind) {
    case event_kind::glitch:
        j["kind"] = to_string(e.glitch);
        j["stream_position"] = e.stream_position;
        j["frames"] = e.frames;
        break;
    case event_kind::state_changed: j["state"] = to_string(e.state); break;
    case event_kind::format_changed: j["format"] = format_json(e.format); break;
    case event_kind::latency_changed: j["latency_ms"] = static_cast<double>(e.latency.count()) / 1e4; break;
    case event_kind::device_lost:
    case event_kind::device_unresponsive:
    case event_kind::device_added:
    case event_kind::device_removed: j["device"] = pipeline::redact_spec(e.device); break;
    case event_kind::rerouted:
        j["from"] = e.device;
        j["to"] = e.to;
        break;
    case event_kind::route_stage:
        j["stage"] = to_string(e.stage);
        j["attempt"] = e.attempt;
        j["device"] = pipeline::redact_spec(e.device);
        break;
    }
    if (!e.message.empty()) j["message"] = e.message;
    return j;
}

} // namespace control_detail

std::string to_json(const event& e) { return control_detail::event_json(e).dump(); }

} // namespace ae
