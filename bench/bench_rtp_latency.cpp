// Mouth-to-ear latency of an RTP stream over loopback: an engine writes a marker (2.5 ms of a
// 1 kHz tone) into a render endpoint on an `rtp:` sender every 250 ms; a second engine reads a
// capture endpoint on an `rtp:` receiver; the latency is from the sending engine's pass that wrote
// the marker to the receiving engine's pass that read its onset. Packets go through a UDP relay
// (tests/pipeline/udp_relay.h) that adds seeded loss and jitter.
// `--peer ffmpeg` measures the reference the same way: one ffmpeg reads s16 frames from a pipe
// (written every period, as the engine's passes would) and sends RTP; another receives it through
// an SDP and writes s16 frames to a pipe, read as they come; the latency is from the write of the
// marker's period to the read that holds its onset. ffmpeg has no jitter buffer to set: what it
// adds is its own (the raw PCM demuxer reads 1,024-frame packets, so a marker waits for the rest
// of its packet).
//
//   ./build/release/bench/bench_rtp_latency [--peer openae|ffmpeg] [--codec l16|opus] [--ptime MS]
//       [--period MS] [--latency MS] [--loss P] [--jitter MS] [--seconds S] [--settle S]
// Markers written in the first --settle seconds (2) are not counted: both peers start up then.
#include "test_engine.h"
#include "udp_ports.h"
#include "udp_relay.h"

#include <openae/pipeline/devices.h>
#include <openae/pipeline/rtp_device.h>
#include <openae/rt/monotonic_clock.h>


#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
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
    std::string peer = "openae";
    std::string codec = "l16";
    double ptime = 2.5, period = 2.5, latency = 10, loss = 0, jitter = 0, seconds = 10, settle = 2;
};

constexpr std::uint64_t marker_every = 12000; // 250 ms
constexpr std::uint64_t marker_frames = 120;  // 2.5 ms

float marker_sample(std::uint64_t n) {
    const std::uint64_t in = n % marker_every;
    return in < marker_frames ? static_cast<float>(0.8 * std::sin(2 * std::numbers::pi * 1000 * static_cast<double>(in) / 48000)) : 0.0f;
}

struct timeline {
    std::mutex mutex;
    double settled = 0; // markers written before this (start-up: the first --settle seconds) are not counted
    std::vector<double> written; // seconds, by marker index
    std::vector<double> read;    // onsets seen
};

