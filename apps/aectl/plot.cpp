// aectl plot: a run's timeline as SVG, from ae-host's --metrics snapshots — padding, the device
// loop's load and latency per endpoint over time — or from its JSON log (--log FILE: the events
// alone, on the log's own time), and the events marked and named:
// a new epoch (a format or period change, with the new format), a routing stage entered (lost,
// held_down, reopening, rerouted...), a move to another device, glitches by kind. Our own small SVG
// writer: a few hundred elements, no dependency to install, and output a browser shows as is.
#include "connection.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace aectl {
namespace {

struct point {
    double t;
    json row;
};

struct mark {
    double t;
    std::string text;
    std::string colour;
};

std::string escape(const std::string& s) {
    std::string out;
    for (const char c : s) {
        if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else if (c == '&') out += "&amp;";
        else out += c;
    }
    return out;
}

std::string fixed(double v, int decimals = 1) {
    char text[32];
    std::snprintf(text, sizeof text, "%.*f", decimals, v);
    return text;
}

// A round step for about `count` ticks over `span`.
double tick_step(double span, int count) {
    const double raw = span / count;
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    for (const double m : {1.0, 2.0, 5.0, 10.0}) {
        if (raw <= m * magnitude) return m * magnitude;
    }
    return 10 * magnitude;
}

// A log record's "2026-12-06T04:34:03.384281Z", in seconds since the epoch.
std::optional<double> log_time(const std::string& ts) {
    std::tm tm{};
    double fraction = 0;
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (std::sscanf(ts.c_str(), "%d-%d-%dT%d:%d:%d", &year, &month, &day, &hour, &minute, &second) != 6) return std::nullopt;
    if (const auto dot = ts.find('.'); dot != std::string::npos) fraction = std::atof(("0" + ts.substr(dot, ts.size() - dot - 1)).c_str());
    tm.tm_year = year - 1900, tm.tm_mon = month - 1, tm.tm_mday = day, tm.tm_hour = hour, tm.tm_min = minute, tm.tm_sec = second;
    return static_cast<double>(::timegm(&tm)) + fraction;
}

// The events of a log worth marking on a timeline, named as the metrics' are.
std::optional<mark> log_mark(const json& r, double t) {
    const std::string event = r.value("event", std::string{});
    const std::string who = r.value("endpoint", r.value("device", std::string("openae")));
    if (event == "format_changed" && r.contains("format"))
        return mark{t, who + ": format " + std::to_string(r["format"].value("sample_rate", 0)) + "Hz/" + std::to_string(r["format"].value("channels", 0)) + "ch/" +
                           r["format"].value("sample", std::string("?")) + " (epoch " + std::to_string(r.value("epoch", 0)) + ")",
                    "#1f4e9c"};
    if (event == "device_lost") return mark{t, who + ": device lost", "#c62828"};
    if (event == "rerouted") return mark{t, who + ": rerouted to " + r.value("to", std::string{}), "#2a8a2a"};
    if (event == "route_stage") return mark{t, who + ": " + r.value("stage", std::string{}), "#c62828"};
    if (event == "glitch") return mark{t, who + ": " + r.value("kind", std::string("glitch")) + ", " + std::to_string(r.value("frames", 0ull)) + " frames", "#d84315"};
    if (event == "state_changed") return mark{t, who + ": " + r.value("state", std::string{}), "#555555"};
    return std::nullopt;
}

const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"};

} // namespace

