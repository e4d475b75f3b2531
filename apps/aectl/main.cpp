// aectl — the openae control client: one JSON-lines request per command over the control socket
// (the wire protocol in README.md), answers as tables, or as the server's JSON with --json.
//
// Exit status: 0 done; 1 the server refused (its error code and message are printed); 2 bad
// usage; 3 no server at the socket; 4 the connection failed or timed out mid-request.
#include <openae/openae.h>
#include <openae/control/server.h>
#include <openae/rt/glitch.h>

#include "connection.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

using nlohmann::json;
using namespace aectl;

std::string format_text(const json& f) {
    if (!f.is_object()) return "-";
    return std::to_string(f.value("sample_rate", 0)) + "/" + std::to_string(f.value("channels", 0)) + "/" + f.value("sample", "?");
}

// A plain text table: columns as wide as their widest cell.
void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width(header.size());
    for (std::size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
    for (const auto& row : rows) {
        for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
    }
    auto line = [&](const std::vector<std::string>& cells) {
        std::string out;
        for (std::size_t i = 0; i < cells.size(); ++i) {
            out += cells[i];
            if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 2, ' ');
        }
        std::printf("%s\n", out.c_str());
    };
    line(header);
    for (const auto& row : rows) line(row);
}

std::string number(double value, int decimals) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    return text;
}

void print_bridges(const json& answer) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& b : answer["bridges"]) {
        std::uint64_t glitches = 0;
        for (const char* side : {"capture_glitches", "render_glitches"}) {
            for (const auto& [kind, g] : b[side].items()) glitches += g.value("count", 0ull);
        }
        rows.push_back({b["bridge"], b["from"], b["to"], number(b["average_ms"].get<double>(), 2), number(b["target_ms"].get<double>(), 2),
                        b["drift_control"].get<bool>() ? number(b["drift_ppm"].get<double>(), 1) : "off",
                        number(b["latency_ms"].get<double>(), 2), std::to_string(b["frames_in"].get<std::uint64_t>()),
                        std::to_string(b["frames_out"].get<std::uint64_t>()), std::to_string(glitches)});
    }
    print_table({"BRIDGE", "FROM", "TO", "QUEUE_MS", "HOLDS_MS", "DRIFT_PPM", "LATENCY_MS", "IN", "OUT", "GLITCHES"}, rows);
}

void print_list(const json& answer) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : answer["endpoints"])
        rows.push_back({e["endpoint"], e["direction"], e["state"], e["device"]});
    print_table({"ENDPOINT", "DIRECTION", "STATE", "DEVICE"}, rows);
    rows.clear();
    for (const auto& d : answer["devices"]) {
        const std::string state = d["lost"].get<bool>() ? "lost" : d["finished"].get<bool>() ? "finished" : "ok";
        rows.push_back({d["device"], d["direction"], format_text(d["format"]), std::to_string(d["period_frames"].get<unsigned>()),
                        d["realtime"].get<bool>() ? "yes" : "no", state, std::to_string(d["endpoints"].get<unsigned>())});
    }
    std::printf("\n");
    print_table({"DEVICE", "DIRECTION", "FORMAT", "PERIOD", "REALTIME", "STATE", "ENDPOINTS"}, rows);
}

// Every device a spec can name now; `*` marks the host's default device, `(default)` each backend's.
void print_devices(const json& answer) {
    std::vector<std::vector<std::string>> rows;
    const std::string host_default = answer.value("default_device", std::string{});
    for (const auto& d : answer["devices"]) {
        const bool render = d["render"].get<bool>(), capture = d["capture"].get<bool>();
        const std::string direction = render && capture ? "both" : render ? "render" : "capture";
        std::string format = "-";
        if (d["rate"].is_number()) format = std::to_string(d["rate"].get<unsigned>()) + " Hz";
        if (d["channels"].is_number()) format += (format == "-" ? "" : "/") + std::to_string(d["channels"].get<unsigned>()) + " ch";
        std::string description = d["description"];
        if (d["backend_default"].get<bool>()) description += " (default)";
        rows.push_back({(d["spec"] == host_default ? "* " : "  ") + d["spec"].get<std::string>(), d["kind"], direction, format, description});
    }
    print_table({"  SPEC", "KIND", "DIRECTION", "FORMAT", "DESCRIPTION"}, rows);
}

