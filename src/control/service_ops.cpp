// The control service's ops as a table of handlers, and the request loop that finds them.
#include "service_impl.h"
#include <openae/pipeline/device_spec.h>

#include <openae/pipeline/device_discovery.h>

namespace ae {

namespace {
constexpr field_rule endpoint_required{"endpoint", json_type::string, true};
constexpr field_rule endpoint_optional{"endpoint", json_type::string, false};
} // namespace

control_service::impl::op_result control_service::impl::op_list(op_call& c) {
    const json& req = c.req;
    if (auto e = check_fields(req, {}, "request")) return std::unexpected(*e);
    json endpoints = json::array();
    for (const auto& e : actor.endpoints()) {
        const auto s = detail::control_actor::summary(*e);
        endpoints.push_back({{"endpoint", detail::control_actor::name(*e)},
                             {"direction", to_string(detail::control_actor::direction(*e))},
                             {"state", to_string(s.state)},
                             {"device", pipeline::redact_spec(s.device)}});
    }
    json devices = json::array();
    for (const auto& d : actor.devices()) {
        devices.push_back({{"device", pipeline::redact_spec(d.spec)},
                           {"direction", to_string(d.direction)},
                           {"format", control_detail::format_json(d.format)},
                           {"period_frames", d.period_frames},
                           {"latency_ms", ms_of(d.latency)},
                           {"realtime", d.realtime},
                           {"lost", d.lost},
                           {"finished", d.finished},
                           {"endpoints", d.users},
                           {"frames", d.frames},
                           {"busy_ns", d.busy_ns},
                           {"busy_steps", d.busy_steps}});
    }
    return json{{"endpoints", endpoints}, {"devices", devices}};
}

control_service::impl::op_result control_service::impl::op_status(op_call& c) {
    const std::string& op = c.op;
    const json& req = c.req;
    if (auto e = check_fields(req, {endpoint_optional}, "request")) return std::unexpected(*e);
    const bool status = op == "status";
    json list = json::array();
    if (req.contains("endpoint")) {
        auto e = endpoint_of(req);
        if (!e) return std::unexpected(e.error());
        list.push_back(status ? status_json(*e) : stats_json(*e));
    } else {
        for (const auto& e : actor.endpoints()) list.push_back(status ? status_json(e) : stats_json(e));
    }
    return json{{"endpoints", list}};
}

control_service::impl::op_result control_service::impl::op_create(op_call& c) {
    const json& req = c.req;
    const json& id = c.id;
    const reply_fn& reply = c.reply;
    const std::weak_ptr<impl>& self = c.self;
    if (auto e = create(req, id, reply, self)) return std::unexpected(*e);
    c.deferred = true;
    return json{};
}

control_service::impl::op_result control_service::impl::op_reset(op_call& c) {
    const json& req = c.req;
    if (auto e = check_fields(req, {endpoint_required}, "request")) return std::unexpected(*e);
    auto e = endpoint_of(req);
    if (!e) return std::unexpected(e.error());
    // Answered once the queue is discarded (a device thread acknowledges it).
    actor.reset(**e, answer_when_done(c, "reset", *e, "reset '" + detail::control_actor::name(**e) + "': "));
    return json{};
}

control_service::impl::op_result control_service::impl::op_destroy_start_stop(op_call& c) {
    const std::string& op = c.op;
    const json& req = c.req;
    const json& id = c.id;
    const reply_fn& reply = c.reply;
    const std::weak_ptr<impl>& self = c.self;
    if (op == "destroy" && req.contains("bridge")) return op_destroy_bridge(c);
    if (auto e = check_fields(req, {endpoint_required}, "request")) return std::unexpected(*e);
    auto e = endpoint_of(req);
    if (!e) return std::unexpected(e.error());
    const std::string name = detail::control_actor::name(**e);
    std::error_code ec;
    if (op == "destroy") {
        eng.remove(name);
        ec = actor.destroy(name);
        if (!ec) {
            // Answered when the engine has retired it and a wav sink's file is complete.
            c.deferred = true;
            finish_destroy(name, id, reply, self);
            return json{};
        }
    } else {
        ec = op == "start" ? actor.start(**e) : actor.stop(**e);
    }
    if (ec == errc::busy && op == "destroy") {
        return std::unexpected(from_code(ec, "destroy '" + name + "': it belongs to a bridge; destroy the bridge"));
    }
    if (ec) return std::unexpected(from_code(ec, op + " '" + name + "': " + ec.message()));
    return json{{"endpoint", status_json(*e)}};
}

control_service::impl::op_result control_service::impl::op_set_format(op_call& c) {
    const json& req = c.req;
    if (auto e = check_fields(req, {endpoint_required, {"format", json_type::object, true}}, "request")) return std::unexpected(*e);
    // The request is checked whole before the endpoint is looked up.
    if (auto checked = parse_format(req["format"], frame_format{}); !checked) return std::unexpected(checked.error());
    auto e = endpoint_of(req);
    if (!e) return std::unexpected(e.error());
    auto format = parse_format(req["format"], detail::control_actor::summary(**e).format);
    if (!format) return std::unexpected(format.error());
    actor.set_format(**e, *format, answer_when_done(c, "set_format", *e, ""));
    return json{};
}

control_service::impl::op_result control_service::impl::op_set_period(op_call& c) {
    const json& req = c.req;
    if (auto e = check_fields(req, {endpoint_required, {"period_ms", json_type::number, true}}, "request")) return std::unexpected(*e);
    auto period = parse_period(req["period_ms"]);
    if (!period) return std::unexpected(period.error());
    auto e = endpoint_of(req);
    if (!e) return std::unexpected(e.error());
    if (auto ec = actor.set_period(**e, *period)) return std::unexpected(from_code(ec));
    return json{{"endpoint", status_json(*e)}};
}

control_service::impl::op_result control_service::impl::op_move(op_call& c) {
    const json& req = c.req;
    if (auto e = check_fields(req, {endpoint_required, {"device", json_type::string, true}}, "request")) return std::unexpected(*e);
    auto e = endpoint_of(req);
    if (!e) return std::unexpected(e.error());
    const std::string device = req["device"].get<std::string>();
    if (device.empty()) return std::unexpected(bad("field 'device' must not be empty"));
    actor.move_to(**e, device, answer_when_done(c, "move", *e, "move to '" + device + "': "));
    return json{};
}

control_service::impl::op_result control_service::impl::op_inject(op_call& c) {
    const json& req = c.req;
    if (auto e = check_fields(req, {endpoint_required, {"fault", json_type::string, true}}, "request")) return std::unexpected(*e);
    auto e = endpoint_of(req);
    if (!e) return std::unexpected(e.error());
    std::string message;
    if (auto ec = actor.inject(**e, req["fault"].get<std::string>(), message)) return std::unexpected(from_code(ec, message));
    return json{{"endpoint", detail::control_actor::name(**e)}, {"device", pipeline::redact_spec(detail::control_actor::summary(**e).device)}};
}

control_service::impl::op_result control_service::impl::op_watch(op_call& c) {
    const json& req = c.req;
    const event_fn& events = c.events;
    const void* owner = c.owner;
    if (auto e = check_fields(req, {endpoint_optional}, "request")) return std::unexpected(*e);
    if (!events) return std::unexpected(bad("watch needs a connection to stream events on"));
    std::string name;
    if (req.contains("endpoint")) {
        auto e = endpoint_of(req);
        if (!e) return std::unexpected(e.error());
        name = detail::control_actor::name(**e);
    }
    const std::uint64_t watch_id = add_watch(name, events, owner);
    return json{{"watch", watch_id}, {"endpoint", name.empty() ? json(nullptr) : json(name)}};
}

// Answered later: discovery connects to sound servers, on a thread of its own (`ae-probe`).
control_service::impl::op_result control_service::impl::op_devices(op_call& c) {
    if (auto e = check_fields(c.req, {}, "request")) return std::unexpected(*e);
    c.deferred = true;
    actor.off_thread("ae-probe", [self = c.self, id = c.id, reply = c.reply]() -> std::function<void()> {
        auto found = std::make_shared<std::vector<pipeline::available_device>>(pipeline::discover_devices());
        return [self, id, reply, found] {
            auto me = self.lock();
            if (!me) return;
            json list = json::array();
            for (const auto& d : *found) {
                list.push_back({{"spec", d.spec},
                                {"kind", d.kind},
                                {"description", d.description},
                                {"render", d.render},
                                {"capture", d.capture},
                                {"rate", d.sample_rate == 0 ? json(nullptr) : json(d.sample_rate)},
                                {"channels", d.channels == 0 ? json(nullptr) : json(d.channels)},
                                {"backend_default", d.backend_default}});
            }
            reply(json{{"id", id}, {"ok", true}, {"devices", list}, {"default_device", me->actor.default_device()}}.dump());
        };
    });
    return json{};
}

control_service::impl::op_result control_service::impl::op_metrics(op_call& c) {
    if (auto e = check_fields(c.req, {}, "request")) return std::unexpected(*e);
    // Each device loop's load since the previous metrics request: busy time over its periods' time.
    std::map<std::string, json> load_of;
    for (const auto& d : actor.devices()) {
        const std::string loop = std::string(to_string(d.direction)) + " " + d.spec;
        const loop_sample now{d.busy_ns, d.busy_steps};
        const loop_sample before = metrics_previous[loop];
        metrics_previous[loop] = now;
        const double period_ns = d.format.sample_rate > 0 ? 1e9 * d.period_frames / d.format.sample_rate : 0;
        const double steps = static_cast<double>(now.steps - std::min(now.steps, before.steps));
        load_of[loop] = steps > 0 && period_ns > 0
                            ? json(100.0 * static_cast<double>(now.busy_ns - std::min(now.busy_ns, before.busy_ns)) / (steps * period_ns))
                            : json(nullptr);
    }
    json endpoints = json::array();
    for (const auto& e : actor.endpoints()) {
        const json s = status_json(e);
        const std::string loop = s["direction"].get<std::string>() + " " + s["device"].get<std::string>();
        endpoints.push_back({{"endpoint", s["endpoint"]},
                             {"direction", s["direction"]},
                             {"device", s["device"]},
                             {"state", s["state"]},
                             {"epoch", s["epoch"]},
                             {"format", s["format"]},
                             {"period_ms", s["period_ms"]},
                             {"latency_ms", s["latency_ms"]},
                             {"buffer_frames", s["buffer_frames"]},
                             {"padding", s["position"].is_object() ? s["position"]["padding_frames"] : json(nullptr)},
                             {"load_pct", load_of.count(loop) ? load_of[loop] : json(nullptr)},
                             {"stage", s["route"]["stage"]},
                             {"attempt", s["route"]["attempt"]},
                             {"glitches", s["glitches"]}});
    }
    return json{{"endpoints", endpoints}};
}

const std::map<std::string, control_service::impl::op_handler, std::less<>>& control_service::impl::ops() {
    static const std::map<std::string, op_handler, std::less<>> table{
        {"list", &impl::op_list},       {"status", &impl::op_status},         {"stats", &impl::op_status},
        {"create", &impl::op_create},   {"reset", &impl::op_reset},           {"destroy", &impl::op_destroy_start_stop},
        {"start", &impl::op_destroy_start_stop}, {"stop", &impl::op_destroy_start_stop}, {"set_format", &impl::op_set_format},
        {"set_period", &impl::op_set_period}, {"move", &impl::op_move},       {"inject", &impl::op_inject},
        {"watch", &impl::op_watch},     {"devices", &impl::op_devices},       {"metrics", &impl::op_metrics},
        {"bridge", &impl::op_bridge},   {"bridges", &impl::op_bridges}};
    return table;
}

void control_service::impl::handle(const std::string& line, const reply_fn& reply, const event_fn& events, const void* owner,
                                   std::weak_ptr<impl> self) {
    json id = nullptr;
    std::string op;
    auto fail = [&](const request_error& e) {
        actor.log_refused(op, e.code, e.message);
        reply(json{{"id", id}, {"ok", false}, {"error", {{"code", e.code}, {"message", e.message}}}}.dump());
    };
    json req = json::parse(line, nullptr, false);
    if (req.is_discarded()) return fail(bad("invalid JSON"));
    if (!req.is_object()) return fail(bad("a request is a JSON object"));
    if (req.contains("id")) {
        id = req["id"];
        if (!id.is_number_integer() && !id.is_string() && !id.is_null()) {
            id = nullptr;
            return fail(bad("field 'id' must be an integer or a string"));
        }
    }
    if (!req.contains("op")) return fail(bad("missing field 'op' in request"));
    if (!req["op"].is_string()) return fail(bad("field 'op' must be a string"));
    op = req["op"].get<std::string>();
    const auto found = ops().find(op);
    if (found == ops().end()) return fail(bad("unknown op '" + op + "'"));
    op_call call{op, req, id, reply, events, owner, std::move(self)};
    auto result = (this->*found->second)(call);
    if (call.deferred) return;
    if (!result) return fail(result.error());
    json response = std::move(*result);
    response["id"] = id;
    response["ok"] = true;
    reply(response.dump());
}

} // namespace ae
