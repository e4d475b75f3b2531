// Events to subscribers and JSON log lines, with repeats folded within the window.
#include "context_state.h"

namespace ae::detail {

std::uint64_t control_actor::subscribe(std::function<void(const event&)> fn) {
    if (!on_control_thread()) {
        std::promise<std::uint64_t> done;
        asio::post(impl_->io, [&] { done.set_value(subscribe(std::move(fn))); });
        return done.get_future().get();
    }
    const std::uint64_t id = impl_->next_subscriber++;
    impl_->subscribers.emplace(id, std::move(fn));
    return id;
}

void control_actor::unsubscribe(std::uint64_t id) {
    if (!on_control_thread()) {
        asio::post(impl_->io, [self = shared_from_this(), id] { self->impl_->subscribers.erase(id); });
        return;
    }
    impl_->subscribers.erase(id);
}

void control_actor::emit(event e) {
    if (e.time == hns{0}) e.time = monotonic_now();
    // Subscribers see every event; a subscriber may unsubscribe itself while called.
    for (auto it = impl_->subscribers.begin(); it != impl_->subscribers.end();) {
        auto next = std::next(it);
        auto fn = it->second;
        fn(e);
        it = next;
    }
    // The log folds identical events within the repeat window into one line with a count.
    if (open_repeat(repeat_key(e), e)) log_event(e, 1, e.frames);
}

bool control_actor::open_repeat(const std::string& key, const event& e) {
    const auto now = control_clock::now();
    auto found = impl_->repeats.find(key);
    const auto window = std::chrono::microseconds(impl_->options.repeat_window.count() / 10);
    if (found != impl_->repeats.end() && now - found->second.opened < window) {
        ++found->second.count;
        found->second.frames += e.frames;
        found->second.last = e;
        return false;
    }
    if (found != impl_->repeats.end() && found->second.count > 0) log_repeat(found->second);
    impl_->repeats[key] = repeat_state{0, 0, now, e, std::nullopt};
    return true;
}

void control_actor::log_refused(const std::string& op, const std::string& code, const std::string& message) {
    const std::string key = "refused|" + op + "|" + code + "|" + message;
    if (!open_repeat(key, event{})) return;
    impl_->repeats[key].refusal = repeat_state::refusal_line{op, code, message};
    control_detail::log_json(*impl_->logger, spdlog::level::warn,
                             {{"component", "control"}, {"event", "request_refused"}, {"op", op}, {"code", code}, {"message", message}});
}

void control_actor::log_event(const event& e, std::uint64_t count, std::uint64_t frames) {
    nlohmann::json fields = control_detail::event_json(e);
    fields["component"] = e.kind == event_kind::device_lost || e.kind == event_kind::device_unresponsive ? "device" : "endpoint";
    if (count > 1) {
        fields["repeated"] = count;
        if (e.kind == event_kind::glitch) fields["frames"] = frames;
    }
    const auto level = e.kind == event_kind::glitch || e.kind == event_kind::device_lost || e.kind == event_kind::device_unresponsive
                           ? spdlog::level::warn
                           : spdlog::level::info;
    control_detail::log_json(*impl_->logger, level, fields);
}

void control_actor::log_repeat(repeat_state& state) {
    if (state.refusal) {
        control_detail::log_json(*impl_->logger, spdlog::level::warn,
                                 {{"component", "control"}, {"event", "request_refused"}, {"op", state.refusal->op},
                                  {"code", state.refusal->code}, {"message", state.refusal->message}, {"repeated", state.count}});
    } else {
        log_event(state.last, state.count, state.frames);
    }
    state.count = 0;
    state.frames = 0;
}

void control_actor::flush_repeats(bool all) {
    const auto now = control_clock::now();
    const auto window = std::chrono::microseconds(impl_->options.repeat_window.count() / 10);
    for (auto it = impl_->repeats.begin(); it != impl_->repeats.end();) {
        if (all || now - it->second.opened >= window) {
            if (it->second.count > 0) log_repeat(it->second);
            it = impl_->repeats.erase(it);
        } else {
            ++it;
        }
    }
}

} // namespace ae::detail