void report(const char* what, const options& o, timeline& t) {
    std::vector<double> latencies;
    for (const double r : t.read) {
        // The most recent marker written before the onset.
        double best = -1;
        for (const double w : t.written) {
            if (w <= r && r - w < 0.2) best = w < t.settled ? -1 : r - w;
        }
        if (best >= 0) latencies.push_back(best * 1000);
    }
    if (std::getenv("BENCH_VERBOSE")) for (const double l : latencies) std::printf("%.2f ", l);
    std::sort(latencies.begin(), latencies.end());
    const auto at = [&](double q) { return latencies.empty() ? 0.0 : latencies[static_cast<std::size_t>(q * static_cast<double>(latencies.size() - 1))]; };
    std::printf("%-7s codec=%s ptime=%.1f period=%.1f latency=%.0f loss=%.0f%% jitter=%.0fms: markers %zu written, after %.0f s %zu heard; ms median %.2f p95 %.2f max %.2f min %.2f\n",
                what, o.codec.c_str(), o.ptime, o.period, o.latency, o.loss * 100, o.jitter, t.written.size(), o.settle, latencies.size(), at(0.5), at(0.95),
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
    t.settled = now_s() + o.settle;
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

// A child with one end of a pipe as its stdin (`feed`) or stdout (`drain`); the other end is ours.
struct child {
    pid_t pid = -1;
    int fd = -1;
};

child spawn_piped(std::vector<std::string> args, bool feed) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) return {};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        ::dup2(feed ? ends[0] : ends[1], feed ? 0 : 1);
        if (feed) { // ffmpeg prints the stream's SDP on stdout
            const int null = ::open("/dev/null", O_WRONLY);
            ::dup2(null, 1);
        }
        ::execvp(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(feed ? ends[0] : ends[1]);
    return {pid, feed ? ends[1] : ends[0]};
}

int run_ffmpeg(const options& o) {
    const std::uint16_t port = test::free_port_pair();
    test::udp_relay relay(port, {.loss = o.loss, .duplicate = 0, .delay_ms = 0, .jitter_ms = o.jitter, .seed = 1});
    const bool opus = o.codec == "opus";
    const std::string sdp_path = "/tmp/openae-bench-ffmpeg-" + std::to_string(::getpid()) + ".sdp";
    {
        std::FILE* sdp = std::fopen(sdp_path.c_str(), "w");
        if (!sdp) return 1;
        std::fprintf(sdp, "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=bench\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio %u RTP/AVP 97\na=rtpmap:97 %s/48000/2\n",
                     static_cast<unsigned>(port), opus ? "opus" : "L16");
        std::fclose(sdp);
    }
    child rx = spawn_piped({"timeout", std::to_string(static_cast<int>(o.seconds) + 30), "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                            "-protocol_whitelist", "file,udp,rtp", "-fflags", "nobuffer", "-i", sdp_path, "-f", "s16le", "-ar", "48000", "-ac", "2",
                            "-flush_packets", "1", "pipe:1"},
                           false);
    std::vector<std::string> tx_args = {"timeout", std::to_string(static_cast<int>(o.seconds) + 30), "ffmpeg", "-hide_banner", "-loglevel", "error",
                                        "-f", "s16le", "-ar", "48000", "-ac", "2", "-i", "pipe:0"};
    if (opus) {
        for (const char* a : {"-c:a", "libopus", "-b:a", "128k", "-application", "lowdelay", "-frame_duration"}) tx_args.emplace_back(a);
        tx_args.push_back(std::to_string(o.ptime));
    } else {
        for (const char* a : {"-c:a", "pcm_s16be"}) tx_args.emplace_back(a);
    }
    for (const char* a : {"-payload_type", "97", "-f", "rtp"}) tx_args.emplace_back(a);
    tx_args.push_back("rtp://127.0.0.1:" + std::to_string(relay.port()));
    child tx = spawn_piped(tx_args, true);
    if (rx.pid < 0 || tx.pid < 0) return 1;
    timeline t;
    std::thread capture([&] {
        std::vector<std::int16_t> samples(8192);
        std::size_t carry = 0; // bytes of a partial frame kept from the last read
        std::uint64_t quiet = 0;
        for (;;) {
            const ssize_t got = ::read(rx.fd, reinterpret_cast<char*>(samples.data()) + carry, samples.size() * 2 - carry);
            if (got <= 0) break;
            const double at = now_s();
            const std::size_t bytes = carry + static_cast<std::size_t>(got);
            for (std::size_t frame = 0; frame < bytes / 4; ++frame) {
                if (std::abs(samples[frame * 2]) > 6553 && quiet > 4800) {
                    const std::lock_guard lock(t.mutex);
                    t.read.push_back(at);
                    quiet = 0;
                }
                ++quiet;
            }
            carry = bytes % 4;
            std::memmove(samples.data(), reinterpret_cast<char*>(samples.data()) + bytes - carry, carry);
        }
    });
    const auto period_frames = static_cast<std::uint64_t>(std::lround(o.period * 48));
    std::vector<std::int16_t> block(period_frames * 2);
    std::uint64_t written = 0;
    const double start = now_s();
    t.settled = start + o.settle;
    while (written < static_cast<std::uint64_t>(o.seconds * 48000)) {
        for (std::uint64_t n = 0; n < period_frames; ++n) {
            block[n * 2] = block[n * 2 + 1] = static_cast<std::int16_t>(std::lround(marker_sample(written + n) * 32767));
            if ((written + n) % marker_every == 0) {
                const std::lock_guard lock(t.mutex);
                t.written.push_back(now_s());
            }
        }
        if (::write(tx.fd, block.data(), block.size() * 2) != static_cast<ssize_t>(block.size() * 2)) break;
        written += period_frames;
        const double due = start + static_cast<double>(written) / 48000;
        const double wait = due - now_s();
        if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    }
    // Let the last markers through, then end both.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ::close(tx.fd);
    ::kill(rx.pid, SIGTERM);
    capture.join();
    ::close(rx.fd);
    ::kill(tx.pid, SIGTERM);
    ::waitpid(tx.pid, nullptr, 0);
    ::waitpid(rx.pid, nullptr, 0);
    std::remove(sdp_path.c_str());
    report("ffmpeg", o, t);
    std::printf("        relay dropped %llu\n", static_cast<unsigned long long>(relay.dropped()));
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--peer") o.peer = next();
        else if (a == "--codec") o.codec = next();
        else if (a == "--ptime") o.ptime = std::atof(next().c_str());
        else if (a == "--period") o.period = std::atof(next().c_str());
        else if (a == "--latency") o.latency = std::atof(next().c_str());
        else if (a == "--loss") o.loss = std::atof(next().c_str());
        else if (a == "--jitter") o.jitter = std::atof(next().c_str());
        else if (a == "--seconds") o.seconds = std::atof(next().c_str());
        else if (a == "--settle") o.settle = std::atof(next().c_str());
        else {
            std::fprintf(stderr, "unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    if (o.peer == "ffmpeg") return run_ffmpeg(o);
    return run_openae(o);
}