int run_plot(const std::string& input, const std::string& output) {
    std::ifstream in(input);
    if (!in) return std::fprintf(stderr, "aectl: cannot read %s\n", input.c_str()), usage;
    std::map<std::string, std::vector<point>> series;
    std::vector<std::string> order;
    std::vector<mark> marks;
    std::string line;
    std::size_t bad = 0;
    double first_ts = -1; // a log's first record, in seconds since the epoch
    while (std::getline(in, line)) {
        json row = json::parse(line, nullptr, false);
        if (row.is_object() && row.contains("ts") && row.contains("event") && row["ts"].is_string()) {
            // A log record (ae-host --log FILE): its events are marked, at their time from the log's start.
            if (auto t = log_time(row["ts"].get<std::string>())) {
                if (first_ts < 0) first_ts = *t;
                if (auto m = log_mark(row, *t - first_ts)) marks.push_back(*m);
                continue;
            }
        }
        if (!row.is_object() || !row.contains("t") || !row.contains("endpoint")) {
            ++bad;
            continue;
        }
        const std::string name = row["endpoint"].get<std::string>();
        if (!series.count(name)) order.push_back(name);
        series[name].push_back({row["t"].get<double>(), row});
    }
    if (series.empty() && first_ts < 0)
        return std::fprintf(stderr, "aectl: %s holds no metrics and no log (ae-host --metrics FILE or --log FILE writes them)\n", input.c_str()), usage;

    // The events: what changed between two snapshots of an endpoint.
    double t_end = 0;
    for (const auto& m : marks) t_end = std::max(t_end, m.t);
    for (const auto& name : order) {
        const auto& points = series[name];
        t_end = std::max(t_end, points.back().t);
        for (std::size_t i = 1; i < points.size(); ++i) {
            const json& a = points[i - 1].row;
            const json& b = points[i].row;
            const double t = points[i].t;
            if (b.value("epoch", 0) != a.value("epoch", 0)) {
                const json& f = b["format"];
                marks.push_back({t, name + ": epoch " + std::to_string(b.value("epoch", 0)) + ", " + std::to_string(f.value("sample_rate", 0)) + "Hz/" +
                                        std::to_string(f.value("channels", 0)) + "ch/" + f.value("sample", std::string("?")) + ", period " +
                                        fixed(b.value("period_ms", 0.0), 2) + " ms",
                                 "#1f4e9c"});
            }
            if (b.value("stage", std::string{}) != a.value("stage", std::string{})) {
                const std::string stage = b.value("stage", std::string{});
                marks.push_back({t, name + ": " + stage, stage == "routed" || stage == "rerouted" ? "#2a8a2a" : "#c62828"});
            }
            if (b.value("device", std::string{}) != a.value("device", std::string{}))
                marks.push_back({t, name + ": on " + b.value("device", std::string{}), "#6a1b9a"});
            for (const auto& [kind, count] : b["glitches"].items()) {
                const auto before = a["glitches"].value(kind, 0ull);
                if (count.get<unsigned long long>() > before)
                    marks.push_back({t, name + ": " + std::to_string(count.get<unsigned long long>() - before) + " " + kind, "#d84315"});
            }
        }
    }
    if (t_end <= 0) t_end = 1;
    // In time order, events at the same time as found (std::stable_sort's buffer is deprecated
    // under clang with libstdc++ 12: the found order is kept by index instead).
    std::vector<std::size_t> by_time(marks.size());
    for (std::size_t i = 0; i < by_time.size(); ++i) by_time[i] = i;
    std::sort(by_time.begin(), by_time.end(), [&](std::size_t a, std::size_t b) { return marks[a].t != marks[b].t ? marks[a].t < marks[b].t : a < b; });
    std::vector<mark> sorted;
    sorted.reserve(marks.size());
    for (const std::size_t i : by_time) sorted.push_back(std::move(marks[i]));
    marks = std::move(sorted);

    // Three panels sharing the time axis.
    struct panel {
        const char* title;
        const char* field;
        double scale; // shown value = field * scale
    };
    const panel panels[] = {{"padding (frames queued)", "padding", 1}, {"device loop load (% of each period)", "load_pct", 1},
                            {"latency (ms)", "latency_ms", 1}};
    const double width = 1280, left = 80, right = 400, top = 70, panel_height = 160, gap = 55;
    const double plot_width = width - left - right;
    const double height = top + 3 * (panel_height + gap) + 20;
    auto x_of = [&](double t) { return left + plot_width * t / t_end; };

    std::string svg;
    svg += "<svg xmlns='http://www.w3.org/2000/svg' width='" + fixed(width, 0) + "' height='" + fixed(height, 0) +
           "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n";
    svg += "<text x='" + fixed(left, 0) + "' y='24' font-size='16' font-weight='bold'>openae timeline: " + escape(input) + "</text>\n";
    svg += "<text x='" + fixed(left, 0) + "' y='44' fill='#555'>" +
           (series.empty() ? std::string("events from a log (no metrics: the panels are empty), ")
                           : std::to_string(order.size()) + " endpoint(s), snapshots from ae-host --metrics, ") +
           fixed(t_end, 2) + " s; dashed lines: events, numbered, named at the right</text>\n";
    const double x_step = tick_step(t_end, 10);
    for (std::size_t p = 0; p < 3; ++p) {
        const double y0 = top + static_cast<double>(p) * (panel_height + gap); // the panel's top
        double max_value = 0;
        for (const auto& name : order)
            for (const auto& pt : series[name])
                if (pt.row[panels[p].field].is_number()) max_value = std::max(max_value, pt.row[panels[p].field].get<double>() * panels[p].scale);
        if (max_value <= 0) max_value = 1;
        const double y_step = tick_step(max_value, 4);
        const double y_max = std::ceil(max_value / y_step) * y_step;
        auto y_of = [&](double v) { return y0 + panel_height - panel_height * v / y_max; };
        svg += "<text x='" + fixed(left, 0) + "' y='" + fixed(y0 - 8, 0) + "' font-weight='bold'>" + panels[p].title + "</text>\n";
        svg += "<rect x='" + fixed(left, 0) + "' y='" + fixed(y0, 0) + "' width='" + fixed(plot_width, 0) + "' height='" + fixed(panel_height, 0) +
               "' fill='none' stroke='#999'/>\n";
        for (double v = 0; v <= y_max + 1e-9; v += y_step) {
            svg += "<line x1='" + fixed(left - 4, 0) + "' x2='" + fixed(left + plot_width, 0) + "' y1='" + fixed(y_of(v)) + "' y2='" + fixed(y_of(v)) +
                   "' stroke='#eee'/>\n<text x='" + fixed(left - 8, 0) + "' y='" + fixed(y_of(v) + 4) + "' text-anchor='end' fill='#555'>" +
                   fixed(v, y_step < 1 ? 1 : 0) + "</text>\n";
        }
        for (double t = 0; t <= t_end + 1e-9; t += x_step) {
            svg += "<line x1='" + fixed(x_of(t)) + "' x2='" + fixed(x_of(t)) + "' y1='" + fixed(y0 + panel_height, 0) + "' y2='" +
                   fixed(y0 + panel_height + 4, 0) + "' stroke='#999'/>\n<text x='" + fixed(x_of(t)) + "' y='" + fixed(y0 + panel_height + 16, 0) +
                   "' text-anchor='middle' fill='#555'>" + fixed(t, x_step < 1 ? 1 : 0) + "</text>\n";
        }
        svg += "<text x='" + fixed(left + plot_width, 0) + "' y='" + fixed(y0 + panel_height + 30, 0) + "' text-anchor='end' fill='#555'>time (s)</text>\n";
        for (std::size_t i = 0; i < order.size(); ++i) {
            std::string path;
            for (const auto& pt : series[order[i]]) {
                if (!pt.row[panels[p].field].is_number()) continue;
                path += (path.empty() ? "M" : " L") + fixed(x_of(pt.t)) + "," + fixed(y_of(pt.row[panels[p].field].get<double>() * panels[p].scale));
            }
            if (!path.empty())
                svg += "<path d='" + path + "' fill='none' stroke='" + palette[i % 8] + "' stroke-width='1.5'/>\n";
        }
        for (std::size_t i = 0; i < marks.size(); ++i) {
            const mark& m = marks[i];
            svg += "<line x1='" + fixed(x_of(m.t)) + "' x2='" + fixed(x_of(m.t)) + "' y1='" + fixed(y0, 0) + "' y2='" + fixed(y0 + panel_height, 0) +
                   "' stroke='" + m.colour + "' stroke-dasharray='4,3'/>\n";
            // The event's number on the first panel, staggered so that close events stay legible.
            if (p == 0)
                svg += "<text x='" + fixed(x_of(m.t) + 2) + "' y='" + fixed(y0 + 12 + 12 * static_cast<double>(i % 4), 0) + "' font-size='11' fill='" +
                       m.colour + "'>" + std::to_string(i + 1) + "</text>\n";
        }
    }
    // The legend and the events, named in time order at the right.
    double y = top;
    const double key_x = left + plot_width + 20;
    for (std::size_t i = 0; i < order.size(); ++i, y += 18) {
        svg += "<line x1='" + fixed(key_x, 0) + "' x2='" + fixed(key_x + 24, 0) + "' y1='" + fixed(y - 4, 0) + "' y2='" + fixed(y - 4, 0) + "' stroke='" +
               palette[i % 8] + "' stroke-width='3'/>\n<text x='" + fixed(key_x + 30, 0) + "' y='" + fixed(y, 0) + "'>" + escape(order[i]) + "</text>\n";
    }
    y += 14;
    svg += "<text x='" + fixed(key_x, 0) + "' y='" + fixed(y, 0) + "' font-weight='bold'>events</text>\n";
    std::size_t shown = 0;
    for (const auto& m : marks) {
        if (y > height - 30) break;
        y += 16;
        ++shown;
        svg += "<text x='" + fixed(key_x, 0) + "' y='" + fixed(y, 0) + "' fill='" + m.colour + "'>" + std::to_string(shown) + "  " + fixed(m.t, 2) +
               " s  " + escape(m.text) + "</text>\n";
    }
    if (shown < marks.size())
        svg += "<text x='" + fixed(key_x, 0) + "' y='" + fixed(y + 16, 0) + "' fill='#555'>... and " + std::to_string(marks.size() - shown) + " more</text>\n";
    if (marks.empty()) svg += "<text x='" + fixed(key_x, 0) + "' y='" + fixed(y + 16, 0) + "' fill='#555'>(none)</text>\n";
    svg += "</svg>\n";

    std::FILE* out = std::fopen(output.c_str(), "w");
    if (!out) return std::fprintf(stderr, "aectl: cannot write %s\n", output.c_str()), usage;
    const bool written = std::fputs(svg.c_str(), out) >= 0;
    if (std::fclose(out) != 0 || !written) return std::fprintf(stderr, "aectl: cannot write %s\n", output.c_str()), usage;
    std::printf("%s: %zu endpoint(s), %.2f s, %zu events%s\n", output.c_str(), order.size(), t_end, marks.size(),
                bad ? (", " + std::to_string(bad) + " lines that are not metrics skipped").c_str() : "");
    return ok;
}

} // namespace aectl
