// ae-host — the openae demo host.
//
//   ae-host [--config FILE.json] [--socket PATH|none] [--log FILE|-] [--seconds N]
//           [--render SOURCE[@DEVICE]]... [--capture DEVICE@SINK]... [--bridge [NAME=]FROM@TO]...
//
// With no endpoints from the command line or a config file it plays a 440 Hz tone on the default
// device (`auto`: PipeWire, else JACK, else ALSA's default, else `null` — a virtual clock, so no
// sound hardware is needed). Everything goes through the control
// service — the command line and the config file are turned into the same `create` requests the
// socket takes — so `aectl` sees and steers every endpoint. One engine thread ("ae-rt-engine")
// drives them all; the control actor ("ae-ctl") owns devices, rerouting, events and the JSON logs.
// --seconds bounds the run: wall time on real-time devices, exactly N seconds of audio on offline
// ones (wav:PATH?realtime=0). SIGINT / SIGTERM stop it cleanly: endpoints stopped, files closed,
// socket removed, summary printed.
#include <openae/control/server.h>
#include <openae/openae.h>
#include <openae/openae.hpp>

#include "host_config.h"
#include "metrics.h"
#include "rdp_listen.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <fstream>

#include <unistd.h>

namespace {

using nlohmann::json;
using ae_host::host_config;
using ae_host::read_config;
using ae_host::split_last_at;

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true, std::memory_order_relaxed); }

std::string error_of(const json& response) {
    return response.value("/error/message"_json_pointer, std::string{"unknown error"});
}

std::string glitch_line(const json& glitches) {
    std::string out;
    for (int k = 1; k <= ae::glitch_kind_count; ++k) {
        const char* kind = ae::to_string(static_cast<ae::glitch_kind>(k));
        const json& v = glitches.contains(kind) ? glitches[kind] : json::object();
        out += std::string(" ") + kind + "=" + std::to_string(v.value("count", 0ull));
        if (v.value("frames", 0ull) != 0) out += " (" + std::to_string(v.value("frames", 0ull)) + " frames)";
    }
    return out;
}

// printf into a string.
__attribute__((format(printf, 2, 3))) void appendf(std::string& out, const char* format, ...) {
    va_list args;
    va_start(args, format);
    va_list again;
    va_copy(again, args);
    const int n = std::vsnprintf(nullptr, 0, format, args);
    va_end(args);
    if (n > 0) {
        const std::size_t at = out.size();
        out.resize(at + static_cast<std::size_t>(n) + 1);
        std::vsnprintf(out.data() + at, static_cast<std::size_t>(n) + 1, format, again);
        out.resize(at + static_cast<std::size_t>(n));
    }
    va_end(again);
}

