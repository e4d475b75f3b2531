// aectl top: a live view of a host's endpoints, in the spirit of pw-top — one row per endpoint,
// refreshed every interval; `q` quits; --once prints one frame (for scripts and tests).
#include "connection.h"

#include <termios.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <string>
#include <vector>

namespace aectl {
namespace {

// The terminal in raw mode while top runs (a key press arrives at once, and is not echoed).
class raw_terminal {
public:
    raw_terminal() {
        if (::isatty(STDIN_FILENO) != 1 || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
        termios raw = saved_;
        raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    ~raw_terminal() {
        if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }
    raw_terminal(const raw_terminal&) = delete;
    raw_terminal& operator=(const raw_terminal&) = delete;
    [[nodiscard]] bool active() const noexcept { return active_; }

private:
    termios saved_{};
    bool active_ = false;
};

std::string format_of(const json& f) {
    if (!f.is_object()) return "-";
    return std::to_string(f.value("sample_rate", 0)) + "Hz/" + std::to_string(f.value("channels", 0)) + "ch/" + f.value("sample", std::string("?"));
}

std::string number(double v, int decimals) {
    char text[32];
    std::snprintf(text, sizeof text, "%.*f", decimals, v);
    return text;
}

// One frame: the endpoints' rows, from the host's `metrics` (route, format, padding now, its
// device loop's load since the previous metrics request — since the device opened, for the first —,
// stage, glitches) and `stats` (padding min/max).
std::expected<std::string, failure> frame(connection& c, int timeout_ms, double interval_s, const std::string& socket_note) {
    auto metrics = call(c, {{"op", "metrics"}}, timeout_ms);
    if (!metrics) return std::unexpected(metrics.error());
    auto stats = call(c, {{"op", "stats"}}, timeout_ms);
    if (!stats) return std::unexpected(stats.error());
    std::map<std::string, json> stats_of;
    for (const auto& s : (*stats)["endpoints"]) stats_of[s.value("endpoint", std::string{})] = s;

    const std::time_t t = std::time(nullptr);
    char clock[16];
    std::strftime(clock, sizeof clock, "%H:%M:%S", std::localtime(&t));
    std::string out = "aectl top: " + (interval_s > 0 ? "every " + number(interval_s, 1) + " s, q quits" : socket_note) + "   " + clock + "\n";
    char line[512];
    std::snprintf(line, sizeof line, "%-12s %-3s %-9s %-24s %-16s %7s %-17s %7s %5s %8s %-12s %s\n", "ENDPOINT", "DIR", "STATE", "DEVICE",
                  "FORMAT", "PERIOD", "PADDING now/min/max", "LOAD", "EPOCH", "LATENCY", "STAGE", "GLITCHES u/o/l/d/x/p");
    out += line;
    const auto& endpoints = (*metrics)["endpoints"];
    for (const auto& e : endpoints) {
        const std::string name = e.value("endpoint", std::string{});
        const std::string device = e.value("device", std::string{});
        const json& st = stats_of[name];
        const std::string padding_now = e["padding"].is_number() ? std::to_string(e["padding"].get<unsigned long long>()) : "-";
        const std::string padding = padding_now + "/" + (st.contains("padding") ? std::to_string(st["padding"].value("min", 0ull)) + "/" +
                                                                                        std::to_string(st["padding"].value("max", 0ull))
                                                                                  : "-/-");
        const std::string load = e["load_pct"].is_number() ? number(e["load_pct"].get<double>(), 1) + "%" : "-";
        std::string glitches;
        for (const char* kind : {"underrun", "overrun", "late_pass", "discontinuity", "device_lost", "dropped"}) {
            glitches += (glitches.empty() ? "" : "/") + std::to_string(e["glitches"].value(kind, 0ull));
        }
        std::string stage = e.value("stage", std::string("-"));
        if (e.value("attempt", 0) > 0) stage += "(" + std::to_string(e.value("attempt", 0)) + ")";
        std::snprintf(line, sizeof line, "%-12s %-3s %-9s %-24s %-16s %7s %-17s %7s %5u %8s %-12s %s\n", name.c_str(),
                      e.value("direction", std::string{}) == "render" ? "out" : "in", e.value("state", std::string{}).c_str(),
                      device.substr(0, 24).c_str(), format_of(e["format"]).c_str(), (number(e.value("period_ms", 0.0), 2) + "ms").c_str(),
                      padding.c_str(), load.c_str(), e.value("epoch", 0u), (number(e.value("latency_ms", 0.0), 1) + "ms").c_str(), stage.c_str(),
                      glitches.c_str());
        out += line;
    }
    if (endpoints.empty()) out += "(no endpoints)\n";
    out += "LOAD: the device loop's busy time per period; GLITCHES: underrun/overrun/late_pass/discontinuity/device_lost/dropped\n";
    return out;
}

} // namespace

int run_top(connection& c, int timeout_ms, bool once, int interval_ms) {
    const double interval_s = once ? 0 : interval_ms / 1000.0;
    if (once) {
        auto text = frame(c, timeout_ms, interval_s, "one frame");
        if (!text) return std::fprintf(stderr, "aectl: %s\n", text.error().message.c_str()), text.error().code;
        std::fputs(text->c_str(), stdout);
        return ok;
    }
    const raw_terminal terminal;
    for (;;) {
        auto text = frame(c, timeout_ms, interval_s, "live");
        if (!text) return std::fprintf(stderr, "aectl: %s\n", text.error().message.c_str()), text.error().code;
        std::printf("\033[H\033[2J%s", text->c_str());
        std::fflush(stdout);
        // Wait for the next frame, or a key: q (or Q) quits.
        pollfd key{STDIN_FILENO, POLLIN, 0};
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(interval_ms);
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
            if (left <= 0) break;
            if (::poll(&key, 1, static_cast<int>(left)) > 0) {
                char pressed = 0;
                if (::read(STDIN_FILENO, &pressed, 1) <= 0) break; // stdin closed: go on refreshing
                if (pressed == 'q' || pressed == 'Q') return ok;
            }
        }
    }
}

} // namespace aectl
