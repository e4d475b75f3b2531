// The `create` op: a request checked whole, its source or sink loaded and its device opened off ae-ctl,
// then the endpoint made and handed to the engine.
#include "service_impl.h"

namespace ae {

std::optional<request_error> control_service::impl::create(const json& req, const json& id, const reply_fn& reply, std::weak_ptr<impl> self) {
    if (auto e = check_fields(req, {{"endpoint", json_type::string, true},
                                    {"direction", json_type::string, true},
                                    {"device", json_type::string},
                                    {"format", json_type::object},
                                    {"period_ms", json_type::number},
                                    {"buffer_periods", json_type::number},
                                    {"routing", json_type::string},
                                    {"source", json_type::string},
                                    {"sink", json_type::string},
                                    {"start", json_type::boolean}},
                              "request"))
        return *e;
    endpoint_config config;
    config.name = req["endpoint"].get<std::string>();
    if (auto e = check_name(config.name)) return *e;
    const std::string direction_text = req["direction"].get<std::string>();
    if (direction_text != "render" && direction_text != "capture")
        return bad("field 'direction' must be render or capture");
    const auto direction = direction_text == "render" ? endpoint_direction::render : endpoint_direction::capture;
    if (direction == endpoint_direction::render && req.contains("sink")) return bad("field 'sink' is for capture endpoints");
    if (direction == endpoint_direction::capture && req.contains("source"))
        return bad("field 'source' is for render endpoints");
    if (actor.find(config.name)) return request_error{"already_initialized", "endpoint '" + config.name + "' exists"};
    config.device = req.value("device", std::string{});
    if (req.contains("routing")) {
        auto routing = parse_routing_policy(req["routing"].get<std::string>());
        if (!routing) return bad("field 'routing' must be follow_default, pinned or fail");
        config.routing = *routing;
    }
    config.period = hns{100'000};
    if (req.contains("period_ms")) {
        auto period = parse_period(req["period_ms"]);
        if (!period) return period.error();
        config.period = *period;
    }
    if (req.contains("buffer_periods")) {
        const json& periods = req["buffer_periods"];
        if (!periods.is_number_integer() || periods.get<std::int64_t>() < 1 || periods.get<std::int64_t>() > 64)
            return bad("field 'buffer_periods' must be an integer within 1..64");
        config.latency_coefficient = static_cast<std::uint32_t>(periods.get<std::int64_t>());
    }
    const std::string sink = req.value("sink", std::string{"null"});
    if (direction == endpoint_direction::capture && sink != "null" && sink.rfind("wav:", 0) != 0)
        return bad("field 'sink' must be null or wav:PATH");
    if (req.contains("format")) {
        if (auto checked = parse_format(req["format"], frame_format{}); !checked) return checked.error();
    }
    // A wav source is read and a wav sink created on a helper thread, not ae-ctl. The rest of the
    // creation (the device's open included, also off ae-ctl) continues on ae-ctl when done.
    const std::string source_text = req.value("source", std::string{"tone:440"});
    const bool start = req.value("start", false);
    const json format_request = req.contains("format") ? req["format"] : json(nullptr);
    actor.off_thread("ae-load", [this, self, direction, source_text, sink, config, start, format_request, id, reply]() -> std::function<void()> {
        auto io = std::make_shared<create_io>();
        load_create_io(*io, direction, source_text, sink, format_request);
        return [this, self, direction, io, config, start, id, reply]() mutable {
            auto me = self.lock();
            if (!me) return;
            if (io->error) {
                actor.log_refused("create", io->error->code, io->error->message);
                reply(json{{"id", id}, {"ok", false}, {"error", {{"code", io->error->code}, {"message", io->error->message}}}}.dump());
                return;
            }
            config.format = io->format;
            actor.create(direction, config, [this, self, direction, config, io, start, id, reply](
                                               std::expected<std::shared_ptr<detail::endpoint_block>, std::error_code> made,
                                               const std::string& why) mutable {
                auto me = self.lock();
                if (!me) return;
                auto answer = finish_create(direction, config, *io, start, made, why);
                json response{{"id", id}};
                if (answer) {
                    response["ok"] = true;
                    response.update(*answer);
                } else {
                    if (io->sink) io->sink->discard();
                    actor.log_refused("create", answer.error().code, answer.error().message);
                    response["ok"] = false;
                    response["error"] = {{"code", answer.error().code}, {"message", answer.error().message}};
                }
                reply(response.dump());
            });
        };
    });
    return std::nullopt;
}

void control_service::impl::load_create_io(create_io& io, endpoint_direction direction, const std::string& source_text,
                                           const std::string& sink_text, const json& format_request) {
    if (direction == endpoint_direction::render) {
        auto parsed = engine_source::parse(source_text);
        if (!parsed) {
            io.error = request_error{code_name(parsed.error().code), parsed.error().message};
            return;
        }
        if (parsed->what == engine_source::kind::wav) {
            io.format.sample_rate = parsed->sample_rate;
            io.format.channels = static_cast<std::uint16_t>(parsed->channels);
        }
        io.source = std::move(*parsed);
    }
    if (!format_request.is_null()) {
        auto format = parse_format(format_request, io.format);
        if (!format) {
            io.error = format.error();
            return;
        }
        io.format = *format;
    }
    if (direction == endpoint_direction::capture) {
        auto opened = engine_sink::open(sink_text, io.format);
        if (!opened) {
            io.error = request_error{code_name(opened.error().code), opened.error().message};
            return;
        }
        io.sink = std::move(*opened);
    }
}

std::expected<json, request_error> control_service::impl::finish_create(
    endpoint_direction direction, const endpoint_config& config, create_io& io, bool start,
    const std::expected<std::shared_ptr<detail::endpoint_block>, std::error_code>& made, const std::string& why) {
    if (!made) {
        const std::string device = config.device.empty() ? "the default device" : "device '" + config.device + "'";
        return std::unexpected(from_code(made.error(), "cannot create '" + config.name + "' on " + device + ": " +
                                                           (why.empty() ? made.error().message() : why)));
    }
    auto block = *made;
    auto undo = [&] { (void)actor.destroy(config.name); };
    if (auto ec = actor.set_event_handle(*block, eng.event_fd())) {
        undo();
        return std::unexpected(from_code(ec));
    }
    std::expected<void, engine_error> added;
    // The engine holds the endpoint's handle (shared) as the owner of the RT view it drives.
    const detail::endpoint_ref ref{detail::context_access::actor(ctx), block};
    if (direction == endpoint_direction::render) {
        auto handle = std::make_shared<render_endpoint>(ref);
        added = eng.add_render({config.name, &handle->rt(), handle}, std::move(*io.source));
    } else {
        auto handle = std::make_shared<capture_endpoint>(ref);
        added = eng.add_capture({config.name, &handle->rt(), handle}, std::move(*io.sink));
    }
    if (!added) {
        undo();
        return std::unexpected(request_error{code_name(added.error().code), added.error().message});
    }
    if (start) {
        if (auto ec = actor.start(*block)) {
            eng.remove(config.name);
            undo();
            return std::unexpected(from_code(ec));
        }
    }
    return json{{"endpoint", status_json(block)}};
}

} // namespace ae
