// The delay of RDP desktop audio over a long run: a desktop application (a PipeWire stream of the
// bench's own) plays a marker — 5 ms of a 1 kHz tone every 500 ms — into an RDP session's sink
// `openae-rdp-ID` (context_options::rdp_desktop_audio: a virtual PipeWire sink bridged to the
// session's speakers with drift control), served by openae's RDP server to xfreerdp, which plays
// into a private PulseAudio; parec reads the null sink's monitor as it plays (5 ms of latency). For
// each marker: from the application's process cycle that wrote its first frame to the onset parec
// delivers. The delay at the start (seconds 5 to 35) against the end (the last 30 s), the bridge's
// queue against the level it holds, and the time from a session's connection to its sink.
// PipeWire (tests/data/pipewire/peer.sh) and the client (tests/pipeline/rdp_rig.h) are the tests'.
//
//   ./build/release/bench/bench_desktop_delay [--seconds S]
#include "bench_asserts.h" // first: the rigs' REQUIREs, outside a test case

#include "pipewire_server.h"
#include "onset_listener.h"

#include <openae/control/context.h>
#include <openae/pipeline/rdp.h>
#include <openae/rt/monotonic_clock.h>

#include <pipewire/pipewire.h>
#include <spa/param/audio/format-utils.h>

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
using ae::bench::now_s;

namespace {

constexpr std::uint32_t rate = 48000;
constexpr std::uint64_t marker_every = rate / 2;   // 500 ms
constexpr std::uint64_t marker_frames = rate / 200; // 5 ms

// The desktop application: a playback stream into `target`, on PipeWire's data thread.
class marker_player {
public:
    explicit marker_player(const std::string& target) {
        pw_init(nullptr, nullptr);
        loop_ = pw_thread_loop_new("bench-player", nullptr);
        pw_thread_loop_lock(loop_);
        pw_properties* props = pw_properties_new(PW_KEY_MEDIA_TYPE, "Audio", PW_KEY_MEDIA_CATEGORY, "Playback", PW_KEY_NODE_NAME, "bench-player",
                                                 PW_KEY_TARGET_OBJECT, target.c_str(), PW_KEY_NODE_LATENCY, "256/48000", nullptr);
        events_.version = PW_VERSION_STREAM_EVENTS;
        events_.process = [](void* self) { static_cast<marker_player*>(self)->process(); };
        stream_ = pw_stream_new_simple(pw_thread_loop_get_loop(loop_), "bench-player", props, &events_, this);
        std::uint8_t memory[512];
        spa_pod_builder builder{};
        spa_pod_builder_init(&builder, memory, sizeof memory);
        spa_audio_info_raw info{};
        info.format = SPA_AUDIO_FORMAT_F32;
        info.rate = rate;
        info.channels = 2;
        info.position[0] = SPA_AUDIO_CHANNEL_FL;
        info.position[1] = SPA_AUDIO_CHANNEL_FR;
        const spa_pod* params[1] = {spa_format_audio_raw_build(&builder, SPA_PARAM_EnumFormat, &info)};
        const auto flags = static_cast<pw_stream_flags>(PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS | PW_STREAM_FLAG_RT_PROCESS);
        (void)pw_stream_connect(stream_, PW_DIRECTION_OUTPUT, PW_ID_ANY, flags, params, 1);
        pw_thread_loop_unlock(loop_);
        (void)pw_thread_loop_start(loop_);
    }
    ~marker_player() {
        pw_thread_loop_lock(loop_);
        pw_stream_destroy(stream_);
        pw_thread_loop_unlock(loop_);
        pw_thread_loop_stop(loop_);
        pw_thread_loop_destroy(loop_);
    }
    marker_player(const marker_player&) = delete;
    marker_player& operator=(const marker_player&) = delete;

