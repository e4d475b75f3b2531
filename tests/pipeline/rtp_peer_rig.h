// The RTP peer tests' shared signals and rigs: the exact L16 signal (a counting marker and a sine),
// two tones for Opus, WAV files in and out, the walk that finds every lost or repeated frame, and an
// openae-to-openae loopback run. Bounded: every loop has a pass limit.
#pragma once

#include "jack_server.h" // spawn_server, wait_exit
#include "peer_rig.h"
#include "scratch.h"
#include "udp_ports.h"
#include "udp_relay.h"
#include <openae/pipeline/devices.h>
#include <openae/pipeline/rtp_device.h>
#include <doctest/doctest.h>
#include <sndfile.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <sstream>
#include <thread>
#include <functional>
#include <string>
#include <vector>

namespace ae::test::rtp_peers {

using namespace ae;
using namespace ae::test;


inline constexpr std::uint32_t rate = 48000;

// Frame n of the L16 signal, exact in s16: a counting marker left, a 997 Hz sine right.
inline void exact_frame(std::uint64_t n, float* frame) {
    frame[0] = static_cast<float>(static_cast<int>(n % 65536) - 32768) / 32768.0f;
    frame[1] = std::nearbyint(static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * 997 * static_cast<double>(n) / rate)) * 32768.0f) / 32768.0f;
}
// Frame n of the Opus signal: three tones whose sum does not repeat within the test, both channels.
inline float tones(std::uint64_t n) {
    const double t = static_cast<double>(n) / rate;
    return static_cast<float>(0.25 * std::sin(2 * std::numbers::pi * 440 * t) + 0.2 * std::sin(2 * std::numbers::pi * 997 * t) +
                              0.15 * std::sin(2 * std::numbers::pi * 2713 * t));
}

