// The RDP devices against a real client: openae's standalone server (rdp.h) on loopback, and
// xfreerdp under Xvfb playing into a private PulseAudio whose null sink the test records
// (tests/pipeline/rdp_rig.h). The signal is checked, not just "something was heard": Debian's
// FreeRDP flips the sign bit of PCM it converts, which plays a wrapped, distorted tone.
#include "peer_rig.h"
#include "rdp_rig.h"
#include "test_engine.h"

#include <openae/pipeline/device_discovery.h>
#include <openae/pipeline/devices.h>
#include <openae/pipeline/rdp.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <numbers>

using namespace ae;
using namespace ae::test;

namespace {

// Waits (bounded) for a session's speakers or microphone to come, told by the session watch.
class device_waiter {
public:
    device_waiter()
        : watch_([this](bool added, const std::string& spec, bool render) {
              const std::lock_guard lock(mutex_);
              (render ? speakers_ : microphone_) = added ? spec : std::string();
              changed_.notify_all();
          }) {}
    std::string speakers(std::chrono::seconds within) { return wait(speakers_, within); }
    std::string microphone(std::chrono::seconds within) { return wait(microphone_, within); }

private:
    std::string wait(const std::string& which, std::chrono::seconds within) {
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, within, [&] { return !which.empty(); });
        return which;
    }
    std::mutex mutex_;
    std::condition_variable changed_;
    std::string speakers_, microphone_;
    pipeline::rdp_session_watch watch_;
};

struct tone_report {
    std::size_t onset = 0;      // first loud frame of the recording
    double frequency_hz = 0;    // from zero crossings over the window
    double rms = 0;             // of the window
    std::size_t quiet_runs = 0; // runs of 5 ms or more without a sample above 0.05 inside it
};

// The tone in `played` (s16 stereo, left channel) over `seconds` from its onset.
tone_report analyse(const std::vector<std::int16_t>& played, std::uint32_t rate, double seconds) {
    tone_report r;
    const std::size_t frames = played.size() / 2;
    while (r.onset < frames && std::abs(played[2 * r.onset]) < 3000) ++r.onset;
    const auto window = static_cast<std::size_t>(seconds * rate);
    if (r.onset + window > frames) return r;
    std::size_t crossings = 0, quiet = 0;
    double energy = 0;
    for (std::size_t i = r.onset + 1; i < r.onset + window; ++i) {
        const double x = played[2 * i] / 32768.0;
        energy += x * x;
        if ((played[2 * i - 2] < 0) != (played[2 * i] < 0)) ++crossings;
        if (std::abs(x) < 0.05) {
            if (++quiet == rate / 200) ++r.quiet_runs;
        } else {
            quiet = 0;
        }
    }
    r.frequency_hz = static_cast<double>(crossings) / 2 / seconds;
    r.rms = std::sqrt(energy / static_cast<double>(window));
    return r;
}

} // namespace

TEST_CASE("rdp device: with no client connected it is unavailable - bad options are refused by name") {
    const auto none = pipeline::make_device("rdp:77", endpoint_direction::render);
    REQUIRE_FALSE(none);
    CHECK(none.error().code == errc::device_unavailable);
    CHECK(none.error().message.find("no RDP session 77") != std::string::npos);
    auto server = pipeline::rdp_server::start({.address = "0.0.0.0", .port = 0});
    REQUIRE_FALSE(server);
    CHECK(server.error().code == errc::bad_argument);
    CHECK(server.error().message.find("needs a user and a password") != std::string::npos);
}