    // When each marker's first frame was handed to the graph (seconds, monotonic).
    std::vector<double> written() {
        const std::lock_guard lock(mutex_);
        return written_;
    }

private:
    void process() {
        pw_buffer* buffer = pw_stream_dequeue_buffer(stream_);
        if (buffer == nullptr) return;
        const double at = now_s();
        spa_data& data = buffer->buffer->datas[0];
        auto* samples = static_cast<float*>(data.data);
        const std::uint32_t n = std::min<std::uint32_t>(data.maxsize / 8, buffer->requested != 0 ? static_cast<std::uint32_t>(buffer->requested) : 256);
        for (std::uint32_t i = 0; i < n; ++i, ++frame_) {
            const std::uint64_t in = frame_ % marker_every;
            const float v = in < marker_frames ? static_cast<float>(0.8 * std::sin(2 * std::numbers::pi * 1000 * static_cast<double>(in) / rate)) : 0.0f;
            samples[2 * i] = samples[2 * i + 1] = v;
            if (in == 0) {
                const std::lock_guard lock(mutex_); // the bench's own stream: not openae's RT path
                written_.push_back(at + static_cast<double>(i) / rate);
            }
        }
        data.chunk->offset = 0;
        data.chunk->stride = 8;
        data.chunk->size = n * 8;
        pw_stream_queue_buffer(stream_, buffer);
    }

    pw_thread_loop* loop_ = nullptr;
    pw_stream* stream_ = nullptr;
    pw_stream_events events_{};
    std::uint64_t frame_ = 0;
    std::mutex mutex_;
    std::vector<double> written_;
};

double quantile(std::vector<double> values, double q) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    return values[static_cast<std::size_t>(q * static_cast<double>(values.size() - 1))];
}

} // namespace