void print_status(const json& answer) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : answer["endpoints"]) {
        std::uint64_t glitches = 0;
        for (const auto& [kind, count] : e["glitches"].items()) glitches += count.get<std::uint64_t>();
        const json& p = e["position"];
        const json& r = e["route"];
        std::string route = r["stage"].get<std::string>();
        if (r["attempt"].get<unsigned>() != 0) route += ":" + std::to_string(r["attempt"].get<unsigned>());
        rows.push_back({e["endpoint"], e["direction"], e["state"], route, e["device"], format_text(e["format"]),
                        number(e["period_ms"].get<double>(), 2), std::to_string(e["epoch"].get<unsigned>()),
                        number(e["latency_ms"].get<double>(), 2),
                        p.is_object() ? std::to_string(p["stream_position"].get<std::uint64_t>()) : "-",
                        p.is_object() ? number(p["frames_per_second"].get<double>(), 3) : "-", std::to_string(glitches)});
    }
    print_table({"ENDPOINT", "DIRECTION", "STATE", "ROUTE", "DEVICE", "FORMAT", "PERIOD_MS", "EPOCH", "LATENCY_MS", "POSITION", "RATE_HZ",
                 "GLITCHES"},
                rows);
}

void print_stats(const json& answer) {
    std::vector<std::string> header{"ENDPOINT"};
    for (int k = 1; k <= ae::glitch_kind_count; ++k) header.push_back(ae::to_string(static_cast<ae::glitch_kind>(k)));
    header.insert(header.end(), {"PADDING_MIN", "PADDING_MAX", "FRAMES"});
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : answer["endpoints"]) {
        std::vector<std::string> row{e["endpoint"]};
        for (int k = 1; k <= ae::glitch_kind_count; ++k) {
            const json& g = e["glitches"][ae::to_string(static_cast<ae::glitch_kind>(k))];
            std::string cell = std::to_string(g["count"].get<std::uint64_t>());
            if (g["frames"].get<std::uint64_t>() != 0) cell += " (" + std::to_string(g["frames"].get<std::uint64_t>()) + "f)";
            row.push_back(cell);
        }
        row.push_back(std::to_string(e["padding"]["min"].get<std::uint64_t>()));
        row.push_back(std::to_string(e["padding"]["max"].get<std::uint64_t>()));
        row.push_back(e.contains("engine") ? std::to_string(e["engine"]["frames"].get<std::uint64_t>()) : "-");
        rows.push_back(std::move(row));
    }
    print_table(header, rows);
}

void print_endpoint_line(const json& answer) {
    if (!answer.contains("endpoint")) return;
    const json& e = answer["endpoint"];
    if (!e.is_object()) {
        std::printf("%s\n", e.dump().c_str());
        return;
    }
    std::printf("%s: %s, %s on %s, %s, period %.2f ms, epoch %u, latency %.2f ms\n", e["endpoint"].get<std::string>().c_str(),
                e["direction"].get<std::string>().c_str(), e["state"].get<std::string>().c_str(), e["device"].get<std::string>().c_str(),
                format_text(e["format"]).c_str(), e["period_ms"].get<double>(), e["epoch"].get<unsigned>(), e["latency_ms"].get<double>());
}