// What each endpoint and device did, as text: printed once the context has stopped, so that no
// log line comes between its lines.
std::string summary_of(ae::control_service& service) {
    std::string out;
    const json status = json::parse(service.request(R"({"op":"status"})"));
    const json stats = json::parse(service.request(R"({"op":"stats"})"));
    const json list = json::parse(service.request(R"({"op":"list"})"));
    appendf(out, "ae-host: summary\n");
    for (std::size_t i = 0; i < status["endpoints"].size(); ++i) {
        const json& s = status["endpoints"][i];
        const json& st = stats["endpoints"][i];
        const bool render = s["direction"] == "render";
        const std::string route = render ? s.value("source", "") + "@" + s["device"].get<std::string>()
                                         : s["device"].get<std::string>() + "@" + s.value("sink", "");
        appendf(out, "  %s (%s)\n", s["endpoint"].get<std::string>().c_str(), route.c_str());
        if (st.contains("engine")) {
            const json& e = st["engine"];
            appendf(out, "    frames %s: %llu in %llu passes (%llu errors)\n", render ? "rendered" : "captured",
                        e["frames"].get<unsigned long long>(), e["passes"].get<unsigned long long>(),
                        e["errors"].get<unsigned long long>());
            appendf(out, "    padding frames: min %llu  avg %.1f  max %llu\n", e["padding_min"].get<unsigned long long>(),
                        e["padding_avg"].get<double>(), e["padding_max"].get<unsigned long long>());
        }
        if (s["position"].is_object()) {
            appendf(out, "    measured rate:  %.3f Hz at device position %llu (epoch %u)\n", s["position"]["frames_per_second"].get<double>(),
                        s["position"]["device_position"].get<unsigned long long>(), s["epoch"].get<unsigned>());
        } else {
            appendf(out, "    measured rate:  (no device period yet)\n");
        }
        appendf(out, "    glitches:%s\n", glitch_line(st["glitches"]).c_str());
    }
    const json bridges = json::parse(service.request(R"({"op":"bridges"})"));
    for (const auto& b : bridges["bridges"]) {
        appendf(out, "  bridge %s (%s@%s)\n    queue %.2f ms (holds %.2f), drift %+.1f ppm, latency %.2f ms, %llu frames in, %llu out\n",
                b["bridge"].get<std::string>().c_str(), b["from"].get<std::string>().c_str(), b["to"].get<std::string>().c_str(),
                b["average_ms"].get<double>(), b["target_ms"].get<double>(), b["drift_ppm"].get<double>(), b["latency_ms"].get<double>(),
                b["frames_in"].get<unsigned long long>(), b["frames_out"].get<unsigned long long>());
        appendf(out, "    glitches: capture%s; render%s\n", glitch_line(b["capture_glitches"]).c_str(), glitch_line(b["render_glitches"]).c_str());
    }
    for (const auto& d : list["devices"]) {
        appendf(out, "  device %s (%s): %llu frames%s%s\n", d["device"].get<std::string>().c_str(),
                    d["direction"].get<std::string>().c_str(), d["frames"].get<unsigned long long>(),
                    d["lost"].get<bool>() ? ", lost" : "", d["finished"].get<bool>() ? ", finished" : "");
    }
    return out;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"ae-host, the openae demo host: plays sources into and records devices through openae's endpoints, "
                 "serves the control socket aectl talks to"};
    app.set_version_flag("--version", std::string("ae-host (openae) ") + ae_version());
    app.footer(R"(Examples:
  ae-host --seconds 5                                  a 440 Hz tone on the default device (auto: PipeWire, JACK, ALSA, else null)
  ae-host --render tone:1000@null --render wav:music.wav@null      two endpoints mixed on one device
  ae-host --bridge 'pipewire?node=sink&name=desk@rdp'          a virtual PipeWire sink into the latest RDP session, drift-controlled
  ae-host --seconds 300 --render 'tone:440@wav:out.wav?rate=44100' an offline render: 300 s of audio, as fast as it goes
  ae-host --capture 'alsa:default@wav:mic.wav' --seconds 10       record a device into a file
  ae-host --default-device pipewire                    the device of endpoints that name none (a spec, or auto)
  ae-host --period-ms 5 --buffer-periods 4             5 ms periods, a 20 ms buffer
  ae-host --config host.json                           endpoints, socket, log level and default device from a file
  ae-host --socket /tmp/ae.sock   (then: aectl --socket /tmp/ae.sock status)   or --socket none
  ae-host --log host.log --log-level debug             logs into a rotating file, from debug up
  ae-host --log-format text                            readable log lines (auto: text on a terminal, JSON otherwise)
  ae-host --metrics run.jsonl --metrics-ms 50          a snapshot of every endpoint each 50 ms (then: aectl plot run.jsonl -o run.svg)
  ae-host --rdp-listen 127.0.0.1:3390                  an RDP server: each client's speakers become device rdp:N (then: aectl create ... rdp:1)
  ae-host --rdp-listen 127.0.0.1:3390 --rdp-desktop-audio   desktop audio per session: PipeWire sink openae-rdp-N and source openae-rdp-N-mic
  ae-host --rdp-listen 0.0.0.0:3389 --rdp-user u --rdp-password p --rdp-cert c.pem --rdp-key k.pem   beyond loopback: a logon is required
Device specs: null, wav:PATH, alsa:PCM, jack[:CLIENT], pipewire[:TARGET], rtp:HOST:PORT, rdp[:SESSION], faulty:SPEC (docs/API.md lists their options).)");
    double seconds = 0;
    double period_ms = 10;
    int buffer_periods = 2;
    std::vector<std::string> renders;
    std::vector<std::string> captures;
    std::vector<std::string> bridges;
    std::string config_path;
    std::string socket_path;
    std::string log_target = "-";
    std::string log_level;
    app.add_option("--seconds", seconds, "Stop after N seconds of stream time (default: until SIGINT/SIGTERM)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--render", renders, "SOURCE[@DEVICE]: tone:HZ | wav:PATH | silence, played on a device (default: the default device)");
    std::string default_device;
    app.add_option("--default-device", default_device,
                   "The device of endpoints that name none, and where follow_default reroutes: a spec, or auto (PipeWire, else JACK, else ALSA default, else null)");
    app.add_option("--capture", captures, "DEVICE@SINK: a device recorded into wav:PATH or null");
    app.add_option("--bridge", bridges, "[NAME=]FROM@TO: a capture device feeding a render device, with drift control");
    app.add_option("--period-ms", period_ms, "The endpoints' period in milliseconds")->check(CLI::Range(1.0, 100.0));
    app.add_option("--buffer-periods", buffer_periods, "The endpoints' buffer, in periods (more rides out a late engine)")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    app.add_option("--config", config_path, "A JSON file: default_device, log_level, socket, endpoints (create requests), bridges (bridge requests)");
    app.add_option("--socket", socket_path, "The control socket's path, or 'none' (default: $XDG_RUNTIME_DIR/openae/control.sock)");
    app.add_option("--log", log_target, "JSON-lines log: a file (rotating) or '-' for stderr")->capture_default_str();
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off (default info)");
    std::string metrics_path;
    double metrics_ms = 100;
    app.add_option("--metrics", metrics_path, "Write a snapshot of every endpoint (padding, load, latency, epoch, stage, glitches) to FILE.jsonl every --metrics-ms; aectl plot draws it");
    app.add_option("--metrics-ms", metrics_ms, "Time between metrics snapshots")->check(CLI::Range(10.0, 60'000.0))->capture_default_str();
    std::string log_format = "auto";
    app.add_option("--log-format", log_format, "text (a readable line per record), json (JSON lines), auto: text on a terminal, JSON into a file or pipe")
        ->check(CLI::IsMember({"auto", "text", "json"}))->capture_default_str();
    ae_host::rdp_listen_options rdp_options;
    ae_host::add_rdp_options(app, rdp_options);
    CLI11_PARSE(app, argc, argv);
    auto rdp_server = ae_host::start_rdp(rdp_options);
    if (!rdp_server) {
        std::fprintf(stderr, "ae-host: %s\n", rdp_server.error().c_str());
        return 2;
    }

    host_config config;
    if (!config_path.empty()) {
        auto read = read_config(config_path);
        if (!read) {
            std::fprintf(stderr, "ae-host: %s\n", read.error().c_str());
            return 2;
        }
        config = std::move(*read);
    }
    if (!log_level.empty()) config.log_level = log_level;
    if (!socket_path.empty()) config.socket = socket_path;
    if (!default_device.empty()) config.default_device = default_device;
    // The demo: a tone on the default device (`auto`: null where no sound server or card answers).
    if (renders.empty() && captures.empty() && bridges.empty() && config.endpoints.empty() && config.bridges.empty() &&
        !rdp_options.desktop_audio) {
        renders.push_back("tone:440");
    }

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN); // a client that hangs up is the socket's business, not a signal

    ae::context_options options;
    options.log_level = config.log_level;
    options.log_file = log_target == "-" ? std::string{} : log_target;
    options.log_format = log_format == "text" ? ae::log_format::text : log_format == "json" ? ae::log_format::json : ae::log_format::automatic;
    options.default_device = config.default_device;
    options.watch_devices = true; // device_added / device_removed on the socket's watch stream
    options.rdp_desktop_audio.enabled = rdp_options.desktop_audio;
    options.rdp_desktop_audio.make_default = rdp_options.desktop_default;
    options.offline_stop_after = ae::hns{static_cast<std::int64_t>(std::llround(seconds * 1e7))};
    // The context, its engine and service live in here; the summary is printed after they have
    // stopped (and logged their last lines).
    std::string summary;
    const int status = [&]() -> int {
        ae::context ctx(options);
        auto eng = ae::engine::create();
        if (!eng) {
            std::fprintf(stderr, "ae-host: %s\n", eng.error().message.c_str());
            return 1;
        }
        ae::control_service service(ctx, **eng);

        // Every endpoint, from the config and the command line, as a create request.
        std::vector<json> creates = config.endpoints;
        std::vector<std::string> origins(config.endpoints.size());
        for (std::size_t i = 0; i < origins.size(); ++i) origins[i] = "config " + config_path + ": endpoints[" + std::to_string(i) + "]";
        const long period_hundredths = std::lround(period_ms * 100);
        for (std::size_t i = 0; i < renders.size(); ++i) {
            auto [source, device] = split_last_at(renders[i]);
            creates.push_back({{"endpoint", "render" + std::to_string(i + 1)}, {"direction", "render"},
                               {"source", source}, {"period_ms", static_cast<double>(period_hundredths) / 100.0}, {"buffer_periods", buffer_periods}});
            if (!device.empty()) creates.back()["device"] = device; // else the default device
            origins.push_back("--render " + renders[i]);
        }
        for (std::size_t i = 0; i < captures.size(); ++i) {
            auto [device, sink] = split_last_at(captures[i]);
            creates.push_back({{"endpoint", "capture" + std::to_string(i + 1)}, {"direction", "capture"}, {"sink", sink.empty() ? "null" : sink},
                               {"period_ms", static_cast<double>(period_hundredths) / 100.0}, {"buffer_periods", buffer_periods}});
            if (!device.empty()) creates.back()["device"] = device; // else the default device
            origins.push_back("--capture " + captures[i]);
        }
        std::vector<std::string> names;
        for (std::size_t i = 0; i < creates.size(); ++i) {
            json request = creates[i];
            request["op"] = "create";
            request.erase("start");
            const json response = json::parse(service.request(request.dump()));
            if (!response.value("ok", false)) {
                std::fprintf(stderr, "ae-host: %s: %s\n", origins[i].c_str(), error_of(response).c_str());
                return 2;
            }
            names.push_back(response["endpoint"]["endpoint"].get<std::string>());
        }
        // Bridges start as they are made.
        std::vector<json> bridge_requests = config.bridges;
        std::vector<std::string> bridge_origins(config.bridges.size());
        for (std::size_t i = 0; i < bridge_origins.size(); ++i) bridge_origins[i] = "config " + config_path + ": bridges[" + std::to_string(i) + "]";
        for (std::size_t i = 0; i < bridges.size(); ++i) {
            bridge_requests.push_back(ae_host::bridge_request(bridges[i], i));
            bridge_origins.push_back("--bridge " + bridges[i]);
        }
        for (std::size_t i = 0; i < bridge_requests.size(); ++i) {
            json request = bridge_requests[i];
            request["op"] = "bridge";
            const json response = json::parse(service.request(request.dump()));
            if (!response.value("ok", false)) {
                std::fprintf(stderr, "ae-host: %s: %s\n", bridge_origins[i].c_str(), error_of(response).c_str());
                return 2;
            }
        }
        // An offline render device has no clock: without --seconds it would render forever.
        const json devices = json::parse(service.request(R"({"op":"list"})"))["devices"];
        bool realtime = false;
        for (const auto& d : devices) {
            realtime = realtime || d["realtime"].get<bool>();
            if (!d["realtime"].get<bool>() && d["direction"] == "render" && seconds <= 0) {
                std::fprintf(stderr, "ae-host: device '%s' is offline (realtime=0): give --seconds N to say how much to render\n",
                             d["device"].get<std::string>().c_str());
                return 2;
            }
        }
        for (const auto& name : names) {
            const json response = json::parse(service.request(json{{"op", "start"}, {"endpoint", name}}.dump()));
            if (!response.value("ok", false)) {
                std::fprintf(stderr, "ae-host: cannot start %s: %s\n", name.c_str(), error_of(response).c_str());
                return 1;
            }
        }

        std::unique_ptr<ae::control_server> server;
        if (config.socket.value_or("") != "none") {
            ae::server_options server_options;
            server_options.path = config.socket.value_or("");
            auto made = ae::control_server::create(service, server_options);
            if (!made) {
                std::fprintf(stderr, "ae-host: control socket: %s\n", made.error().message.c_str());
                return 1;
            }
            server = std::move(*made);
        }
        ae_host::metrics_writer metrics;
        if (!metrics_path.empty() && !metrics.open(metrics_path)) {
            std::fprintf(stderr, "ae-host: --metrics %s: cannot write it\n", metrics_path.c_str());
            return 2;
        }
        // The first snapshot before the ready line: whatever a client does once it reads that line
        // comes after it.
        if (metrics.is_open()) metrics.sample(service, 0.0);
        std::printf("ae-host: %zu endpoint(s) and %zu bridge(s) running%s; control socket: %s\n", names.size(), bridge_requests.size(),
                    seconds > 0 ? "" : " (SIGINT or SIGTERM stops)", server ? server->path().c_str() : "none");
        std::fflush(stdout);

        const ae::hns begin = ae::monotonic_now();
        ae::hns next_print = begin + ae::hns{10'000'000};
        ae::hns next_metrics = begin + ae::hns{static_cast<std::int64_t>(metrics_ms * 10'000)};
        const ae::hns metrics_every{static_cast<std::int64_t>(metrics_ms * 10'000)};
        // An offline render shows its progress on a terminal (nothing into a file or a pipe), after
        // the first half second (a short render finishes before it would matter).
        const bool progress = !realtime && seconds > 0 && ::isatty(STDERR_FILENO) == 1;
        ae::hns next_progress = begin + ae::hns{5'000'000};
        while (!g_stop.load(std::memory_order_relaxed)) {
            const ae::hns now = ae::monotonic_now();
            const double elapsed = static_cast<double>((now - begin).count()) / 1e7;
            if (realtime && seconds > 0 && elapsed >= seconds) break;
            // Offline runs end when every device has rendered its N seconds.
            if (!realtime && seconds > 0) {
                const json list = json::parse(service.request(R"({"op":"list"})"))["devices"];
                bool all_finished = !list.empty();
                for (const auto& d : list) all_finished = all_finished && d["finished"].get<bool>();
                if (all_finished) break;
                if (progress && now >= next_progress) {
                    // The slowest device's audio so far, against N seconds: on one line, redrawn.
                    double done = seconds;
                    for (const auto& d : list) {
                        const double rate = d["format"].value("sample_rate", 0.0);
                        if (rate > 0) done = std::min(done, static_cast<double>(d["frames"].get<std::uint64_t>()) / rate);
                    }
                    const double speed = elapsed > 0 ? done / elapsed : 0;
                    std::fprintf(stderr, "\r\033[Kae-host: rendered %.1f s of %.1f s (%.0f %%), %.0fx real time, %.1f s left", done, seconds,
                                 100 * done / seconds, speed, speed > 0 ? (seconds - done) / speed : 0.0);
                    next_progress = now + ae::hns{2'500'000};
                }
            }
            if (metrics.is_open() && now >= next_metrics) {
                metrics.sample(service, elapsed);
                next_metrics += metrics_every;
            }
            if (realtime && now >= next_print) {
                const json status = json::parse(service.request(R"({"op":"status"})"));
                for (const auto& s : status["endpoints"]) {
                    if (!s["position"].is_object()) continue;
                    std::printf("  t=%6.2f s  %s  device_position=%9llu  rate=%.3f Hz\n", elapsed, s["endpoint"].get<std::string>().c_str(),
                                s["position"]["device_position"].get<unsigned long long>(), s["position"]["frames_per_second"].get<double>());
                }
                std::fflush(stdout);
                next_print += ae::hns{10'000'000};
            }
            // 20 ms; 4 ms for an offline run (it ends when the devices finish, not on a clock).
            const timespec tick = ae::to_timespec(now + ae::hns{realtime ? 200'000 : 40'000});
            ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, nullptr);
        }
        if (progress && next_progress > begin + ae::hns{5'000'000}) std::fputs("\r\033[K", stderr); // the progress line, cleared
        if (metrics.is_open()) metrics.sample(service, static_cast<double>((ae::monotonic_now() - begin).count()) / 1e7);
        server.reset(); // no new requests while stopping
        const json all = json::parse(service.request(R"({"op":"list"})"))["endpoints"];
        for (const auto& e : all) {
            if (e["state"] == "running") (void)service.request(json{{"op", "stop"}, {"endpoint", e["endpoint"]}}.dump());
        }
        summary = summary_of(service);
        std::uint64_t errors = 0;
        const json stats = json::parse(service.request(R"({"op":"stats"})"));
        for (const auto& st : stats["endpoints"]) {
            if (st.contains("engine")) errors += st["engine"]["errors"].get<std::uint64_t>();
        }
        const json bridges_now = json::parse(service.request(R"({"op":"bridges"})"));
        for (const auto& b : bridges_now["bridges"]) (void)service.request(json{{"op", "destroy"}, {"bridge", b["bridge"]}}.dump());
        // What is left once the bridges took their endpoints with them.
        const json left = json::parse(service.request(R"({"op":"list"})"));
        for (const auto& e : left["endpoints"]) (void)service.request(json{{"op", "destroy"}, {"endpoint", e["endpoint"]}}.dump());
        if (errors != 0) {
            std::fprintf(stderr, "ae-host: %llu RT calls failed\n", static_cast<unsigned long long>(errors));
            return 1;
        }
        return 0;
    }();
    std::fputs(summary.c_str(), stdout);
    rdp_server->reset(); // clients go after the endpoints on their devices
    return status;
}