TEST_CASE("rdp peers: xfreerdp hears a 1 kHz tone played through rdp - its frequency - level and continuity") {
    const std::string state = (std::filesystem::temp_directory_path() / ("openae-rdp-state-" + std::to_string(::getpid()))).string();
    auto server = pipeline::rdp_server::start({.address = "127.0.0.1", .port = 0, .state_dir = state});
    REQUIRE(server);
    CHECK(std::filesystem::exists(state + "/rdp-certificate.pem")); // made at first start
    device_waiter waiter;
    rdp_client_rig client((*server)->port());
    REQUIRE(client.ready());
    const std::string speakers = waiter.speakers(std::chrono::seconds(30));
    if (speakers.empty()) MESSAGE("xfreerdp's log:\n", client.log("xfreerdp.log"));
    REQUIRE_FALSE(speakers.empty());
    const auto sessions = pipeline::rdp_sessions();
    REQUIRE(sessions.size() == 1);
    MESSAGE("session ", sessions[0].id, " from '", sessions[0].client, "': speakers at ", sessions[0].speakers_rate, " Hz, ",
            sessions[0].speakers_channels, " channels");
    {
        device_rig<render_endpoint_core> out(pipeline::make_device(speakers, endpoint_direction::render), 1, 4);
        const std::uint32_t rate = out.thread->dev().format().sample_rate;
        const std::uint32_t endpoint_rate = 48000;
        const auto tone_frames = static_cast<std::uint64_t>(3 * endpoint_rate);
        std::uint64_t written = 0;
        rt_guard engine_guard;
        REQUIRE(render_pass(out.endpoint.rt(), written, ~std::uint64_t{0}, [](std::uint64_t, float* f) { f[0] = f[1] = 0; }));
        REQUIRE_FALSE(out.endpoint.start());
        {
            auto armed = engine_guard.arm();
            // 3 s of the tone, then 1.5 s of silence: the client's delay is a few hundred ms.
            while (written < tone_frames + endpoint_rate * 3 / 2) {
                (void)render_pass(out.endpoint.rt(), written, ~std::uint64_t{0}, [&](std::uint64_t n, float* f) {
                    f[0] = f[1] = n < tone_frames ? static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * 1000 * static_cast<double>(n) / endpoint_rate)) : 0.0f;
                });
                (void)out.wake.wait(200);
            }
        }
        CHECK(engine_guard.violations() == 0);
        out.check_device_rt();
        MESSAGE("device at ", rate, " Hz; latency ", static_cast<double>(out.thread->dev().latency().count()) / 1e4, " ms");
        // The session's figures: every block went out, and openae held each no longer than a
        // block (its first frame waits for the rest of the block, then it is sent).
        const auto figures = pipeline::rdp_sessions();
        REQUIRE(figures.size() == 1);
        MESSAGE(figures[0].blocks_sent, " blocks sent, ", figures[0].blocks_dropped, " dropped; round trip ", figures[0].round_trip_ms,
                " ms; client delay ", figures[0].client_delay_ms, " ms; hold mean ", figures[0].hold_ms_mean, " ms, max ", figures[0].hold_ms_max, " ms");
        CHECK(figures[0].blocks_sent >= tone_frames / 960);
        CHECK(figures[0].blocks_dropped == 0);
        CHECK(figures[0].round_trip_ms > 0);
        CHECK(figures[0].client_delay_ms > 0);
        CHECK(figures[0].hold_ms_mean > 0);
        CHECK(figures[0].hold_ms_mean <= 20.0);
        out.thread->stop();
    }
    const auto played = client.played();
    const tone_report r = analyse(played, rdp_client_rig::played_rate, 2.5);
    MESSAGE("recorded ", played.size() / 2, " frames; onset at ", r.onset, ", ", r.frequency_hz, " Hz, rms ", r.rms, ", quiet runs ", r.quiet_runs);
    CHECK(r.frequency_hz == doctest::Approx(1000).epsilon(0.01));
    CHECK(r.rms == doctest::Approx(0.5 / std::sqrt(2.0)).epsilon(0.1));
    CHECK(r.quiet_runs == 0);
    std::filesystem::remove_all(state);
}

