// Mouth-to-ear latency of an RTP stream over loopback: an engine writes a marker (2.5 ms of a
// 1 kHz tone) into a render endpoint on an `rtp:` sender every 250 ms; a second engine reads a
// capture endpoint on an `rtp:` receiver; the latency is from the sending engine's pass that wrote
// the marker to the receiving engine's pass that read its onset. Packets go through a UDP relay
// (tests/pipeline/udp_relay.h) that adds seeded loss and jitter.
// (An ffmpeg -> ffmpeg reference through raw pipes was tried and is not here: ffmpeg's sender
// buffered its pipe, and the harness hung on it; see BENCHMARKS.md.)
//
//   ./build/release/bench/bench_rtp_latency [--codec l16|opus] [--ptime MS] [--period MS]
//       [--latency MS] [--loss P] [--jitter MS] [--seconds S]
#include "test_engine.h"
#include "udp_ports.h"
#include "udp_relay.h"

#include <openae/pipeline/devices.h>
#include <openae/pipeline/rtp_device.h>
#include <openae/rt/monotonic_clock.h>


#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <numbers>
#include <string>
#include <thread>
#include <vector>

using namespace ae;

namespace {

struct options {
    std::string codec = "l16";
    double ptime = 2.5, period = 2.5, latency = 10, loss = 0, jitter = 0, seconds = 10;
};

constexpr std::uint64_t marker_every = 12000; // 250 ms
constexpr std::uint64_t marker_frames = 120;  // 2.5 ms

float marker_sample(std::uint64_t n) {
    const std::uint64_t in = n % marker_every;
    return in < marker_frames ? static_cast<float>(0.8 * std::sin(2 * std::numbers::pi * 1000 * static_cast<double>(in) / 48000)) : 0.0f;
}

struct timeline {
    std::mutex mutex;
    std::vector<double> written; // seconds, by marker index
    std::vector<double> read;    // onsets seen
};

void report(const char* what, const options& o, timeline& t) {
    std::vector<double> latencies;
    for (const double r : t.read) {
        // The most recent marker written before the onset.
        double best = -1;
        for (const double w : t.written) {
            if (w <= r && r - w < 0.2) best = r - w;
        }
        if (best >= 0) latencies.push_back(best * 1000);
    }
    std::sort(latencies.begin(), latencies.end());
    const auto at = [&](double q) { return latencies.empty() ? 0.0 : latencies[static_cast<std::size_t>(q * static_cast<double>(latencies.size() - 1))]; };
    std::printf("%-7s codec=%s ptime=%.1f period=%.1f latency=%.0f loss=%.0f%% jitter=%.0fms: markers %zu written, %zu heard; ms median %.2f p95 %.2f max %.2f min %.2f\n",
                what, o.codec.c_str(), o.ptime, o.period, o.latency, o.loss * 100, o.jitter, t.written.size(), latencies.size(), at(0.5), at(0.95),
                latencies.empty() ? 0.0 : latencies.back(), at(0));
}

double now_s() { return static_cast<double>(monotonic_now().count()) * 1e-7; }

int run_openae(const options& o) {
    const std::uint16_t port = test::free_port_pair();
    test::udp_relay relay(port, {.loss = o.loss, .duplicate = 0, .delay_ms = 0, .jitter_ms = o.jitter, .seed = 1});
    const std::string common = "codec=" + o.codec + "&rtcp_ms=200";
    auto rx = pipeline::make_device("rtp:127.0.0.1:" + std::to_string(port) + "?" + common + "&latency=" + std::to_string(o.latency) +
                                        "&period=" + std::to_string(o.period),
                                    endpoint_direction::capture);
    auto tx = pipeline::make_device("rtp:127.0.0.1:" + std::to_string(relay.port()) + "?" + common + "&ptime=" + std::to_string(o.ptime) +
                                        "&period=" + std::to_string(o.period),
                                    endpoint_direction::render);
    if (!rx || !tx) {
        std::fprintf(stderr, "%s\n", (!rx ? rx.error() : tx.error()).message.c_str());
        return 1;
    }
    const std::uint32_t rx_period = (*rx)->period_frames(), tx_period = (*tx)->period_frames();
    auto in_thread = std::move(*pipeline::device_thread::create(std::move(*rx), {.realtime_priority = 0}));
    auto out_thread = std::move(*pipeline::device_thread::create(std::move(*tx), {.realtime_priority = 0}));
    render_endpoint_core out(1);
    capture_endpoint_core in(2);
    test::event_fd out_wake, in_wake;
    (void)out.set_buffer({48000, 2, sample_type::f32}, tx_period, 2ull * tx_period);
    (void)in.set_buffer({48000, 2, sample_type::f32}, rx_period, 8ull * rx_period);
    (void)out.set_event_handle(out_wake.get());
    (void)in.set_event_handle(in_wake.get());
    (void)in_thread->control().attach(in);
    (void)out_thread->control().attach(out);
    (void)in_thread->start();
    (void)out_thread->start();
    (void)in.start();
    (void)out.start();
    timeline t;
    std::atomic<bool> stop{false};
    std::thread capture([&] {
        std::uint64_t read = 0;
        std::uint64_t quiet = 0;
        while (!stop.load()) {
            (void)in_wake.wait(50);
            const double at = now_s();
            test::capture_pass(in.rt(), read, [&](std::uint64_t, const float* frame) {
                if (std::abs(frame[0]) > 0.2f && quiet > 4800) {
                    const std::lock_guard lock(t.mutex);
                    t.read.push_back(at);
                    quiet = 0;
                }
                ++quiet;
            });
        }
    });
    std::uint64_t written = 0;
    const double end = now_s() + o.seconds;
    while (now_s() < end) {
        const std::uint64_t before = written;
        const double at = now_s();
        (void)test::render_pass(out.rt(), written, ~std::uint64_t{0}, [](std::uint64_t n, float* f) { f[0] = f[1] = marker_sample(n); });
        for (std::uint64_t n = (before + marker_every - 1) / marker_every * marker_every; n < written; n += marker_every) {
            const std::lock_guard lock(t.mutex);
            t.written.push_back(at);
        }
        (void)out_wake.wait(50);
    }
    stop.store(true);
    capture.join();
    const auto got = *pipeline::rtp_stats_of(in_thread->dev());
    out_thread->stop();
    in_thread->stop();
    report("openae", o, t);
    std::printf("        receiver: packets %llu, lost %llu, late %llu, concealed %llu frames, underrun %llu frames, queue %.2f ms (target %.2f), drift %.1f ppm; relay dropped %llu\n",
                static_cast<unsigned long long>(got.packets), static_cast<unsigned long long>(got.lost_packets), static_cast<unsigned long long>(got.late),
                static_cast<unsigned long long>(got.concealed_frames), static_cast<unsigned long long>(got.underrun_frames), got.queue_ms,
                got.queue_target_ms, got.drift_ppm, static_cast<unsigned long long>(relay.dropped()));
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--codec") o.codec = next();
        else if (a == "--ptime") o.ptime = std::atof(next().c_str());
        else if (a == "--period") o.period = std::atof(next().c_str());
        else if (a == "--latency") o.latency = std::atof(next().c_str());
        else if (a == "--loss") o.loss = std::atof(next().c_str());
        else if (a == "--jitter") o.jitter = std::atof(next().c_str());
        else if (a == "--seconds") o.seconds = std::atof(next().c_str());
        else {
            std::fprintf(stderr, "unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    return run_openae(o);
}
