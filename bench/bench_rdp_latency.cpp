// How well the RDP speakers' position record predicts when a frame is heard: an engine writes a
// marker (5 ms of a 1 kHz tone) every 500 ms into a render endpoint on `rdp`, served by openae's
// RDP server to xfreerdp under Xvfb, which plays into a private PulseAudio (tests/pipeline/
// rdp_rig.h); parec reads the null sink's monitor as it plays (5 ms of latency). For each marker,
// the position record read in the pass that wrote it predicts the time its first frame is heard
// (record.time + (frame - record.device_position) / rate); the onset parec delivers is when it was.
//
//   ./build/release/bench/bench_rdp_latency [--seconds S] [--block MS] [--period MS]
#include "onset_listener.h"
#include "test_engine.h"

#include <openae/pipeline/devices.h>
#include <openae/pipeline/rdp.h>
#include <openae/rt/monotonic_clock.h>



#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <numbers>
#include <string>
#include <thread>
#include <vector>

using namespace ae;

namespace {

constexpr std::uint32_t rate = 48000;
constexpr std::uint64_t marker_every = rate / 2;  // 500 ms
constexpr std::uint64_t marker_frames = rate / 200; // 5 ms

using ae::bench::now_s;
using ae::bench::process_cpu_s;

float marker(std::uint64_t n) {
    const std::uint64_t in = n % marker_every;
    return in < marker_frames ? static_cast<float>(0.8 * std::sin(2 * std::numbers::pi * 1000 * static_cast<double>(in) / rate)) : 0.0f;
}

struct sample_set {
    std::vector<double> values;
    void add(double v) { values.push_back(v); }
    double at(double q) {
        if (values.empty()) return 0;
        std::sort(values.begin(), values.end());
        return values[static_cast<std::size_t>(q * static_cast<double>(values.size() - 1))];
    }
};

} // namespace

