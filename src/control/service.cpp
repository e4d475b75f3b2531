// The control service: JSON-lines requests answered on ae-ctl (the wire protocol of README.md, "aectl").
#include <openae/control/server.h>

#include "context_access.h"

#include "event_json.h"
#include "json_log.h"

#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <cmath>
#include <cstdlib>
#include <future>
#include <map>
#include <unistd.h>

namespace ae {

using nlohmann::json;

namespace {

enum class json_type { string, integer, number, boolean, object };

struct field_rule {
    const char* name;
    json_type type;
    bool required = false;
};

struct request_error {
    std::string code;
    std::string message;
};

const char* type_name(json_type type) {
    switch (type) {
    case json_type::string: return "a string";
    case json_type::integer: return "an integer";
    case json_type::number: return "a number";
    case json_type::boolean: return "a boolean";
    case json_type::object: return "an object";
    }
    return "?";
}

bool has_type(const json& value, json_type type) {
    switch (type) {
    case json_type::string: return value.is_string();
    case json_type::integer: return value.is_number_integer();
    case json_type::number: return value.is_number();
    case json_type::boolean: return value.is_boolean();
    case json_type::object: return value.is_object();
    }
    return false;
}

request_error bad(std::string message) { return {"bad_request", std::move(message)}; }

// Unknown fields, missing ones and wrong types, named.
std::optional<request_error> check_fields(const json& object, std::initializer_list<field_rule> rules, const char* where) {
    for (const auto& [key, value] : object.items()) {
        if (std::string_view(where) == "request" && (key == "id" || key == "op")) continue;
        const auto rule = std::find_if(rules.begin(), rules.end(), [&](const field_rule& r) { return key == r.name; });
        if (rule == rules.end()) return bad("unknown field '" + key + "' in " + where);
        if (!has_type(value, rule->type)) return bad("field '" + key + "' must be " + type_name(rule->type));
    }
    for (const auto& rule : rules) {
        if (rule.required && !object.contains(rule.name)) return bad(std::string("missing field '") + rule.name + "' in " + where);
    }
    return std::nullopt;
}

std::string code_name(std::error_code ec) {
    if (ec.category() == error_category()) return to_string(static_cast<errc>(ec.value()));
    return "io_error";
}

request_error from_code(std::error_code ec, std::string message = {}) {
    return {code_name(ec), message.empty() ? ec.message() : std::move(message)};
}

std::optional<sample_type> parse_sample(const std::string& text) {
    if (text == "s16") return sample_type::s16;
    if (text == "s24") return sample_type::s24;
    if (text == "s32") return sample_type::s32;
    if (text == "f32") return sample_type::f32;
    return std::nullopt;
}

// `format` fields over `base` (all optional); ranges checked.
std::expected<frame_format, request_error> parse_format(const json& j, frame_format base) {
    if (auto e = check_fields(j, {{"sample_rate", json_type::integer}, {"channels", json_type::integer}, {"sample", json_type::string}},
                              "format"))
        return std::unexpected(*e);
    if (j.contains("sample_rate")) {
        const auto rate = j["sample_rate"].get<std::int64_t>();
        if (rate < min_sample_rate || rate > max_sample_rate)
            return std::unexpected(bad("field 'sample_rate' must be within 1000..768000"));
        base.sample_rate = static_cast<std::uint32_t>(rate);
    }
    if (j.contains("channels")) {
        const auto channels = j["channels"].get<std::int64_t>();
        if (channels < 1 || channels > max_channels) {
            return std::unexpected(bad("field 'channels' must be within 1.." + std::to_string(max_channels)));
        }
        base.channels = static_cast<std::uint16_t>(channels);
    }
    if (j.contains("sample")) {
        auto sample = parse_sample(j["sample"].get<std::string>());
        if (!sample) return std::unexpected(bad("field 'sample' must be one of s16, s24, s32, f32"));
        base.sample = *sample;
    }
    return base;
}

std::expected<hns, request_error> parse_period(const json& value) {
    const double ms = value.get<double>();
    if (!(ms >= 0.5 && ms <= 1000)) return std::unexpected(bad("field 'period_ms' must be within 0.5..1000"));
    return hns{static_cast<std::int64_t>(std::llround(ms * 1e4))};
}

std::optional<request_error> check_name(const std::string& name) {
    if (name.empty() || name.size() > 128) return bad("field 'endpoint' must be 1..128 characters");
    for (const char c : name) {
        if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) return bad("field 'endpoint' must not hold spaces or control characters");
    }
    return std::nullopt;
}

double ms_of(hns value) { return static_cast<double>(value.count()) / 1e4; }

json position_json(const position& p) {
    json flags = json::array();
    const auto bits = static_cast<std::uint32_t>(p.flags);
    if (bits & static_cast<std::uint32_t>(position_flags::discontinuous)) flags.push_back("discontinuous");
    if (bits & static_cast<std::uint32_t>(position_flags::continuous)) flags.push_back("continuous");
    if (bits & static_cast<std::uint32_t>(position_flags::time_error)) flags.push_back("time_error");
    return {{"device_position", p.device_position}, {"stream_position", p.stream_position}, {"padding_frames", p.padding_frames},
            {"time_ns", p.time.count() * 100},       {"frames_per_second", p.frames_per_second}, {"flags", flags},
            {"epoch", p.epoch},                      {"time_error_ns", p.time_error.count() * 100}};
}

} // namespace

