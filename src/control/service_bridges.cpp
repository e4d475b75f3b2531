// The control service's bridge ops: `bridge` (make one), `bridges` (their figures), and
// `destroy` with a `bridge` field.
#include "service_impl.h"

#include <openae/pipeline/device_spec.h>

namespace ae {

json control_service::impl::bridge_json(const bridge_status& b) {
    auto glitches = [](const endpoint_stats& st) {
        json j = json::object();
        for (std::size_t kind = 0; kind < glitch_kind_count; ++kind) {
            if (st.glitch_count[kind] == 0) continue;
            j[to_string(static_cast<glitch_kind>(kind))] = {{"count", st.glitch_count[kind]}, {"frames", st.glitch_frames[kind]}};
        }
        return j;
    };
    return json{{"bridge", b.name},
                {"from", pipeline::redact_spec(b.from)},
                {"to", pipeline::redact_spec(b.to)},
                {"format", control_detail::format_json(b.format)},
                {"drift_control", b.drift_control},
                {"queue_ms", b.queue_ms},
                {"average_ms", b.average_ms},
                {"target_ms", b.target_ms},
                {"drift_ppm", b.drift_ppm},
                {"latency_ms", ms_of(b.latency)},
                {"frames_in", b.frames_in},
                {"frames_out", b.frames_out},
                {"dropped_frames", b.dropped_frames},
                {"raises", b.raises},
                {"capture_glitches", glitches(b.capture)},
                {"render_glitches", glitches(b.render)}};
}

control_service::impl::op_result control_service::impl::op_bridge(op_call& c) {
    const json& req = c.req;
    if (auto e = check_fields(req, {{"bridge", json_type::string, true},
                                    {"from", json_type::string},
                                    {"to", json_type::string},
                                    {"rate", json_type::integer},
                                    {"channels", json_type::integer},
                                    {"period_ms", json_type::number},
                                    {"drift", json_type::boolean},
                                    {"margin_ms", json_type::number},
                                    {"routing", json_type::string}},
                              "request"))
        return std::unexpected(*e);
    bridge_config config;
    config.name = req["bridge"].get<std::string>();
    if (auto e = check_name(config.name)) return std::unexpected(*e);
    config.from = req.value("from", std::string{});
    config.to = req.value("to", std::string{});
    if (req.contains("rate")) {
        const auto rate = req["rate"].get<std::int64_t>();
        if (rate < min_sample_rate || rate > max_sample_rate) return std::unexpected(bad("field 'rate' must be within 8000..384000"));
        config.sample_rate = static_cast<std::uint32_t>(rate);
    }
    if (req.contains("channels")) {
        const auto channels = req["channels"].get<std::int64_t>();
        if (channels < 1 || channels > max_channels) return std::unexpected(bad("field 'channels' must be within 1.." + std::to_string(max_channels)));
        config.channels = static_cast<std::uint16_t>(channels);
    }
    if (req.contains("period_ms")) {
        auto period = parse_period(req["period_ms"]);
        if (!period) return std::unexpected(period.error());
        if (*period > hns{1'000'000}) return std::unexpected(bad("field 'period_ms' must be at most 100 for a bridge"));
        config.period = *period;
    }
    config.drift_control = req.value("drift", true);
    if (req.contains("margin_ms")) {
        const double margin = req["margin_ms"].get<double>();
        if (!(margin >= 0 && margin <= 500)) return std::unexpected(bad("field 'margin_ms' must be within 0..500"));
        config.margin = hns{std::llround(margin * 1e4)};
    }
    if (req.contains("routing")) {
        auto routing = parse_routing_policy(req["routing"].get<std::string>());
        if (!routing) return std::unexpected(bad("field 'routing' must be follow_default, pinned or fail"));
        config.routing = *routing;
    }
    c.deferred = true;
    actor.create_bridge(config, [id = c.id, reply = c.reply, name = config.name](std::expected<bridge_status, std::error_code> made,
                                                                                 const std::string& why) {
        if (!made) {
            json response{{"id", id}, {"ok", false}};
            std::string message = why.empty() ? made.error().message() : why;
            if (made.error() == errc::already_initialized) message = "a bridge or endpoint has that name";
            response["error"] = {{"code", code_name(made.error())}, {"message", "bridge '" + name + "': " + message}};
            reply(response.dump());
            return;
        }
        reply(json{{"id", id}, {"ok", true}, {"bridge", bridge_json(*made)}}.dump());
    });
    return json{};
}

control_service::impl::op_result control_service::impl::op_bridges(op_call& c) {
    if (auto e = check_fields(c.req, {}, "request")) return std::unexpected(*e);
    json list = json::array();
    for (const auto& b : actor.bridges()) list.push_back(bridge_json(b));
    return json{{"bridges", list}};
}

control_service::impl::op_result control_service::impl::op_destroy_bridge(op_call& c) {
    if (auto e = check_fields(c.req, {{"bridge", json_type::string, true}}, "request")) return std::unexpected(*e);
    const std::string name = c.req["bridge"].get<std::string>();
    if (!actor.destroy_bridge(name)) return std::unexpected(request_error{"unknown_endpoint", "no bridge '" + name + "'"});
    return json{{"bridge", name}};
}

} // namespace ae