int main(int argc, char** argv) {
    double seconds = 20, block_ms = 20, period_ms = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--seconds") seconds = std::atof(argv[i + 1]);
        else if (a == "--block") block_ms = std::atof(argv[i + 1]);
        else if (a == "--period") period_ms = std::atof(argv[i + 1]);
    }
    const std::string state = "/tmp/openae-bench-rdp-" + std::to_string(::getpid());
    pipeline::rdp_server_options options;
    options.port = 0; // any free port: the server says which
    options.state_dir = state;
    auto server = pipeline::rdp_server::start(options);
    if (!server) {
        std::fprintf(stderr, "%s\n", server.error().message.c_str());
        return 1;
    }
    std::mutex mutex;
    std::condition_variable changed;
    std::string speakers;
    pipeline::rdp_session_watch watch([&](bool added, const std::string& spec, bool render) {
        const std::lock_guard lock(mutex);
        if (render && added) speakers = spec;
        changed.notify_all();
    });
    test::rdp_client_rig client((*server)->port(), true);
    {
        std::unique_lock lock(mutex);
        changed.wait_for(lock, std::chrono::seconds(30), [&] { return !speakers.empty(); });
    }
    if (!client.ready() || speakers.empty()) {
        std::fprintf(stderr, "no client: %s\n", client.log("xfreerdp.log").c_str());
        return 1;
    }
    // What the client plays, onsets timed as parec delivers them.
    bench::onset_listener listener(client.live_fd());
    const std::string spec = speakers + "?block=" + std::to_string(block_ms) + "&period=" + std::to_string(period_ms);
    struct written_marker {
        double written;   // the pass that wrote it
        double predicted; // when the record said its first frame would be heard
    };
    std::vector<written_marker> markers;
    double device_latency_ms = 0;
    double cpu_share = 0; // of one core, this process: the session's server side, the engine and the listener
    {
        auto dev = pipeline::make_device(spec, endpoint_direction::render);
        if (!dev) {
            std::fprintf(stderr, "%s\n", dev.error().message.c_str());
            return 1;
        }
        const std::uint32_t period = (*dev)->period_frames();
        auto thread = std::move(*pipeline::device_thread::create(std::move(*dev), {.realtime_priority = 0}));
        struct {
            render_endpoint_core endpoint{1};
            test::event_fd wake;
        } out;
        (void)out.endpoint.set_buffer({rate, 2, sample_type::f32}, period, 2ull * period);
        (void)out.endpoint.set_event_handle(out.wake.get());
        (void)thread->control().attach(out.endpoint);
        (void)thread->start();
        std::uint64_t written = 0;
        (void)out.endpoint.start();
        const double started = now_s();
        const double cpu_before = process_cpu_s();
        const double end = now_s() + seconds;
        std::vector<std::uint64_t> pending; // markers written whose prediction waits for a valid record
        while (now_s() < end) {
            const std::uint64_t before = written;
            const double at = now_s();
            (void)test::render_pass(out.endpoint.rt(), written, ~std::uint64_t{0}, [](std::uint64_t n, float* f) { f[0] = f[1] = marker(n); });
            for (std::uint64_t n = (before + marker_every - 1) / marker_every * marker_every; n < written; n += marker_every) {
                markers.push_back({at, 0});
                pending.push_back(n);
            }
            position record{};
            (void)out.endpoint.rt().current_padding(&record);
            if (record.flags != position_flags::invalid && record.device_position > 0) {
                for (std::size_t i = 0; i < pending.size(); ++i) {
                    const double frames_ahead = static_cast<double>(pending[i]) - static_cast<double>(record.device_position);
                    markers[markers.size() - pending.size() + i].predicted = static_cast<double>(record.time.count()) * 1e-7 + frames_ahead / rate;
                }
                pending.clear();
            }
            (void)out.wake.wait(50);
        }
        cpu_share = (process_cpu_s() - cpu_before) / (now_s() - started);
        device_latency_ms = static_cast<double>(thread->dev().latency().count()) / 1e4;
        thread->stop();
    }
    client.stop_client();
    listener.finish();
    const std::vector<double> onsets = listener.onsets();
    sample_set error, mouth_to_ear;
    for (const auto& m : markers) {
        if (m.predicted == 0) continue;
        // The onset heard soonest after the marker was written (within 1 s).
        double heard = -1;
        for (const double o : onsets) {
            if (o > m.written && o - m.written < 1.0) {
                heard = o;
                break;
            }
        }
        if (heard < 0 || m.written < markers.front().written + 2) continue; // the first 2 s: start-up
        error.add((heard - m.predicted) * 1000);
        mouth_to_ear.add((heard - m.written) * 1000);
    }
    const std::size_t n = error.values.size();
    std::printf("rdp speakers, block %.0f ms, period %.0f ms, %.0f s: %zu markers written, %zu heard and predicted after 2 s\n", block_ms, period_ms,
                seconds, markers.size(), n);
    std::printf("  heard - predicted (ms): min %.2f median %.2f p95 %.2f max %.2f\n", error.at(0), error.at(0.5), error.at(0.95), error.at(1));
    std::printf("  engine pass -> heard (ms): min %.2f median %.2f p95 %.2f max %.2f; the device's latency says %.1f ms\n", mouth_to_ear.at(0),
                mouth_to_ear.at(0.5), mouth_to_ear.at(0.95), mouth_to_ear.at(1), device_latency_ms);
    std::printf("  CPU of this process (the session's server side: FreeRDP's threads and openae's, plus the bench's engine and\n"
                "  its parec reader): %.2f %% of a core -> at most %.0f sessions per core (render only, PCM, %.0f ms blocks)\n",
                cpu_share * 100, cpu_share > 0 ? 1 / cpu_share : 0.0, block_ms);
    std::error_code ec;
    std::filesystem::remove_all(state, ec);
    return n > 0 ? 0 : 1;
}