// ---------------------------------------------------------------------------------------------

struct control_service::impl {
    impl(context& c, engine& e) : ctx(c), eng(e), core(*detail::context_access::core(c)) {}

    context& ctx;
    engine& eng;
    detail::context_core& core;
    struct watcher {
        std::string endpoint;
        std::function<void(const std::string&)> sink;
        const void* owner = nullptr;
    };
    std::function<std::uint64_t(const std::string&, std::function<void(const std::string&)>, const void*)> add_watch;
    std::map<std::uint64_t, watcher> watchers;
    std::uint64_t next_watch = 1;
    std::uint64_t subscription = 0;

    using reply_fn = std::function<void(std::string)>;

    using event_fn = std::function<void(const std::string&)>;
    void handle(const std::string& line, const reply_fn& reply, const event_fn& events, const void* owner, std::weak_ptr<impl> self);
    std::expected<json, request_error> dispatch(const std::string& op, const json& req, const json& id, const reply_fn& reply,
                                                const event_fn& events, const void* owner, std::weak_ptr<impl> self, bool& deferred);

    std::expected<std::shared_ptr<detail::endpoint_block>, request_error> endpoint_of(const json& req) const {
        const std::string name = req["endpoint"].get<std::string>();
        auto e = core.find(name);
        if (!e) return std::unexpected(request_error{"unknown_endpoint", "no endpoint '" + name + "'"});
        return e;
    }

    json status_json(const std::shared_ptr<detail::endpoint_block>& e) const {
        const auto s = detail::context_core::summary(*e);
        const std::string& name = detail::context_core::name(*e);
        const auto direction = detail::context_core::direction(*e);
        json glitches = json::object();
        if (auto st = core.stats(*e)) {
            for (int kind = 1; kind <= glitch_kind_count; ++kind) glitches[to_string(static_cast<glitch_kind>(kind))] = st->glitch_count[kind];
        }
        json j = {{"endpoint", name},
                  {"direction", to_string(direction)},
                  {"state", to_string(s.state)},
                  {"device", s.device},
                  {"routing", to_string(detail::context_core::routing(*e))},
                  {"format", control_detail::format_json(s.format)},
                  {"period_ms", ms_of(s.period)},
                  {"frames_per_packet", s.frames_per_packet},
                  {"buffer_frames", s.buffer_frames},
                  {"epoch", s.epoch},
                  {"latency_ms", ms_of(s.latency)},
                  {"glitches", glitches}};
        j[direction == endpoint_direction::render ? "source" : "sink"] = eng.source_or_sink(name);
        auto es = eng.stats(name);
        j["position"] = es && es->have_position ? position_json(es->last_position) : json(nullptr);
        return j;
    }

    json stats_json(const std::shared_ptr<detail::endpoint_block>& e) const {
        const std::string& name = detail::context_core::name(*e);
        json j = {{"endpoint", name}};
        if (auto st = core.stats(*e)) {
            json glitches = json::object();
            for (int kind = 1; kind <= glitch_kind_count; ++kind) {
                glitches[to_string(static_cast<glitch_kind>(kind))] = {{"count", st->glitch_count[kind]},
                                                                       {"frames", st->glitch_frames[kind]}};
            }
            j["glitches"] = glitches;
            j["last_glitch_ns"] = st->last_glitch.count() == 0 ? json(nullptr) : json(st->last_glitch.count() * 100);
            j["discarded_frames"] = st->discarded_frames;
            j["padding"] = {{"samples", st->padding_samples},
                            {"min", st->padding_min},
                            {"max", st->padding_max},
                            {"histogram", st->padding_histogram}};
        }
        if (auto es = eng.stats(name)) {
            j["engine"] = {{"frames", es->frames}, {"passes", es->passes}, {"errors", es->errors},
                           {"padding_min", es->padding_min}, {"padding_avg", es->padding_avg}, {"padding_max", es->padding_max}};
        }
        return j;
    }