int main(int argc, char** argv) {
    doctest::Context doctest_context;
    ae::bench::report_failed_asserts(doctest_context);
    double seconds = 60;
    bool trace = false;
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
        if (std::string(argv[i]) == "--trace") trace = true;
    }
    seconds = std::max(seconds, 70.0);
    test::pipewire_server pipewire("bench");
    const std::string state = "/tmp/openae-bench-desk-" + std::to_string(::getpid());
    auto server = pipeline::rdp_server::start({.address = "127.0.0.1", .port = 0, .state_dir = state});
    if (!server) {
        std::fprintf(stderr, "%s\n", server.error().message.c_str());
        return 1;
    }
    std::mutex mutex;
    double session_at = 0;
    pipeline::rdp_session_watch watch([&](bool added, const std::string&, bool render) {
        const std::lock_guard lock(mutex);
        if (added && render && session_at == 0) session_at = now_s();
    });
    context_options options;
    options.default_device = "null";
    options.log_level = "warn";
    options.rdp_desktop_audio.enabled = true;
    context ctx(options);

    const double client_started = now_s();
    test::rdp_client_rig client((*server)->port(), true);
    std::vector<bridge_status> bridges;
    for (int i = 0; i < 4000 && (bridges = ctx.bridges()).empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const double sink_at = now_s();
    const auto sessions = pipeline::rdp_sessions();
    if (!client.ready() || bridges.empty() || sessions.empty()) {
        std::fprintf(stderr, "no session's sink: %s\n", client.log("xfreerdp.log").c_str());
        return 1;
    }
    const std::string sink = "openae-rdp-" + sessions[0].id;

    bench::onset_listener listener(client.live_fd());

    // The bridge's queue against the level it holds, each second once it holds one.
    double worst_queue_off = 0, worst_average_off = 0, client_delay_ms = 0;
    std::vector<double> written;
    // The RDP device's own pace against this machine's clock: the blocks it sent from 10 s on.
    double sent_from_at = 0, sent_to_at = 0, sent_rate = 0;
    std::uint64_t sent_from = 0, sent_to = 0, refused_blocks = 0;
    double final_pace_ppm = 0;
    {
        marker_player player(sink);
        const double started = now_s();
        while (now_s() < started + seconds) {
            std::this_thread::sleep_for(std::chrono::seconds(1)); // the bench's own pace
            for (const auto& s : pipeline::rdp_sessions()) {
                if (s.speakers_rate == 0) continue;
                sent_rate = s.speakers_rate;
                if (sent_from_at == 0 && now_s() >= started + 10) sent_from_at = now_s(), sent_from = s.blocks_sent;
                sent_to_at = now_s();
                sent_to = s.blocks_sent;
            }
            for (const auto& b : ctx.bridges()) {
                if (trace && b.name == sink) {
                    const auto figures = pipeline::rdp_sessions();
                    std::printf("  t=%5.1f s  queue %6.2f avg %6.2f holds %6.2f ms  drift %+7.1f ppm  raises %llu  in %llu out %llu  render underruns %llu"
                                "  rdp pace %+7.1f ppm, client queue %.1f ms (target %.1f)  client plays %+7.1f ppm, refused %llu\n",
                                now_s() - started, b.queue_ms, b.average_ms, b.target_ms, b.drift_ppm, static_cast<unsigned long long>(b.raises),
                                static_cast<unsigned long long>(b.frames_in), static_cast<unsigned long long>(b.frames_out),
                                static_cast<unsigned long long>(b.render.glitch_count[static_cast<std::size_t>(glitch_kind::underrun)]),
                                figures.empty() ? 0.0 : figures[0].speakers_pace_ppm, figures.empty() ? 0.0 : figures[0].client_delay_ms,
                                figures.empty() ? 0.0 : figures[0].client_queue_target_ms, listener.played_rate_ppm(),
                                figures.empty() ? 0ull : static_cast<unsigned long long>(figures[0].client_refused_blocks));
                }
                if (b.name != sink || b.target_ms == 0 || now_s() < started + 5) continue;
                worst_queue_off = std::max(worst_queue_off, std::abs(b.queue_ms - b.target_ms));
                worst_average_off = std::max(worst_average_off, std::abs(b.average_ms - b.target_ms));
            }
        }
        written = player.written();
        for (const auto& s : pipeline::rdp_sessions()) {
            client_delay_ms = s.client_delay_ms;
            refused_blocks = s.client_refused_blocks;
            final_pace_ppm = s.speakers_pace_ppm;
        }
    }
    const auto final_status = ctx.bridges();
    client.stop_client();
    listener.finish();
    const std::vector<double> onsets = listener.onsets();

    std::vector<double> first, last;
    const double begin = written.empty() ? 0 : written.front();
    for (const double w : written) {
        double heard = -1;
        for (const double o : onsets) {
            if (o > w && o - w < 2.0) {
                heard = o;
                break;
            }
        }
        if (heard < 0) continue;
        const double delay_ms = (heard - w) * 1000;
        if (w >= begin + 5 && w < begin + 35) first.push_back(delay_ms);
        if (w >= begin + seconds - 30) last.push_back(delay_ms);
    }
    std::printf("rdp desktop audio, %.0f s of markers into %s (%zu written, %zu + %zu heard in the two windows)\n", seconds, sink.c_str(),
                written.size(), first.size(), last.size());
    std::printf("  session connected -> its sink made: %.3f s (client started -> sink: %.3f s)\n", sink_at - session_at, sink_at - client_started);
    std::printf("  application -> client's speaker, s 5-35:   min %.2f median %.2f p95 %.2f max %.2f ms\n", quantile(first, 0), quantile(first, 0.5),
                quantile(first, 0.95), quantile(first, 1));
    std::printf("  application -> client's speaker, last 30 s: min %.2f median %.2f p95 %.2f max %.2f ms\n", quantile(last, 0), quantile(last, 0.5),
                quantile(last, 0.95), quantile(last, 1));
    std::printf("  growth of the median: %+.2f ms; the client's own reported delay (send -> heard): %.1f ms\n",
                quantile(last, 0.5) - quantile(first, 0.5), client_delay_ms);
    // Both against CLOCK_MONOTONIC: which side of the RDP link runs off nominal.
    const double block_frames = std::round(sent_rate * 0.02);
    std::printf("  from 10 s on: openae sent %+.1f ppm off nominal, the client played %+.1f ppm off (parec's frames at %u Hz)\n",
                sent_to_at > sent_from_at && sent_rate > 0
                    ? (static_cast<double>(sent_to - sent_from) * block_frames / ((sent_to_at - sent_from_at) * sent_rate) - 1) * 1e6
                    : 0.0,
                listener.played_rate_ppm(), test::rdp_client_rig::played_rate);
    std::printf("  the RDP speakers at the end: pace %+.1f ppm; blocks the client refused (confirmed at once, never played): %llu\n", final_pace_ppm,
                static_cast<unsigned long long>(refused_blocks));
    for (const auto& b : final_status) {
        if (b.name != sink) continue;
        std::printf("  bridge: queue %.2f ms, holds %.2f, drift %+.1f ppm, latency %.1f ms, raises %llu; worst |queue - held| %.2f ms, |2 s average - held| %.2f ms\n",
                    b.average_ms, b.target_ms, b.drift_ppm, static_cast<double>(b.latency.count()) / 1e4, static_cast<unsigned long long>(b.raises),
                    worst_queue_off, worst_average_off);
    }
    std::error_code ec;
    std::filesystem::remove_all(state, ec);
    return first.empty() || last.empty() ? 1 : 0;
}