TEST_CASE("rdp peers: the client's microphone is captured at its frequency - a stalled client costs counted frames - a killed one is a lost device") {
    const std::string state = (std::filesystem::temp_directory_path() / ("openae-rdp-state-mic-" + std::to_string(::getpid()))).string();
    auto server = pipeline::rdp_server::start({.address = "127.0.0.1", .port = 0, .state_dir = state});
    REQUIRE(server);
    device_waiter waiter;
    rdp_client_rig client((*server)->port());
    REQUIRE(client.ready());
    const std::string microphone = waiter.microphone(std::chrono::seconds(30));
    const std::string speakers = waiter.speakers(std::chrono::seconds(5));
    if (microphone.empty()) MESSAGE("xfreerdp's log:\n", client.log("xfreerdp.log"));
    REQUIRE_FALSE(microphone.empty());
    REQUIRE_FALSE(speakers.empty());
    CHECK(microphone == speakers); // one session: rdp:ID for both directions
    // Listed for `aectl devices` (discovery) with both directions.
    const auto listed = pipeline::discover_rdp_devices();
    REQUIRE(listed.size() == 1);
    CHECK(listed[0].spec == speakers);
    CHECK(listed[0].render);
    CHECK(listed[0].capture);
    device_rig<capture_endpoint_core> in(pipeline::make_device(microphone, endpoint_direction::capture), 2, 32);
    device_rig<render_endpoint_core> out(pipeline::make_device(speakers, endpoint_direction::render), 1, 4);
    const std::uint32_t mic_rate = in.thread->dev().format().sample_rate;
    REQUIRE_FALSE(in.endpoint.start());
    REQUIRE_FALSE(out.endpoint.start());
    std::vector<float> captured;
    captured.reserve(std::size_t{mic_rate} * 30); // no allocation under the engine's guard
    std::uint64_t read = 0, written = 0;
    device_events in_events, out_events;
    rt_guard engine_guard;
    // Runs both endpoints (the speakers get a quiet tone) for `seconds` of wall time, bounded.
    const auto run_for = [&](double seconds) {
        auto armed = engine_guard.arm();
        const hns until = monotonic_now() + hns{static_cast<std::int64_t>(seconds * 1e7)};
        while (monotonic_now() < until) {
            (void)render_pass(out.endpoint.rt(), written, ~std::uint64_t{0}, [](std::uint64_t n, float* f) {
                f[0] = f[1] = static_cast<float>(0.1 * std::sin(2 * std::numbers::pi * 500 * static_cast<double>(n) / 48000));
            });
            (void)capture_pass(in.endpoint.rt(), read, [&](std::uint64_t, const float* f) {
                if (captured.size() < captured.capacity()) captured.push_back(f[0]);
            });
            (void)in.wake.wait(20);
            in_events.take(*in.thread);
            out_events.take(*out.thread);
        }
    };
    run_for(5);
    // The microphone: PulseAudio's 440 Hz sine source through the client, which reads it in
    // bursts: judged by its frequency over the frames that carry it (the silence an underrun
    // put in is not the signal's) and by how many there are.
    std::size_t onset = 0;
    while (onset < captured.size() && std::abs(captured[onset]) < 0.01f) ++onset;
    std::size_t crossings = 0, signal_frames = 0;
    for (std::size_t i = onset + 1; i < captured.size(); ++i) {
        if (captured[i] == 0.0f) continue; // padding: counted in the glitch frames
        ++signal_frames;
        crossings += captured[i - 1] != 0.0f && (captured[i - 1] < 0) != (captured[i] < 0);
    }
    const double seconds_heard = static_cast<double>(signal_frames) / mic_rate;
    const double frequency = seconds_heard > 0 ? static_cast<double>(crossings) / 2 / seconds_heard : 0;
    MESSAGE("microphone at ", mic_rate, " Hz: ", captured.size(), " frames read, signal from frame ", onset, ": ", frequency, " Hz over ",
            seconds_heard, " s of signal; glitch frames ", in_events.dropped);
    REQUIRE(seconds_heard > 1.0);
    const auto figures = pipeline::rdp_sessions();
    REQUIRE(figures.size() == 1);
    REQUIRE(figures[0].microphone_rate > 0);
    // Received: what was read, and what is still queued.
    CHECK(static_cast<double>(figures[0].microphone_frames) / figures[0].microphone_rate >= seconds_heard - 0.01);
    CHECK(frequency == doctest::Approx(440).epsilon(0.01));
    // Every frame after the onset is signal or counted padding.
    CHECK(captured.size() - onset - 1 - signal_frames <= in_events.dropped + 16);

    // Stalled for 2 s: the speakers' window fills, later blocks are dropped and counted; memory
    // stays bounded; after SIGCONT the client plays again.
    out_events.take(*out.thread);
    const std::uint64_t dropped_before = out_events.dropped;
    client.pause_client(true);
    run_for(2);
    client.pause_client(false);
    out_events.take(*out.thread);
    const std::uint64_t dropped_in_stall = out_events.dropped - dropped_before;
    const std::size_t played_before_resume = client.played().size() / 2;
    run_for(2);
    const std::size_t played_after_resume = client.played().size() / 2;
    MESSAGE("stall: ", dropped_in_stall, " frames dropped by the speakers' window; the client played ", played_after_resume - played_before_resume,
            " frames in the 2 s after it resumed");
    CHECK(dropped_in_stall > 48000); // most of the 2 s (the window held 200 ms)
    CHECK(dropped_in_stall < 2 * 48000 + 4800);
    CHECK(played_after_resume - played_before_resume > rdp_client_rig::played_rate); // it plays again

    // Killed: both devices are lost.
    client.stop_client();
    bool in_lost = false, out_lost = false;
    for (int i = 0; i < 100 && !(in_lost && out_lost); ++i) {
        run_for(0.05);
        in_events.take(*in.thread);
        out_events.take(*out.thread);
        in_lost = in_events.lost;
        out_lost = out_events.lost;
    }
    CHECK(in_lost);
    CHECK(out_lost);
    CHECK(engine_guard.violations() == 0);
    in.check_device_rt();
    out.check_device_rt();
    out.thread->stop();
    in.thread->stop();
    std::filesystem::remove_all(state);
}

TEST_CASE("rdp peers: with a user and password set - a client with the wrong password gets no session - the right one does") {
    const std::string state = (std::filesystem::temp_directory_path() / ("openae-rdp-state-logon-" + std::to_string(::getpid()))).string();
    auto server = pipeline::rdp_server::start({.address = "127.0.0.1", .port = 0, .state_dir = state, .user = "openae", .password = "s3cret"});
    REQUIRE(server);
    device_waiter waiter;
    {
        rdp_client_rig wrong((*server)->port(), false, "openae", "guess");
        REQUIRE(wrong.ready());
        const int status = wrong.wait_client_exit(); // refused at logon: the client gives up
        MESSAGE("the client with the wrong password exited with ", status);
        CHECK(status != -1);
        CHECK(pipeline::rdp_sessions().empty());
    }
    rdp_client_rig right((*server)->port(), false, "openae", "s3cret");
    REQUIRE(right.ready());
    const std::string speakers = waiter.speakers(std::chrono::seconds(30));
    CHECK_FALSE(speakers.empty());
    CHECK(pipeline::rdp_sessions().size() == 1);
    std::filesystem::remove_all(state);
}