    // What a create loads off ae-ctl before the endpoint is made: a render endpoint's source
    // (a wav file read into memory), a capture endpoint's sink (a wav file created, its writer
    // thread started), and the format they decide.
    struct create_io {
        frame_format format{48'000, 2, sample_type::f32};
        std::optional<engine_source> source;
        std::optional<engine_sink> sink;
        std::optional<request_error> error;
    };
    static void load_create_io(create_io& io, endpoint_direction direction, const std::string& source_text,
                               const std::string& sink_text, const json& format_request);
    // Answers later (deferred): the source or sink is loaded and the device opened off ae-ctl.
    std::optional<request_error> create(const json& req, const json& id, const reply_fn& reply, std::weak_ptr<impl> self);
    std::expected<json, request_error> finish_create(endpoint_direction direction, const endpoint_config& config, create_io& io,
                                                     bool start,
                                                     const std::expected<std::shared_ptr<detail::endpoint_block>, std::error_code>& made,
                                                     const std::string& why);
    // A destroyed endpoint's engine slot: answered when the engine has let go (its release fd
    // says when; never blocking ae-ctl) and a wav sink's file is closed on a helper.
    struct pending_destroy {
        std::string name;
        json id;
        reply_fn reply;
        std::shared_ptr<asio::steady_timer> deadline;
    };
    std::vector<pending_destroy> destroys;
    std::unique_ptr<asio::posix::stream_descriptor> release_watch; // a dup() of the engine's release fd
    bool release_armed = false;

    void finish_destroy(const std::string& name, const json& id, const reply_fn& reply, std::weak_ptr<impl> self) {
        if (auto released = eng.take_released(name)) return answer_destroy(name, id, reply, std::move(*released));
        // A stuck engine thread must not leave the client waiting: answered after a second anyway
        // (its slot is collected when the engine lets go).
        auto deadline = std::make_shared<asio::steady_timer>(core.executor(), std::chrono::seconds(1));
        deadline->async_wait([self, name, deadline](const std::error_code& ec) {
            if (ec) return;
            if (auto me = self.lock()) me->settle_destroys(name);
        });
        destroys.push_back({name, id, reply, std::move(deadline)});
        watch_releases(self);
    }
    void watch_releases(std::weak_ptr<impl> self) {
        if (release_armed) return;
        if (!release_watch) {
            const int fd = ::dup(eng.release_fd());
            if (fd < 0) return; // out of descriptors: the deadline answers
            release_watch = std::make_unique<asio::posix::stream_descriptor>(core.executor(), fd);
        }
        release_armed = true;
        release_watch->async_wait(asio::posix::descriptor_base::wait_read, [self](const std::error_code& ec) {
            auto me = self.lock();
            if (ec || !me) return;
            me->release_armed = false;
            std::uint64_t count = 0;
            [[maybe_unused]] const auto got = ::read(me->release_watch->native_handle(), &count, sizeof count);
            me->settle_destroys({});
            if (!me->destroys.empty()) me->watch_releases(self);
        });
    }
    // Answers the destroys whose slots the engine let go of, and `overdue` (the deadline passed).
    void settle_destroys(const std::string& overdue) {
        for (std::size_t i = 0; i < destroys.size();) {
            auto released = eng.take_released(destroys[i].name);
            if (!released && destroys[i].name != overdue) {
                ++i;
                continue;
            }
            pending_destroy d = std::move(destroys[i]);
            destroys.erase(destroys.begin() + static_cast<std::ptrdiff_t>(i));
            d.deadline->cancel();
            answer_destroy(d.name, d.id, d.reply, released ? std::move(*released) : nullptr);
        }
    }
    void answer_destroy(const std::string& name, const json& id, const reply_fn& reply, std::unique_ptr<pipeline::device> released) {
        auto answer = [name, id, reply] { reply(json{{"id", id}, {"ok", true}, {"endpoint", name}}.dump()); };
        if (!released) return answer(); // no file to close (or the engine is stuck: collected later)
        std::shared_ptr<pipeline::device> sink = std::move(released);
        core.off_thread("ae-close", [sink, answer]() -> std::function<void()> {
            sink->stop();
            return answer;
        });
    }

