// Mouth-to-ear latency of an RTP stream over loopback: an engine writes a marker (2.5 ms of a
// 1 kHz tone) into a render endpoint on an `rtp:` sender every 250 ms; a second engine reads a
// capture endpoint on an `rtp:` receiver; the latency is from the sending engine's pass that wrote
// the marker to the receiving engine's pass that read its onset. Packets go through a UDP relay
// (tests/pipeline/udp_relay.h) that adds seeded loss and jitter. `--ffmpeg` measures the same
// path through ffmpeg -> ffmpeg instead (raw s16 on a pipe into an RTP sender, an RTP receiver
// writing raw s16 to a pipe), as the reference.
//
//   ./build/release/bench/bench_rtp_latency [--codec l16|opus] [--ptime MS] [--period MS]
//       [--latency MS] [--loss P] [--jitter MS] [--seconds S] [--ffmpeg]
#include "test_engine.h"
#include "udp_ports.h"
#include "udp_relay.h"

#include <openae/pipeline/devices.h>
#include <openae/pipeline/rtp_device.h>
#include <openae/rt/monotonic_clock.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
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
    bool ffmpeg = false;
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

pid_t spawn_piped(std::vector<std::string> args, int in_fd, int out_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (in_fd >= 0) posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
    if (out_fd >= 0) posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    return pid;
}

int run_ffmpeg(const options& o) {
    const std::uint16_t port = test::free_port_pair();
    test::udp_relay relay(port, {.loss = o.loss, .duplicate = 0, .delay_ms = 0, .jitter_ms = o.jitter, .seed = 1});
    const std::string sdp = "/tmp/openae-bench-ffmpeg-" + std::to_string(::getpid()) + ".sdp";
    {
        std::ofstream f(sdp);
        f << "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " << port << " RTP/AVP 97\r\n";
        if (o.codec == "opus") f << "a=rtpmap:97 opus/48000/2\r\na=fmtp:97 sprop-stereo=1\r\n";
        else f << "a=rtpmap:97 L16/48000/2\r\n";
    }
    int to_sender[2], from_receiver[2];
    if (::pipe(to_sender) != 0 || ::pipe(from_receiver) != 0) return 1;
    const pid_t receiver = spawn_piped({"ffmpeg", "-nostdin", "-loglevel", "error", "-fflags", "nobuffer", "-flags", "low_delay",
                                        "-protocol_whitelist", "file,udp,rtp", "-i", sdp, "-f", "s16le", "-ac", "2", "-ar", "48000", "pipe:1"},
                                       -1, from_receiver[1]);
    ::close(from_receiver[1]);
    if (!test::wait_udp_bound(port)) {
        std::fprintf(stderr, "ffmpeg did not bind port %u\n", port);
        return 1;
    }
    std::vector<std::string> send = {"ffmpeg", "-loglevel", "error", "-f", "s16le", "-ar", "48000", "-ac", "2", "-i", "pipe:0"};
    if (o.codec == "opus") send.insert(send.end(), {"-c:a", "libopus", "-b:a", "128k", "-frame_duration", "10", "-application", "lowdelay"});
    else send.insert(send.end(), {"-c:a", "pcm_s16be"});
    send.insert(send.end(), {"-flush_packets", "1", "-f", "rtp", "rtp://127.0.0.1:" + std::to_string(relay.port())});
    const pid_t sender = spawn_piped(send, to_sender[0], -1);
    ::close(to_sender[0]);
    timeline t;
    std::atomic<bool> stop{false};
    std::thread capture([&] {
        std::vector<std::int16_t> buffer(2 * 240);
        std::uint64_t quiet = 0;
        while (!stop.load()) {
            const ssize_t got = ::read(from_receiver[0], buffer.data(), buffer.size() * 2);
            if (got <= 0) break;
            const double at = now_s();
            for (ssize_t i = 0; i + 1 < got / 2; i += 2) {
                if (std::abs(buffer[static_cast<std::size_t>(i)]) > 0.2 * 32768 && quiet > 4800) {
                    const std::lock_guard lock(t.mutex);
                    t.read.push_back(at);
                    quiet = 0;
                }
                ++quiet;
            }
        }
    });
    // Real time: 2.5 ms of raw audio every 2.5 ms.
    std::uint64_t written = 0;
    const double start = now_s();
    std::vector<std::int16_t> chunk(2 * 120);
    while (now_s() < start + o.seconds) {
        const double due = start + static_cast<double>(written) / 48000;
        while (now_s() < due) std::this_thread::sleep_for(std::chrono::microseconds(200));
        const double at = now_s();
        for (std::size_t i = 0; i < 120; ++i) chunk[2 * i] = chunk[2 * i + 1] = static_cast<std::int16_t>(marker_sample(written + i) * 32767);
        if (written % marker_every == 0) {
            const std::lock_guard lock(t.mutex);
            t.written.push_back(at);
        }
        if (::write(to_sender[1], chunk.data(), chunk.size() * 2) < 0) break;
        written += 120;
    }
    ::close(to_sender[1]);
    ::kill(receiver, SIGTERM);
    stop.store(true);
    ::waitpid(sender, nullptr, 0);
    capture.join();
    ::waitpid(receiver, nullptr, 0);
    ::close(from_receiver[0]);
    std::remove(sdp.c_str());
    report("ffmpeg", o, t);
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
        else if (a == "--ffmpeg") o.ffmpeg = true;
        else {
            std::fprintf(stderr, "unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    return o.ffmpeg ? run_ffmpeg(o) : run_openae(o);
}
