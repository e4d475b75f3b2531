// Events to subscribers and JSON log lines, with repeats folded within the window.
#include "event_log.h"

#include "event_json.h"
#include "json_log.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <iterator>

namespace ae::detail {

namespace {

std::string repeat_key(const event& e) {
    std::string key = std::string(to_string(e.kind)) + '|' + e.endpoint;
    if (e.kind == event_kind::glitch) key += std::string("|") + to_string(e.glitch);
    if (e.kind == event_kind::state_changed) key += std::string("|") + to_string(e.state);
    return key;
}

} // namespace

event_log::event_log(std::shared_ptr<spdlog::logger> logger, hns repeat_window)
    : logger_(std::move(logger)), repeat_window_(std::chrono::duration_cast<control_clock::duration>(repeat_window)) {}

std::uint64_t event_log::subscribe(std::function<void(const event&)> fn) {
    const std::uint64_t id = next_subscriber_++;
    subscribers_.emplace(id, std::move(fn));
    return id;
}

void event_log::unsubscribe(std::uint64_t id) { subscribers_.erase(id); }

void event_log::emit(event e) {
    if (e.time == hns{0}) e.time = monotonic_now();
    for (auto it = subscribers_.begin(); it != subscribers_.end();) {
        auto next = std::next(it);
        auto fn = it->second; // a copy: the subscriber may unsubscribe itself
        fn(e);
        it = next;
    }
    if (open_repeat(repeat_key(e), e)) log_event(e, 1, e.frames);
}

bool event_log::open_repeat(const std::string& key, const event& e) {
    const auto now = control_clock::now();
    auto found = repeats_.find(key);
    if (found != repeats_.end() && now - found->second.opened < repeat_window_) {
        ++found->second.count;
        found->second.frames += e.frames;
        found->second.last = e;
        return false;
    }
    if (found != repeats_.end() && found->second.count > 0) log_repeat(found->second);
    repeats_[key] = repeat_state{0, 0, now, e, std::nullopt};
    return true;
}

void event_log::log_refused(const std::string& op, const std::string& code, const std::string& message) {
    const std::string key = "refused|" + op + "|" + code + "|" + message;
    if (!open_repeat(key, event{})) return;
    repeats_[key].refusal = repeat_state::refusal_line{op, code, message};
    control_detail::log_json(*logger_, spdlog::level::warn,
                             {{"component", "control"}, {"event", "request_refused"}, {"op", op}, {"code", code}, {"message", message}});
}

void event_log::log_event(const event& e, std::uint64_t count, std::uint64_t frames) {
    nlohmann::json fields = control_detail::event_json(e);
    const bool about_device = e.kind == event_kind::device_lost || e.kind == event_kind::device_unresponsive ||
                              e.kind == event_kind::device_added || e.kind == event_kind::device_removed;
    fields["component"] = about_device ? "device" : "endpoint";
    if (count > 1) {
        fields["repeated"] = count;
        if (e.kind == event_kind::glitch) fields["frames"] = frames;
    }
    const auto level = e.kind == event_kind::glitch || e.kind == event_kind::device_lost || e.kind == event_kind::device_unresponsive
                           ? spdlog::level::warn
                           : spdlog::level::info;
    control_detail::log_json(*logger_, level, fields);
}

void event_log::log_repeat(repeat_state& state) {
    if (state.refusal) {
        control_detail::log_json(*logger_, spdlog::level::warn,
                                 {{"component", "control"}, {"event", "request_refused"}, {"op", state.refusal->op},
                                  {"code", state.refusal->code}, {"message", state.refusal->message}, {"repeated", state.count}});
    } else {
        log_event(state.last, state.count, state.frames);
    }
    state.count = 0;
    state.frames = 0;
}

void event_log::flush_repeats(bool all) {
    const auto now = control_clock::now();
    for (auto it = repeats_.begin(); it != repeats_.end();) {
        if (all || now - it->second.opened >= repeat_window_) {
            if (it->second.count > 0) log_repeat(it->second);
            it = repeats_.erase(it);
        } else {
            ++it;
        }
    }
}

} // namespace ae::detail