    // The answer to a request that completed later (move, a rate change): the endpoint's status, or the error.
    void answer_later(const char* op, const json& id, const reply_fn& reply, const std::shared_ptr<detail::endpoint_block>& block,
                      std::error_code ec, const std::string& message) const {
        json response{{"id", id}};
        if (ec) {
            core.log_refused(op, code_name(ec), message);
            response["ok"] = false;
            response["error"] = {{"code", code_name(ec)}, {"message", message}};
        } else {
            response["ok"] = true;
            response["endpoint"] = status_json(block);
        }
        reply(response.dump());
    }
    void on_event(const event& e) {
        if (watchers.empty()) return;
        const std::string line = to_json(e);
        // A sink may unwatch itself (a client dropped while being written to).
        for (auto it = watchers.begin(); it != watchers.end();) {
            auto next = std::next(it);
            if (it->second.endpoint.empty() || it->second.endpoint == e.endpoint) {
                auto sink = it->second.sink;
                sink(line);
            }
            it = next;
        }
    }
};

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
    if (core.find(config.name)) return request_error{"already_initialized", "endpoint '" + config.name + "' exists"};
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
    core.off_thread("ae-load", [this, self, direction, source_text, sink, config, start, format_request, id, reply]() -> std::function<void()> {
        auto io = std::make_shared<create_io>();
        load_create_io(*io, direction, source_text, sink, format_request);
        return [this, self, direction, io, config, start, id, reply]() mutable {
            auto me = self.lock();
            if (!me) return;
            if (io->error) {
                core.log_refused("create", io->error->code, io->error->message);
                reply(json{{"id", id}, {"ok", false}, {"error", {{"code", io->error->code}, {"message", io->error->message}}}}.dump());
                return;
            }
            config.format = io->format;
            core.create(direction, config, [this, self, direction, config, io, start, id, reply](
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
                    core.log_refused("create", answer.error().code, answer.error().message);
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
    auto undo = [&] { (void)core.destroy(config.name); };
    if (auto ec = core.set_event_handle(*block, eng.event_fd())) {
        undo();
        return std::unexpected(from_code(ec));
    }
    std::expected<void, engine_error> added;
    if (direction == endpoint_direction::render) {
        added = eng.add_render(render_endpoint(detail::endpoint_ref{detail::context_access::core(ctx), block}), std::move(*io.source));
    } else {
        added = eng.add_capture(capture_endpoint(detail::endpoint_ref{detail::context_access::core(ctx), block}), std::move(*io.sink));
    }
    if (!added) {
        undo();
        return std::unexpected(request_error{code_name(added.error().code), added.error().message});
    }
    if (start) {
        if (auto ec = core.start(*block)) {
            eng.remove(config.name);
            undo();
            return std::unexpected(from_code(ec));
        }
    }
    return json{{"endpoint", status_json(block)}};
}

std::expected<json, request_error> control_service::impl::dispatch(const std::string& op, const json& req, const json& id,
                                                                   const reply_fn& reply, const event_fn& events,
                                                                   const void* owner, std::weak_ptr<impl> self, bool& deferred) {
    static constexpr field_rule endpoint_required{"endpoint", json_type::string, true};
    static constexpr field_rule endpoint_optional{"endpoint", json_type::string, false};

    if (op == "list") {
        if (auto e = check_fields(req, {}, "request")) return std::unexpected(*e);
        json endpoints = json::array();
        for (const auto& e : core.endpoints()) {
            const auto s = detail::context_core::summary(*e);
            endpoints.push_back({{"endpoint", detail::context_core::name(*e)},
                                 {"direction", to_string(detail::context_core::direction(*e))},
                                 {"state", to_string(s.state)},
                                 {"device", s.device}});
        }
        json devices = json::array();
        for (const auto& d : core.devices()) {
            devices.push_back({{"device", d.spec},
                               {"direction", to_string(d.direction)},
                               {"format", control_detail::format_json(d.format)},
                               {"period_frames", d.period_frames},
                               {"latency_ms", ms_of(d.latency)},
                               {"realtime", d.realtime},
                               {"lost", d.lost},
                               {"finished", d.finished},
                               {"endpoints", d.users},
                               {"frames", d.frames}});
        }
        return json{{"endpoints", endpoints}, {"devices", devices}};
    }
    if (op == "status" || op == "stats") {
        if (auto e = check_fields(req, {endpoint_optional}, "request")) return std::unexpected(*e);
        const bool status = op == "status";
        json list = json::array();
        if (req.contains("endpoint")) {
            auto e = endpoint_of(req);
            if (!e) return std::unexpected(e.error());
            list.push_back(status ? status_json(*e) : stats_json(*e));
        } else {
            for (const auto& e : core.endpoints()) list.push_back(status ? status_json(e) : stats_json(e));
        }
        return json{{"endpoints", list}};
    }
    if (op == "create") {
        if (auto e = create(req, id, reply, self)) return std::unexpected(*e);
        deferred = true;
        return json{};
    }
    if (op == "reset") {
        if (auto e = check_fields(req, {endpoint_required}, "request")) return std::unexpected(*e);
        auto e = endpoint_of(req);
        if (!e) return std::unexpected(e.error());
        // Answered once the queue is discarded (a device thread acknowledges it).
        deferred = true;
        auto block = *e;
        core.reset(*block, [self, block, id, reply](std::error_code ec) {
            if (auto me = self.lock()) {
                me->answer_later("reset", id, reply, block, ec, "reset '" + detail::context_core::name(*block) + "': " + ec.message());
            }
        });
        return json{};
    }
    if (op == "destroy" || op == "start" || op == "stop") {
        if (auto e = check_fields(req, {endpoint_required}, "request")) return std::unexpected(*e);
        auto e = endpoint_of(req);
        if (!e) return std::unexpected(e.error());
        const std::string name = detail::context_core::name(**e);
        std::error_code ec;
        if (op == "destroy") {
            eng.remove(name);
            ec = core.destroy(name);
            if (!ec) {
                // Answered when the engine has let go and a wav sink's file is complete.
                deferred = true;
                finish_destroy(name, id, reply, self);
                return json{};
            }
        } else {
            ec = op == "start" ? core.start(**e) : core.stop(**e);
        }
        if (ec) return std::unexpected(from_code(ec, op + " '" + name + "': " + ec.message()));
        return json{{"endpoint", status_json(*e)}};
    }
    if (op == "set_format") {
        if (auto e = check_fields(req, {endpoint_required, {"format", json_type::object, true}}, "request")) return std::unexpected(*e);
        // The request is checked whole before the endpoint is looked up.
        if (auto checked = parse_format(req["format"], frame_format{}); !checked) return std::unexpected(checked.error());
        auto e = endpoint_of(req);
        if (!e) return std::unexpected(e.error());
        auto format = parse_format(req["format"], detail::context_core::summary(**e).format);
        if (!format) return std::unexpected(format.error());
        deferred = true;
        auto block = *e;
        core.set_format(*block, *format, [self, block, id, reply](std::error_code ec) {
            if (auto me = self.lock()) me->answer_later("set_format", id, reply, block, ec, ec ? ec.message() : std::string{});
        });
        return json{};
    }
    if (op == "set_period") {
        if (auto e = check_fields(req, {endpoint_required, {"period_ms", json_type::number, true}}, "request")) return std::unexpected(*e);
        auto period = parse_period(req["period_ms"]);
        if (!period) return std::unexpected(period.error());
        auto e = endpoint_of(req);
        if (!e) return std::unexpected(e.error());
        if (auto ec = core.set_period(**e, *period)) return std::unexpected(from_code(ec));
        return json{{"endpoint", status_json(*e)}};
    }
    if (op == "move") {
        if (auto e = check_fields(req, {endpoint_required, {"device", json_type::string, true}}, "request")) return std::unexpected(*e);
        auto e = endpoint_of(req);
        if (!e) return std::unexpected(e.error());
        const std::string device = req["device"].get<std::string>();
        if (device.empty()) return std::unexpected(bad("field 'device' must not be empty"));
        deferred = true;
        auto block = *e;
        core.move_to(*block, device, [self, block, id, reply, device](std::error_code ec) {
            if (auto me = self.lock()) me->answer_later("move", id, reply, block, ec, "move to '" + device + "': " + ec.message());
        });
        return json{};
    }
    if (op == "inject") {
        if (auto e = check_fields(req, {endpoint_required, {"fault", json_type::string, true}}, "request")) return std::unexpected(*e);
        auto e = endpoint_of(req);
        if (!e) return std::unexpected(e.error());
        std::string message;
        if (auto ec = core.inject(**e, req["fault"].get<std::string>(), message)) return std::unexpected(from_code(ec, message));
        return json{{"endpoint", detail::context_core::name(**e)}, {"device", detail::context_core::summary(**e).device}};
    }
    if (op == "watch") {
        if (auto e = check_fields(req, {endpoint_optional}, "request")) return std::unexpected(*e);
        if (!events) return std::unexpected(bad("watch needs a connection to stream events on"));
        std::string name;
        if (req.contains("endpoint")) {
            auto e = endpoint_of(req);
            if (!e) return std::unexpected(e.error());
            name = detail::context_core::name(**e);
        }
        const std::uint64_t watch_id = add_watch(name, events, owner);
        return json{{"watch", watch_id}, {"endpoint", name.empty() ? json(nullptr) : json(name)}};
    }
    return std::unexpected(bad("unknown op '" + op + "'"));
}

void control_service::impl::handle(const std::string& line, const reply_fn& reply, const event_fn& events, const void* owner,
                                   std::weak_ptr<impl> self) {
    json id = nullptr;
    std::string op;
    auto fail = [&](const request_error& e) {
        core.log_refused(op, e.code, e.message);
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
    bool deferred = false;
    auto result = dispatch(op, req, id, reply, events, owner, std::move(self), deferred);
    if (deferred) return;
    if (!result) return fail(result.error());
    json response = std::move(*result);
    response["id"] = id;
    response["ok"] = true;
    reply(response.dump());
}

// ---------------------------------------------------------------------------------------------

control_service::control_service(context& ctx, engine& eng) : ctx_(ctx), impl_(std::make_shared<impl>(ctx, eng)) {
    // Sinks the engine lets go of outside a destroy (a failed create's) close on a helper too.
    std::weak_ptr<detail::context_core> core = detail::context_access::core(ctx);
    eng.set_sink_closer([core](std::unique_ptr<pipeline::device> sink) {
        std::shared_ptr<pipeline::device> closing = std::move(sink);
        if (auto c = core.lock()) {
            c->off_thread("ae-close", [closing]() -> std::function<void()> {
                closing->stop();
                return [] {};
            });
        } else {
            closing->stop();
        }
    });
    impl_->add_watch = [this](const std::string& endpoint, std::function<void(const std::string&)> sink, const void* owner) {
        return watch(endpoint, std::move(sink), owner);
    };
}

control_service::~control_service() {
    impl_->eng.set_sink_closer({});
    // Asio objects are not thread-safe: the watch is closed on ae-ctl (or with the io_context).
    asio::post(ctx_.executor(), [watch = std::shared_ptr<asio::posix::stream_descriptor>(std::move(impl_->release_watch)),
                                 destroys = std::make_shared<std::vector<impl::pending_destroy>>(std::move(impl_->destroys))] {});
    if (impl_->subscription != 0) ctx_.unsubscribe(impl_->subscription);
}

void control_service::handle(const std::string& line, std::function<void(std::string)> reply,
                             std::function<void(const std::string&)> events, const void* owner) {
    impl_->handle(line, reply, events, owner, impl_);
}

std::string control_service::request(const std::string& line) {
    if (ctx_.on_control_thread()) {
        return json{{"id", nullptr}, {"ok", false}, {"error", {{"code", "wrong_thread"}, {"message", "request() on the control thread"}}}}
            .dump();
    }
    auto done = std::make_shared<std::promise<std::string>>();
    auto answer = done->get_future();
    asio::post(ctx_.executor(), [this, line, done] {
        auto once = std::make_shared<bool>(false);
        handle(line, [done, once](std::string response) {
            if (*once) return;
            *once = true;
            done->set_value(std::move(response));
        });
    });
    return answer.get();
}

std::uint64_t control_service::watch(const std::string& endpoint, std::function<void(const std::string&)> sink,
                                     const void* owner) {
    if (impl_->subscription == 0) {
        std::weak_ptr<impl> weak = impl_;
        impl_->subscription = impl_->core.subscribe([weak](const event& e) {
            if (auto me = weak.lock()) me->on_event(e);
        });
    }
    const std::uint64_t id = impl_->next_watch++;
    impl_->watchers.emplace(id, impl::watcher{endpoint, std::move(sink), owner});
    return id;
}

void control_service::unwatch(std::uint64_t id) { impl_->watchers.erase(id); }

void control_service::unwatch_owner(const void* owner) {
    std::erase_if(impl_->watchers, [owner](const auto& w) { return w.second.owner == owner; });
}

std::string default_socket_path() {
    if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime) return std::string(runtime) + "/openae/control.sock";
    return "/tmp/openae-" + std::to_string(::getuid()) + "/control.sock";
}

} // namespace ae
