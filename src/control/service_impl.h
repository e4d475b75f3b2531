// The control service's state and its request handlers (internal; service*.cpp).
#pragma once

#include <openae/control/server.h>

#include "context_access.h"
#include "event_json.h"
#include "json_log.h"
#include "request_schema.h"

#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include "control_clock.h"

#include <cmath>
#include <cstdlib>
#include <future>
#include <map>
#include <unistd.h>

namespace ae {

using namespace service_detail;

struct control_service::impl { // hidden (declared so in server.h), though nested in a public class
    impl(context& c, engine& e) : ctx(c), eng(e), actor(*detail::context_access::actor(c)) {}

    context& ctx;
    engine& eng;
    detail::control_actor& actor;
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
    // One request being answered: what an op handler gets. `deferred`: the handler answers later.
    struct op_call {
        const std::string& op;
        const json& req;
        const json& id;
        const reply_fn& reply;
        const event_fn& events;
        const void* owner;
        std::weak_ptr<impl> self;
        bool deferred = false;
    };
    using op_result = std::expected<json, request_error>;
    using op_handler = op_result (impl::*)(op_call&);
    // The ops, by name (service_ops.cpp): each checks its fields, then acts.
    static const std::map<std::string, op_handler, std::less<>>& ops();
    op_result op_list(op_call& c);
    op_result op_status(op_call& c);
    op_result op_create(op_call& c);
    op_result op_reset(op_call& c);
    op_result op_destroy_start_stop(op_call& c);
    op_result op_set_format(op_call& c);
    op_result op_set_period(op_call& c);
    op_result op_move(op_call& c);
    op_result op_inject(op_call& c);
    op_result op_watch(op_call& c);
    op_result op_devices(op_call& c);
    op_result op_metrics(op_call& c);
    op_result op_bridge(op_call& c);
    op_result op_bridges(op_call& c);
    op_result op_destroy_bridge(op_call& c);
    static json bridge_json(const bridge_status& b);
    // metrics: each device loop's busy time and steps at the previous `metrics` request
    // (by "direction spec"), so that a load is the busy time per period since then.
    struct loop_sample {
        std::uint64_t busy_ns = 0, steps = 0;
    };
    std::map<std::string, loop_sample> metrics_previous;

    std::expected<std::shared_ptr<detail::endpoint_block>, request_error> endpoint_of(const json& req) const {
        const std::string name = req["endpoint"].get<std::string>();
        auto e = actor.find(name);
        if (!e) return std::unexpected(request_error{"unknown_endpoint", "no endpoint '" + name + "'"});
        return e;
    }

    json status_json(const std::shared_ptr<detail::endpoint_block>& e) const {
        const auto s = detail::control_actor::summary(*e);
        const std::string& name = detail::control_actor::name(*e);
        const auto direction = detail::control_actor::direction(*e);
        json glitches = json::object();
        if (auto st = actor.stats(*e)) {
            for (int kind = 1; kind <= glitch_kind_count; ++kind) glitches[to_string(static_cast<glitch_kind>(kind))] = st->glitch_count[kind];
        }
        json j = {{"endpoint", name},
                  {"direction", to_string(direction)},
                  {"state", to_string(s.state)},
                  {"device", s.device},
                  {"routing", to_string(detail::control_actor::routing(*e))},
                  {"route", {{"stage", to_string(s.stage)}, {"attempt", s.attempt}}},
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
        const std::string& name = detail::control_actor::name(*e);
        json j = {{"endpoint", name}};
        if (auto st = actor.stats(*e)) {
            json glitches = json::object();
            for (int kind = 1; kind <= glitch_kind_count; ++kind) {
                glitches[to_string(static_cast<glitch_kind>(kind))] = {{"count", st->glitch_count[kind]},
                                                                       {"frames", st->glitch_frames[kind]}};
            }
            j["glitches"] = glitches;
            j["last_glitch_ns"] = st->last_glitch.count() == 0 ? json(nullptr) : json(st->last_glitch.count() * 100);
            j["discarded_frames"] = st->discarded_frames;
            j["glitch_overflows"] = st->glitch_overflows;
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
    // A destroyed endpoint's engine slot: answered when the engine has retired it (its release fd
    // says when; never blocking ae-ctl) and a wav sink's file is closed on a helper.
    struct pending_destroy {
        std::string name;
        json id;
        reply_fn reply;
        std::shared_ptr<detail::control_timer> deadline;
    };
    std::vector<pending_destroy> destroys;
    std::unique_ptr<asio::posix::stream_descriptor> release_watch; // a dup() of the engine's release fd
    bool release_armed = false;

    void finish_destroy(const std::string& name, const json& id, const reply_fn& reply, std::weak_ptr<impl> self) {
        if (auto retired = eng.take_retired(name)) return answer_destroy(name, id, reply, std::move(*retired));
        // A stuck engine thread must not leave the client waiting: answered after a second anyway
        // (its slot is collected when the engine lets go).
        auto deadline = std::make_shared<detail::control_timer>(actor.executor(), std::chrono::seconds(1));
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
            release_watch = std::make_unique<asio::posix::stream_descriptor>(actor.executor(), fd);
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
    // Answers the destroys whose slots the engine retired, and `overdue` (the deadline passed).
    void settle_destroys(const std::string& overdue) {
        for (std::size_t i = 0; i < destroys.size();) {
            auto retired = eng.take_retired(destroys[i].name);
            if (!retired && destroys[i].name != overdue) {
                ++i;
                continue;
            }
            pending_destroy d = std::move(destroys[i]);
            destroys.erase(destroys.begin() + static_cast<std::ptrdiff_t>(i));
            d.deadline->cancel();
            answer_destroy(d.name, d.id, d.reply, retired ? std::move(*retired) : nullptr);
        }
    }
    void answer_destroy(const std::string& name, const json& id, const reply_fn& reply, std::unique_ptr<pipeline::device> released) {
        auto answer = [name, id, reply] { reply(json{{"id", id}, {"ok", true}, {"endpoint", name}}.dump()); };
        if (!released) return answer(); // no file to close (or the engine is stuck: collected later)
        std::shared_ptr<pipeline::device> sink = std::move(released);
        actor.off_thread("ae-close", [sink, answer]() -> std::function<void()> {
            sink->stop();
            return answer;
        });
    }

    // The answer to a request that completed later (move, a rate change): the endpoint's status, or the error.
    // An op answered later: marks the call deferred and gives the completion that answers it on
    // ae-ctl (if the service is still there) — the endpoint's status, or the error with
    // `context` before its message.
    std::function<void(std::error_code)> answer_when_done(op_call& c, const char* op, std::shared_ptr<detail::endpoint_block> block,
                                                          std::string context) {
        c.deferred = true;
        return [self = c.self, op, block = std::move(block), id = c.id, reply = c.reply, context = std::move(context)](std::error_code ec) {
            if (auto me = self.lock()) me->answer_later(op, id, reply, block, ec, context + ec.message());
        };
    }
    void answer_later(const char* op, const json& id, const reply_fn& reply, const std::shared_ptr<detail::endpoint_block>& block,
                      std::error_code ec, const std::string& message) const {
        json response{{"id", id}};
        if (ec) {
            actor.log_refused(op, code_name(ec), message);
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

} // namespace ae
