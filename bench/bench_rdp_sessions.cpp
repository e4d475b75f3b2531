// Sessions per core: N xfreerdp clients (each with its own Xvfb and PulseAudio, tests/pipeline/
// rdp_rig.h) connected to openae's RDP server at once; for each, a render endpoint playing a tone
// to its speakers and a capture endpoint recording its microphone, through one ae::context, served
// by one engine thread. The CPU of this process (openae's threads, FreeRDP's server threads and
// the engine's) over the run, per session; and what openae adds on the speakers' side: from the
// device loop handing a block's first frame over until the block is sent (rdp_session_info).
//
//   ./build/release/bench/bench_rdp_sessions [--sessions N] [--seconds S] [--block MS]
#include "process_clock.h"
#include "rdp_rig.h"
#include "test_engine.h"

#include <openae/control/context.h>
#include <openae/pipeline/rdp.h>
#include <openae/rt/monotonic_clock.h>


#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <numbers>
#include <set>
#include <string>
#include <vector>

using namespace ae;

using ae::bench::now_s;
using ae::bench::process_cpu_s;

int main(int argc, char** argv) {
    int sessions = 4;
    double seconds = 30, block_ms = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--sessions") sessions = std::atoi(argv[i + 1]);
        else if (a == "--seconds") seconds = std::atof(argv[i + 1]);
        else if (a == "--block") block_ms = std::atof(argv[i + 1]);
    }
    const std::string state = "/tmp/openae-bench-rdp-sessions-" + std::to_string(::getpid());
    pipeline::rdp_server_options options;
    options.port = 0;
    options.state_dir = state;
    auto server = pipeline::rdp_server::start(options);
    if (!server) {
        std::fprintf(stderr, "%s\n", server.error().message.c_str());
        return 1;
    }
    // A session counts once both its speakers and its microphone are up.
    std::mutex mutex;
    std::condition_variable changed;
    std::set<std::string> with_speakers, with_microphone;
    pipeline::rdp_session_watch watch([&](bool added, const std::string& spec, bool render) {
        const std::lock_guard lock(mutex);
        if (added) (render ? with_speakers : with_microphone).insert(spec);
        changed.notify_all();
    });
    std::vector<std::unique_ptr<test::rdp_client_rig>> clients;
    for (int i = 0; i < sessions; ++i) {
        clients.push_back(std::make_unique<test::rdp_client_rig>((*server)->port()));
        if (!clients.back()->ready()) {
            std::fprintf(stderr, "client %d did not start\n", i);
            return 1;
        }
    }
    std::vector<std::string> specs;
    {
        std::unique_lock lock(mutex);
        changed.wait_for(lock, std::chrono::seconds(60), [&] {
            std::size_t both = 0;
            for (const auto& s : with_speakers) both += with_microphone.contains(s);
            return both == static_cast<std::size_t>(sessions);
        });
        for (const auto& s : with_speakers) {
            if (with_microphone.contains(s)) specs.push_back(s);
        }
    }
    if (specs.size() != static_cast<std::size_t>(sessions)) {
        std::fprintf(stderr, "%zu of %d sessions came up with speakers and a microphone\n", specs.size(), sessions);
        return 1;
    }

    ae::context_options context_options;
    context_options.default_device = "null";
    context_options.log_level = "error";
    test::event_fd wake; // every endpoint signals it: the engine's one wait point
    ae::context ctx(context_options);
    std::vector<render_endpoint> speakers;
    std::vector<capture_endpoint> microphones;
    for (const auto& spec : specs) {
        endpoint_config config;
        config.device = spec + "?block=" + std::to_string(block_ms);
        config.period = hns{100'000};
        config.name = "speakers-" + spec.substr(4);
        auto out = ctx.create_render_endpoint(config);
        config.device = spec;
        config.name = "microphone-" + spec.substr(4);
        auto in = ctx.create_capture_endpoint(config);
        if (!out || !in) {
            std::fprintf(stderr, "%s: %s\n", spec.c_str(), (!out ? out.error() : in.error()).message().c_str());
            return 1;
        }
        (void)out->set_event_handle(wake.get());
        (void)in->set_event_handle(wake.get());
        (void)out->start();
        (void)in->start();
        speakers.push_back(std::move(*out));
        microphones.push_back(std::move(*in));
    }
    std::vector<std::uint64_t> written(specs.size()), read(specs.size());
    const double started = now_s();
    const double cpu_before = process_cpu_s();
    while (now_s() < started + seconds) {
        for (std::size_t i = 0; i < specs.size(); ++i) {
            (void)test::render_pass(speakers[i].rt(), written[i], ~std::uint64_t{0}, [](std::uint64_t n, float* f) {
                f[0] = f[1] = static_cast<float>(0.25 * std::sin(2 * std::numbers::pi * 440 * static_cast<double>(n) / 48000));
            });
            (void)test::capture_pass(microphones[i].rt(), read[i], [](std::uint64_t, const float*) {});
        }
        (void)wake.wait(50);
    }
    const double elapsed = now_s() - started;
    const double cpu = process_cpu_s() - cpu_before;
    std::printf("rdp sessions: %d at once, render + capture each (PCM, %.0f ms blocks, 10 ms periods), %.0f s\n", sessions, block_ms, elapsed);
    for (const auto& info : pipeline::rdp_sessions()) {
        std::printf("  session %s: speakers %u Hz, %llu blocks sent, %llu dropped, round trip %.2f ms, client delay %.0f ms, "
                    "hold (device loop -> sent) mean %.2f max %.2f ms; microphone %u Hz, %llu frames received, %llu short\n",
                    info.id.c_str(), info.speakers_rate, static_cast<unsigned long long>(info.blocks_sent),
                    static_cast<unsigned long long>(info.blocks_dropped), info.round_trip_ms, info.client_delay_ms, info.hold_ms_mean,
                    info.hold_ms_max, info.microphone_rate, static_cast<unsigned long long>(info.microphone_frames),
                    static_cast<unsigned long long>(info.microphone_short_frames));
    }
    for (std::size_t i = 0; i < specs.size(); ++i) {
        const auto out = speakers[i].stats();
        const auto in = microphones[i].stats();
        std::uint64_t out_glitches = 0, in_glitches = 0;
        for (const auto n : out ? out->glitch_frames : decltype(out->glitch_frames){}) out_glitches += n;
        for (const auto n : in ? in->glitch_frames : decltype(in->glitch_frames){}) in_glitches += n;
        std::printf("  %s: %llu frames written, %llu glitch frames; %llu frames read, %llu glitch frames\n", specs[i].c_str(),
                    static_cast<unsigned long long>(written[i]), static_cast<unsigned long long>(out_glitches),
                    static_cast<unsigned long long>(read[i]), static_cast<unsigned long long>(in_glitches));
    }
    std::printf("  CPU of this process: %.2f %% of a core in all, %.2f %% per session -> at most %.0f sessions per core\n",
                cpu / elapsed * 100, cpu / elapsed * 100 / sessions, cpu > 0 ? elapsed * sessions / cpu : 0.0);
    speakers.clear();
    microphones.clear();
    clients.clear();
    std::error_code ec;
    std::filesystem::remove_all(state, ec);
    return 0;
}