inline std::filesystem::path scratch(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() / ("openae-rtp-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    ae::test::remove_on_success(dir); // kept for reading when a test failed
    return dir / name;
}

inline std::vector<float> read_wav(const std::filesystem::path& path, int& channels) {
    SF_INFO info{};
    SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
    REQUIRE(file != nullptr);
    channels = info.channels;
    std::vector<float> frames(static_cast<std::size_t>(info.frames) * info.channels);
    sf_readf_float(file, frames.data(), info.frames);
    sf_close(file);
    return frames;
}

// Renders `total` frames of `fill` into a device, pre-filled, while `tick` runs after each pass
// (the test's receiving side), until `done` or 30 s of passes.
template <typename Fill, typename Tick, typename Done>
void render_while(device_rig<render_endpoint_core>& rig, Fill&& fill, Tick&& tick, Done&& done) {
    std::uint64_t written = 0;
    REQUIRE(render_pass(rig.endpoint.rt(), written, ~std::uint64_t{0}, fill));
    REQUIRE_FALSE(rig.endpoint.start());
    rt_guard engine_guard;
    int passes = 0;
    {
        // A host's engine runs at RT priority (at normal priority a loaded machine late by more
        // than the receiver's latency broke the sample-exact checks).
        const realtime_scope priority;
        auto armed = engine_guard.arm();
        while (!done() && passes < 3000) {
            (void)render_pass(rig.endpoint.rt(), written, ~std::uint64_t{0}, fill);
            (void)rig.wake.wait(100);
            tick();
            ++passes;
        }
    }
    CHECK(passes < 3000);
    CHECK(engine_guard.violations() == 0);
}

// Where `frames` (stereo) first holds exact_frame(0), or npos.
inline std::size_t exact_start(const std::vector<float>& frames) {
    float first[2];
    exact_frame(0, first);
    for (std::size_t at = 0; 2 * at + 1 < frames.size(); ++at) {
        if (frames[2 * at] == first[0] && frames[2 * at + 1] == first[1]) return at;
    }
    return std::string::npos;
}
// Frames from `start` on that differ from the signal, over `count` frames (all must be there).
inline std::size_t exact_mismatches(const std::vector<float>& frames, std::size_t start, std::size_t count) {
    REQUIRE(frames.size() / 2 >= start + count);
    std::size_t wrong = 0;
    float expected[2];
    for (std::size_t n = 0; n < count; ++n) {
        exact_frame(n, expected);
        wrong += frames[2 * (start + n)] != expected[0] || frames[2 * (start + n) + 1] != expected[1];
    }
    return wrong;
}

// The exact signal followed through a capture whose sender (ffmpeg, paced by its own `-re`) may
// stall: each loud frame must be the signal's frame its marker names, exactly, in order; what is
// missing must be silence the receiver accounted for (concealment, underrun, or a fresh start's
// priming after the sender fell silent for longer than the receiver waits).
struct exact_walk_result {
    std::uint64_t matched = 0, wrong = 0, repeated = 0, skipped = 0, gap_frames = 0, next = 0;
};
inline exact_walk_result exact_walk(const std::vector<float>& frames, std::size_t start, std::uint64_t total) {
    exact_walk_result w;
    float expected[2];
    for (std::size_t at = start; 2 * at + 1 < frames.size() && w.next < total; ++at) {
        const float* f = frames.data() + 2 * at;
        if (f[0] == 0.0f && f[1] == 0.0f) {
            ++w.gap_frames;
            continue;
        }
        const auto seen = static_cast<std::int64_t>(std::lround(f[0] * 32768.0f) + 32768);
        std::int64_t step = (seen - static_cast<std::int64_t>(w.next % 65536) + 65536) % 65536;
        if (step > 32768) step -= 65536;
        if (step < 0) {
            ++w.repeated;
            continue;
        }
        const std::uint64_t n = w.next + static_cast<std::uint64_t>(step);
        exact_frame(n, expected);
        if (f[0] != expected[0] || f[1] != expected[1]) {
            ++w.wrong;
            continue;
        }
        w.skipped += static_cast<std::uint64_t>(step);
        ++w.matched;
        w.next = n + 1;
    }
    return w;
}
inline void check_ffmpeg_capture(const std::vector<float>& got, const pipeline::rtp_stats& stats, std::uint64_t total, std::uint64_t latency_frames) {
    const std::size_t start = exact_start(got);
    REQUIRE(start != std::string::npos);
    const auto w = exact_walk(got, start, total);
    MESSAGE("walk: matched ", w.matched, ", skipped ", w.skipped, ", gaps ", w.gap_frames, ", wrong ", w.wrong, ", repeated ", w.repeated,
            "; receiver: concealed ", stats.concealed_frames, ", underrun ", stats.underrun_frames, ", fresh starts ", stats.discontinuities,
            ", late ", stats.late);
    AE_CHECK_TIMING(w.next == total);
    CHECK(w.wrong == 0);
    CHECK(w.repeated == 0);
    AE_CHECK_TIMING(w.matched + w.skipped == total);
    AE_CHECK_TIMING(w.skipped <= stats.concealed_frames);
    AE_CHECK_TIMING(w.gap_frames <= stats.concealed_frames + stats.underrun_frames + stats.discontinuities * latency_frames);
    // Without a stall (the usual run), it is sample-exact end to end.
    if (stats.concealed_frames == 0 && stats.underrun_frames == 0 && stats.discontinuities == 0) AE_CHECK_TIMING(w.matched == total);
}

// The lag of `got` (channel 0 of stereo frames) against tones(), and the SNR there, over `count`
// frames from the onset on.
struct match {
    std::int64_t lag = 0;
    double snr_db = -100;
};
inline match match_tones(const std::vector<float>& got, std::size_t count) {
    std::size_t onset = 0;
    while (2 * onset < got.size() && std::abs(got[2 * onset]) < 0.02f) ++onset;
    REQUIRE(2 * (onset + count + 2000) < got.size());
    // tones() starts at 0 and rises: the onset is within a few ms of frame 0 of the signal.
    match best;
    double best_correlation = -1e30;
    for (std::int64_t lag = static_cast<std::int64_t>(onset) - 600; lag <= static_cast<std::int64_t>(onset) + 600; ++lag) {
        if (lag < 0) continue;
        double c = 0;
        for (std::size_t n = 0; n < count; n += 4) c += got[2 * (static_cast<std::size_t>(lag) + n)] * tones(n);
        if (c > best_correlation) {
            best_correlation = c;
            best.lag = lag;
        }
    }
    // A resampler on the way (drift control) leaves a fractional delay: the SNR is taken at the
    // best of a few sub-frame offsets, reading `got` linearly interpolated.
    for (double fraction = -0.5; fraction <= 0.5; fraction += 0.05) {
        double signal = 0, error = 0;
        for (std::size_t n = 1; n < count; ++n) {
            const double x = tones(n);
            const double at = static_cast<double>(best.lag) + static_cast<double>(n) + fraction;
            const auto i = static_cast<std::size_t>(at);
            const double w = at - static_cast<double>(i);
            const double e = (1 - w) * got[2 * i] + w * got[2 * (i + 1)] - x;
            signal += x * x;
            error += e * e;
        }
        best.snr_db = std::max(best.snr_db, 10 * std::log10(signal / std::max(error, 1e-20)));
    }
    return best;
}

inline pipeline::rtp_stats stats_of(device_rig<render_endpoint_core>& rig) { return *pipeline::rtp_stats_of(rig.thread->dev()); }
inline pipeline::rtp_stats stats_of(device_rig<capture_endpoint_core>& rig) { return *pipeline::rtp_stats_of(rig.thread->dev()); }



inline void write_wav(const std::filesystem::path& path, std::uint64_t total, const std::function<void(std::uint64_t, float*)>& fill) {
    SF_INFO info{};
    info.samplerate = rate;
    info.channels = 2;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
    REQUIRE(file != nullptr);
    // Written as shorts: libsndfile scales floats by 32767, which would move the s16-exact signal.
    std::vector<short> frames(2 * total);
    float frame[2];
    for (std::uint64_t n = 0; n < total; ++n) {
        fill(n, frame);
        for (int c = 0; c < 2; ++c) frames[2 * n + c] = static_cast<short>(std::clamp(std::nearbyint(frame[c] * 32768.0f), -32768.0f, 32767.0f));
    }
    sf_writef_short(file, frames.data(), static_cast<sf_count_t>(total));
    sf_close(file);
}

// Captures from `rig` until `enough` frames came after the first loud one, or the sender ended
// and a second more passed.
inline std::vector<float> capture_until(device_rig<capture_endpoint_core>& rig, pid_t sender, std::size_t enough) {
    REQUIRE_FALSE(rig.endpoint.start());
    std::vector<float> received;
    received.reserve(2 * (enough + 10 * rate));
    std::uint64_t read = 0;
    rt_guard engine_guard;
    int passes = 0, after_exit = 0;
    bool exited = false;
    std::size_t first_loud = std::string::npos;
    {
        auto armed = engine_guard.arm();
        while (passes < 6000 && after_exit < 200) {
            (void)capture_pass(rig.endpoint.rt(), read, [&](std::uint64_t, const float* frame) {
                if (received.size() + 2 <= received.capacity()) received.insert(received.end(), frame, frame + 2);
            });
            (void)rig.wake.wait(100);
            ++passes;
            if (first_loud == std::string::npos) {
                for (std::size_t at = 0; 2 * at < received.size(); ++at) {
                    if (received[2 * at] != 0.0f || received[2 * at + 1] != 0.0f) {
                        first_loud = at;
                        break;
                    }
                }
            }
            if (first_loud != std::string::npos && received.size() / 2 >= first_loud + enough) break;
            int raw = 0;
            rt_guard::disarm_current_thread();
            if (!exited && ::waitpid(sender, &raw, WNOHANG) == sender) exited = true;
            engine_guard.arm_current_thread();
            after_exit += exited ? 1 : 0;
        }
    }
    CHECK(engine_guard.violations() == 0);
    if (!exited) {
        ::kill(-sender, SIGTERM);
        wait_exit(sender);
    }
    rig.check_device_rt();
    return received;
}



inline constexpr const char* test_key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo1Njc4"; // 30 bytes, base64

// Sends `total` frames of the exact signal from one openae context's device to another's and
// returns what the receiver captured and its statistics.
struct loopback_result {
    std::vector<float> received;
    pipeline::rtp_stats sent, got;
    glitch_totals capture_glitches;
    glitch_totals sender_glitches; // the sending endpoint's: an underrun there is silence in the stream
    std::uint64_t device_dropped = 0;
};
inline loopback_result openae_to_openae(const std::string& send_spec, const std::string& receive_spec, std::uint64_t total,
                                 const std::function<bool(const loopback_result&)>& done, const std::function<void()>& tick = {}) {
    device_rig<capture_endpoint_core> in(pipeline::make_device(receive_spec, endpoint_direction::capture), 2, 16);
    REQUIRE_FALSE(in.endpoint.start());
    device_rig<render_endpoint_core> out(pipeline::make_device(send_spec, endpoint_direction::render), 1, 4);
    loopback_result r;
    r.received.reserve(2 * 8 * total);
    std::uint64_t read = 0;
    rt_guard capture_guard;
    auto take = [&](std::uint64_t, const float* frame) {
        if (r.received.size() + 2 <= r.received.capacity()) r.received.insert(r.received.end(), frame, frame + 2);
    };
    render_while(
        out, [total](std::uint64_t n, float* frame) { if (n < total) exact_frame(n, frame); else frame[0] = frame[1] = 0; },
        [&] {
            {
                auto armed = capture_guard.arm();
                (void)capture_pass(in.endpoint.rt(), read, take);
            }
            if (tick) tick();
        },
        [&] {
            r.sent = stats_of(out);
            r.got = stats_of(in);
            return done(r);
        });
    out.thread->stop();
    in.thread->stop();
    r.sent = stats_of(out);
    r.got = stats_of(in);
    r.capture_glitches = drain(in.endpoint);
    r.sender_glitches = drain(out.endpoint);
    device_events events;
    events.take(*in.thread);
    r.device_dropped = events.dropped;
    CHECK(capture_guard.violations() == 0);
    in.check_device_rt();
    out.check_device_rt();
    return r;
}

inline bool has_signal(const std::vector<float>& received, std::uint64_t total) {
    const std::size_t start = exact_start(received);
    return start != std::string::npos && received.size() / 2 >= start + total;
}

} // namespace ae::test::rtp_peers
