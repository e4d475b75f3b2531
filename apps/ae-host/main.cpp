// ae-host — the openae demo host.
//
//   ae-host [--seconds N] [--render SOURCE@DEVICE]... [--capture DEVICE@SINK]...
//
// With no --render / --capture it plays a 440 Hz tone on the default device (`null`, a virtual
// clock: no sound hardware needed). Endpoints naming the same device are mixed onto one device
// thread. --seconds bounds the run: wall time on real-time devices, exactly N seconds of audio on
// offline ones (wav:PATH?realtime=0). SIGINT / SIGTERM stop it cleanly. The main thread is the
// control thread ("ae-ctl"): it drains glitch records and device events and prints the summary.
#include "host.h"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <ctime>

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true, std::memory_order_relaxed); }
} // namespace

int main(int argc, char** argv) {
    CLI::App app{"ae-host: the openae demo host"};
    double seconds = 0;
    double period_ms = 10;
    std::vector<std::string> renders;
    std::vector<std::string> captures;
    app.add_option("--seconds", seconds, "Stop after N seconds of stream time (default: until SIGINT/SIGTERM)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--render", renders, "SOURCE@DEVICE: tone:HZ | wav:PATH | silence, played on a device (default null)");
    app.add_option("--capture", captures, "DEVICE@SINK: a device recorded into wav:PATH or null");
    app.add_option("--period-ms", period_ms, "The engine's packet (and endpoint period) in milliseconds")
        ->check(CLI::Range(1.0, 100.0));
    CLI11_PARSE(app, argc, argv);
    if (renders.empty() && captures.empty()) renders.push_back("tone:440@null");

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    ae::set_current_thread_name("ae-ctl");

    ae_host::host host;
    host.seconds = seconds;
    for (const auto& text : renders) {
        if (auto added = host.add_render(text, period_ms); !added) {
            std::fprintf(stderr, "ae-host: --render %s: %s\n", text.c_str(), added.error().c_str());
            return 2;
        }
    }
    for (const auto& text : captures) {
        if (auto added = host.add_capture(text, period_ms); !added) {
            std::fprintf(stderr, "ae-host: --capture %s: %s\n", text.c_str(), added.error().c_str());
            return 2;
        }
    }
    if (auto started = host.start(); !started) {
        std::fprintf(stderr, "ae-host: cannot start: %s\n", started.error().c_str());
        return 1;
    }
    std::printf("ae-host: %zu render and %zu capture endpoint(s) running%s\n", renders.size(), captures.size(),
                seconds > 0 ? "" : " (SIGINT or SIGTERM stops)");

    const ae::hns begin = ae::monotonic_now();
    ae::hns next_print = begin + ae::hns{10'000'000};
    const bool realtime = host.any_realtime();
    while (!g_stop.load(std::memory_order_relaxed)) {
        const ae::hns now = ae::monotonic_now();
        const double elapsed = static_cast<double>((now - begin).count()) / 1e7;
        if (realtime && seconds > 0 && elapsed >= seconds) break;
        if (host.all_finished()) break;
        host.poll();
        if (realtime && now >= next_print) {
            host.print_progress(elapsed);
            next_print += ae::hns{10'000'000};
        }
        const timespec tick = ae::to_timespec(now + ae::hns{200'000}); // the control thread's 20 ms tick
        ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, nullptr);
    }
    host.stop();
    host.print_summary();
    if (host.engine_failed()) {
        std::fprintf(stderr, "ae-host: %llu RT calls failed\n", static_cast<unsigned long long>(host.engine_errors()));
        return 1;
    }
    return 0;
}
