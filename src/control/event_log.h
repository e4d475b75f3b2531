// openae — the event log: the control actor's subscribers and its JSON-lines log, with identical
// events (and refused requests) within the repeat window folded into one line with a count — a
// glitch storm or a client sending garbage in a loop cannot flood the log. It owns its state; the
// actor calls it on ae-ctl only.
#pragma once

#include "control_clock.h"

#include <openae/control/event.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace spdlog {
class logger;
}

namespace ae::detail {

class event_log {
public:
    event_log(std::shared_ptr<spdlog::logger> logger, hns repeat_window);

    [[nodiscard]] spdlog::logger& logger() const noexcept { return *logger_; }

    // `fn` sees every event from now on, in order.
    std::uint64_t subscribe(std::function<void(const event&)> fn);
    void unsubscribe(std::uint64_t id);
    void clear_subscribers() { subscribers_.clear(); }

    // Stamps `e` (when it has no time), gives it to every subscriber (one may unsubscribe itself
    // while called) and logs it, folded.
    void emit(event e);
    // A refused control request (component "control", event "request_refused", warn), folded.
    void log_refused(const std::string& op, const std::string& code, const std::string& message);
    // Writes the folded counts of the windows that have closed (all: every window).
    void flush_repeats(bool all);

private:
    struct repeat_state {
        std::uint64_t count = 0; // repeats folded since the line that opened the window
        std::uint64_t frames = 0;
        control_clock::time_point opened;
        event last;
        // A refused request's line, folded like an event (no event is emitted for it).
        struct refusal_line {
            std::string op, code, message;
        };
        std::optional<refusal_line> refusal;
    };
    void log_event(const event& e, std::uint64_t count, std::uint64_t frames);
    void log_repeat(repeat_state& state);
    // Opens a repeat window under `key`, or counts into the open one; false when folded.
    bool open_repeat(const std::string& key, const event& e);

    std::shared_ptr<spdlog::logger> logger_;
    control_clock::duration repeat_window_;
    std::map<std::uint64_t, std::function<void(const event&)>> subscribers_;
    std::map<std::string, repeat_state> repeats_;
    std::uint64_t next_subscriber_ = 1;
};

} // namespace ae::detail