std::string event_text(const json& e) {
    std::string out = e.value("event", "?");
    if (e.contains("endpoint")) out += " " + e["endpoint"].get<std::string>();
    for (const auto& [key, value] : e.items()) {
        if (key == "event" || key == "endpoint" || key == "time_ns") continue;
        out += " " + key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
    }
    return out;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"aectl: control an openae host (ae-host, or any host serving openae's control socket) over its socket"};
    app.set_version_flag("--version", std::string("aectl (openae) ") + ae_version());
    app.footer(R"(Examples:
  aectl list                                   endpoints and open devices
  aectl devices                                devices a spec can name now; * marks the host's default
  aectl status music                           state, route, format, epoch, position, latency, glitches
  aectl stats                                  glitch counts and frames by kind, padding, for every endpoint
  aectl create music --device null --source tone:440 --rate 48000 --channels 2 --sample f32 --period-ms 10 --start
  aectl create mic --direction capture --device alsa:default --sink wav:mic.wav --buffer-periods 4 --routing pinned
  aectl start music      aectl stop music      aectl reset music      aectl destroy music
  aectl set-format music 44100 2 s16           a new format at the engine's next pass
  aectl set-period music 5                     a 5 ms period
  aectl move music 'wav:out.wav?realtime=1'    onto another device
  aectl top                                    a live view (q quits); aectl top --once --interval-ms 500
  aectl plot run.jsonl -o run.svg              a run's timeline from ae-host --metrics run.jsonl (or its --log)
  aectl watch music --count 10                 the next 10 events of one endpoint
  aectl inject music unplug                    a fault into a faulty:SPEC device (unplug, stall, ...))
  aectl --json status                          the host's JSON answers, one per line
  aectl --socket /tmp/ae.sock --timeout-ms 2000 list)");
    app.require_subcommand(1);
    std::string socket_path = ae::default_socket_path();
    bool as_json = false;
    int timeout_ms = 15'000;
    app.add_option("--socket", socket_path, "The control socket")->capture_default_str();
    app.add_flag("--json", as_json, "Print the server's JSON answers (one per line) instead of tables");
    app.add_option("--timeout-ms", timeout_ms, "How long to wait for an answer")->check(CLI::Range(1, 600'000))->capture_default_str();

    json request;
    std::string endpoint;
    auto* list = app.add_subcommand("list", "Endpoints and devices");
    auto* devices = app.add_subcommand("devices", "Devices a spec can name now (null, PipeWire, JACK, ALSA); * the host's default");
    auto* status = app.add_subcommand("status", "State, route, format, epoch, position, latency, glitches");
    status->add_option("endpoint", endpoint, "One endpoint (default: all)");
    auto* stats = app.add_subcommand("stats", "Glitch counts and frames by kind, padding");
    stats->add_option("endpoint", endpoint, "One endpoint (default: all)");

    auto* create = app.add_subcommand("create", "Create an endpoint driven by the host's engine");
    std::string direction = "render", device, source, sink, routing, sample = "f32";
    unsigned rate = 0, channels = 0;
    double period_ms = 0;
    unsigned buffer_periods = 0;
    bool start = false;
    create->add_option("endpoint", endpoint, "Its name")->required();
    create->add_option("--direction", direction, "render or capture")->check(CLI::IsMember({"render", "capture"}))->capture_default_str();
    create->add_option("--device", device, "A device spec (default: the host's default device)");
    create->add_option("--source", source, "render: tone:HZ, wav:PATH or silence (default tone:440)");
    create->add_option("--sink", sink, "capture: wav:PATH or null (default null)");
    create->add_option("--rate", rate, "Sample rate in Hz");
    create->add_option("--channels", channels, "Channels");
    create->add_option("--sample", sample, "s16, s24, s32 or f32")->capture_default_str();
    create->add_option("--period-ms", period_ms, "Period in milliseconds (default 10)");
    create->add_option("--buffer-periods", buffer_periods, "The buffer, in periods (default 2)")->check(CLI::Range(1, 64));
    create->add_option("--routing", routing, "follow_default, pinned or fail");
    create->add_flag("--start", start, "Start it too");

    std::vector<CLI::App*> simple;
    for (const char* name : {"start", "stop", "reset", "destroy"}) {
        auto* sub = app.add_subcommand(name, std::string(name) + " an endpoint");
        sub->add_option("endpoint", endpoint)->required();
        simple.push_back(sub);
    }
    auto* bridge = app.add_subcommand("bridge", "Join a capture device to a render device (NAME.capture, NAME.render), with drift control");
    std::string from, to;
    bool no_drift = false;
    bridge->add_option("name", endpoint, "The bridge's name")->required();
    bridge->add_option("from", from, "The capture device's spec")->required();
    bridge->add_option("to", to, "The render device's spec")->required();
    bridge->add_option("--rate", rate, "The queue's sample rate (default 48000)");
    bridge->add_option("--channels", channels, "The queue's channels (default 2)");
    bridge->add_option("--period-ms", period_ms, "The endpoints' period (default 10)");
    bridge->add_flag("--no-drift", no_drift, "No drift control: the queue drifts with the clocks");
    double margin_ms = -1;
    bridge->add_option("--margin-ms", margin_ms, "How far above empty the queue's lowest point is held (default 4)")->check(CLI::Range(0.0, 500.0));
    bridge->add_option("--routing", routing, "follow_default, pinned or fail");
    auto* bridges = app.add_subcommand("bridges", "Every bridge: queue, the level it holds, drift, latency, frames, glitches");
    auto* unbridge = app.add_subcommand("unbridge", "Destroy a bridge and its two endpoints");
    unbridge->add_option("name", endpoint, "The bridge's name")->required();
    auto* set_format = app.add_subcommand("set-format", "Change an endpoint's format (a barrier: the next pass sees it)");
    set_format->add_option("endpoint", endpoint)->required();
    set_format->add_option("rate", rate)->required();
    set_format->add_option("channels", channels)->required();
    set_format->add_option("type", sample, "s16, s24, s32 or f32")->required();
    auto* set_period = app.add_subcommand("set-period", "Change an endpoint's period");
    set_period->add_option("endpoint", endpoint)->required();
    set_period->add_option("ms", period_ms)->required();
    auto* move = app.add_subcommand("move", "Move an endpoint to another device");
    move->add_option("endpoint", endpoint)->required();
    move->add_option("device", device)->required();
    auto* top = app.add_subcommand("top", "A live view: one row per endpoint (route, format, padding, its device loop's load, glitches), q quits");
    bool once = false;
    int interval_ms = 1000;
    top->add_flag("--once", once, "Print one frame and exit (for scripts)");
    top->add_option("--interval-ms", interval_ms, "Time between frames")->check(CLI::Range(100, 60'000))->capture_default_str();
    auto* plot = app.add_subcommand("plot", "Draw a run as an SVG timeline: ae-host --metrics snapshots (padding, load, latency, events) or its --log (events)");
    std::string metrics_file;
    std::string svg_file = "timeline.svg";
    plot->add_option("file", metrics_file, "The FILE.jsonl ae-host --metrics (or --log) wrote")->required();
    plot->add_option("-o,--output", svg_file, "The SVG to write")->capture_default_str();
    auto* watch = app.add_subcommand("watch", "Stream events until interrupted (or --count)");
    watch->add_option("endpoint", endpoint, "Only this endpoint's events");
    int count = 0;
    watch->add_option("--count", count, "Stop after N events");
    auto* inject = app.add_subcommand("inject", "Inject a fault into an endpoint's device (faulty devices only)");
    std::string fault;
    inject->add_option("endpoint", endpoint)->required();
    inject->add_option("fault", fault, "unplug, replug, stall:MS, jump:MS, late:N:MS, format:RATE[:CH[:TYPE]]")->required();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? ok : usage;
    }

    if (list->parsed()) request = {{"op", "list"}};
    if (status->parsed()) request = {{"op", "status"}};
    if (devices->parsed()) request = {{"op", "devices"}};
    if (stats->parsed()) request = {{"op", "stats"}};
    if ((status->parsed() || stats->parsed()) && !endpoint.empty()) request["endpoint"] = endpoint;
    if (create->parsed()) {
        request = {{"op", "create"}, {"endpoint", endpoint}, {"direction", direction}};
        if (!device.empty()) request["device"] = device;
        if (!source.empty()) request["source"] = source;
        if (!sink.empty()) request["sink"] = sink;
        if (!routing.empty()) request["routing"] = routing;
        if (period_ms != 0) request["period_ms"] = period_ms;
        if (buffer_periods != 0) request["buffer_periods"] = buffer_periods;
        if (rate != 0 || channels != 0 || create->count("--sample") != 0) {
            json format = {{"sample", sample}};
            if (rate != 0) format["sample_rate"] = rate;
            if (channels != 0) format["channels"] = channels;
            request["format"] = format;
        }
        if (start) request["start"] = true;
    }
    for (auto* sub : simple) {
        if (sub->parsed()) request = {{"op", sub->get_name()}, {"endpoint", endpoint}};
    }
    if (set_format->parsed())
        request = {{"op", "set_format"}, {"endpoint", endpoint}, {"format", {{"sample_rate", rate}, {"channels", channels}, {"sample", sample}}}};
    if (set_period->parsed()) request = {{"op", "set_period"}, {"endpoint", endpoint}, {"period_ms", period_ms}};
    if (move->parsed()) request = {{"op", "move"}, {"endpoint", endpoint}, {"device", device}};
    if (bridge->parsed()) {
        request = {{"op", "bridge"}, {"bridge", endpoint}, {"from", from}, {"to", to}, {"drift", !no_drift}};
        if (rate != 0) request["rate"] = rate;
        if (channels != 0) request["channels"] = channels;
        if (period_ms != 0) request["period_ms"] = period_ms;
        if (!routing.empty()) request["routing"] = routing;
        if (margin_ms >= 0) request["margin_ms"] = margin_ms;
    }
    if (bridges->parsed()) request = {{"op", "bridges"}};
    if (unbridge->parsed()) request = {{"op", "destroy"}, {"bridge", endpoint}};
    if (inject->parsed()) request = {{"op", "inject"}, {"endpoint", endpoint}, {"fault", fault}};
    if (watch->parsed()) {
        request = {{"op", "watch"}};
        if (!endpoint.empty()) request["endpoint"] = endpoint;
    }

    if (plot->parsed()) return run_plot(metrics_file, svg_file);
    connection c;
    if (auto f = c.open(socket_path)) {
        std::fprintf(stderr, "aectl: %s\n", f->message.c_str());
        return f->code;
    }
    if (top->parsed()) return run_top(c, timeout_ms, once, interval_ms);
    auto answer = call(c, request, timeout_ms);
    if (!answer) {
        std::fprintf(stderr, "aectl: %s\n", answer.error().message.c_str());
        return answer.error().code;
    }
    if (!answer->value("ok", false)) {
        if (as_json) std::printf("%s\n", answer->dump().c_str());
        std::fprintf(stderr, "aectl: %s: %s\n", answer->value("/error/code"_json_pointer, std::string{"error"}).c_str(),
                     answer->value("/error/message"_json_pointer, std::string{}).c_str());
        return refused;
    }
    if (watch->parsed()) {
        if (!as_json) std::printf("watching %s\n", endpoint.empty() ? "all endpoints" : endpoint.c_str());
        std::fflush(stdout);
        for (int seen = 0; count == 0 || seen < count; ++seen) {
            auto line = c.read_line(-1);
            if (!line) {
                std::fprintf(stderr, "aectl: %s\n", line.error().message.c_str());
                return broken;
            }
            if (as_json) {
                std::printf("%s\n", line->c_str());
            } else {
                json e = json::parse(*line, nullptr, false);
                std::printf("%s\n", e.is_discarded() ? line->c_str() : event_text(e).c_str());
            }
            std::fflush(stdout);
        }
        return ok;
    }
    if (as_json) {
        std::printf("%s\n", answer->dump().c_str());
    } else if (list->parsed()) {
        print_list(*answer);
    } else if (status->parsed()) {
        print_status(*answer);
    } else if (devices->parsed()) {
        print_devices(*answer);
    } else if (stats->parsed()) {
        print_stats(*answer);
    } else if (bridges->parsed()) {
        print_bridges(*answer);
    } else if (bridge->parsed() || unbridge->parsed()) {
        std::printf("%s: %s\n", endpoint.c_str(), bridge->parsed() ? "bridged" : "destroyed");
    } else if (inject->parsed()) {
        std::printf("injected '%s' into %s\n", fault.c_str(), (*answer)["device"].get<std::string>().c_str());
    } else if (answer->contains("endpoint") && (*answer)["endpoint"].is_string()) {
        std::printf("%s: %s\n", (*answer)["endpoint"].get<std::string>().c_str(), request["op"].get<std::string>().c_str());
    } else {
        print_endpoint_line(*answer);
    }
    return ok;
}
