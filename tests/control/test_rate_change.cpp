// A new sample rate through the barrier: the chain for the new rate takes over at the seam, in the
// same device period. Proved on the audio itself: a 440 Hz tone rendered at 48 kHz, then 44.1 kHz,
// 96 kHz and 48 kHz again (the engine's phase advancing at whatever rate is live), into an offline
// wav file at 48 kHz — read back, it must be one unbroken sine.
#include <openae/control/context.h>

#include "realtime_scope.h"
#include "sine_fit.h"
#include "test_engine.h"
#include "timing_checks.h"

#include <asio/use_future.hpp>

#include <doctest/doctest.h>
#include <sndfile.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <mutex>
#include <cmath>
#include <numbers>
#include <string>
#include <thread>
#include <vector>

using ae::test::measure_sine;

TEST_CASE("rate change: 48k -> 44.1k -> 96k -> 48k at the barrier, the rendered sine never breaks") {
    const std::string path = "/tmp/openae-rate-" + std::to_string(::getpid()) + ".wav";
    std::remove(path.c_str());
    ae::test::rt_guard engine_guard;
    ae::test::rt_guard device_guard;
    std::atomic<std::uint64_t> passes{0};
    std::atomic<std::uint64_t> rt_errors{0};
    std::atomic<int> last_error{0};
    std::atomic<std::uint64_t> mixed_passes{0};
    std::atomic<bool> stop{false};
    std::atomic<std::int64_t> longest_gap_us{0};
    bool engine_kept_up = false;
    std::vector<std::uint32_t> epochs_seen; // engine thread only until joined
    epochs_seen.reserve(4096);
    {
        ae::context_options options;
        options.log_level = "off";
        options.device_hooks = ae::test::armed_hooks(device_guard);
        ae::test::event_fd wake; // outlives the context: its device threads signal it
        ae::context ctx(options);
        ae::endpoint_config config;
        config.name = "tone";
        config.device = "wav:" + path + "?sample=f32&realtime=1" + std::string(std::getenv("AE_DEV_OPTS") ? std::getenv("AE_DEV_OPTS") : ""); // paced: the changes land mid-file
        // 5 ms packets, 20 of them buffered: an engine thread descheduled for up to ~90 ms (a
        // sanitizer, a loaded machine) still keeps the paced device fed. The seams do not care.
        ae::hns packet{50'000};
        // By hand: AE_DEV_OPTS='&period=2.6667' AE_EP_PERIOD=26667 tries 128-frame periods.
        if (const char* p = std::getenv("AE_EP_PERIOD")) packet = ae::hns{std::atoll(p)};
        config.routing = ae::routing_policy::pinned;
        auto ep = ctx.create_render_endpoint(config);
        REQUIRE(ep);
        REQUIRE_FALSE(ep->set_buffer(packet, 20));
        std::vector<ae::event> glitches;
        std::mutex glitch_mutex;
        ctx.subscribe([&](const ae::event& e) {
            if (e.kind != ae::event_kind::glitch) return;
            const std::lock_guard lock(glitch_mutex);
            glitches.push_back(e);
        });
        REQUIRE_FALSE(ep->set_event_handle(wake.get()));
        std::atomic<bool> prefilled{false};
        std::thread engine([&] {
            const ae::test::realtime_scope priority; // a host's engine runs at RT priority
            auto armed = engine_guard.arm();
            ae::render_endpoint_rt& rt = ep->rt();
            double phase = 0;
            auto last_pass = std::chrono::steady_clock::now();
            // The first pass pre-fills the stopped endpoint (the test starts it once that is
            // done): the stream's first device period plays the tone, however late this thread began.
            for (bool first = true; !stop.load(); first = false) {
                const auto now = std::chrono::steady_clock::now();
                if (!first) longest_gap_us = std::max<std::int64_t>(longest_gap_us, std::chrono::duration_cast<std::chrono::microseconds>(now - last_pass).count());
                last_pass = now;
                ae::position pos;
                const std::uint64_t padding = rt.current_padding(&pos);
                const ae::frame_format format = rt.format();
                if (pos.flags != ae::position_flags::invalid && epochs_seen.size() < epochs_seen.capacity() &&
                    (epochs_seen.empty() || epochs_seen.back() != pos.epoch)) {
                    epochs_seen.push_back(pos.epoch);
                }
                // Right after a rate change the old ring may still hold more than the new one's size.
                std::uint64_t space = rt.buffer_frames() > padding ? rt.buffer_frames() - padding : 0;
                while (space > 0) {
                    const auto frames = static_cast<std::uint32_t>(std::min<std::uint64_t>(rt.frames_per_packet(), space));
                    auto span = rt.output_data_pointer(frames);
                    if (!span) {
                        if (span.error() != ae::errc::not_running) { // stopped at the end
                            ++rt_errors;
                            last_error = static_cast<int>(span.error());
                        }
                        break;
                    }
                    auto* out = reinterpret_cast<float*>(*span);
                    const double step = 2 * std::numbers::pi * 440.0 / format.sample_rate;
                    for (std::uint32_t i = 0; i < frames; ++i) {
                        const auto v = static_cast<float>(0.25 * std::sin(phase));
                        for (std::uint32_t c = 0; c < format.channels; ++c) out[i * format.channels + c] = v;
                        phase += step;
                        if (phase > 2 * std::numbers::pi) phase -= 2 * std::numbers::pi;
                    }
                    rt.release_output_data_pointer({*span, frames, ae::buffer_flags::valid});
                    space -= frames;
                }
                if (rt.format() != format) ++mixed_passes;
                rt.processing_complete();
                ++passes;
                if (first) prefilled.store(true);
                ae::test::rt_guard::begin_wait();
                (void)wake.wait(50);
                ae::test::rt_guard::end_wait();
            }
        });
        while (!prefilled.load()) std::this_thread::yield();
        REQUIRE_FALSE(ep->start());
        // Rate changes at 0.2, 0.4 and 0.6 s of device time; the file then runs to 0.9 s.
        auto wait_frames = [&](std::uint64_t n) {
            const ae::hns deadline = ae::monotonic_now() + ae::hns{100'000'000};
            std::uint64_t frames = 0;
            while (frames < n && ae::monotonic_now() < deadline) {
                frames = ctx.devices()[0].frames;
                std::this_thread::yield();
            }
            return frames >= n;
        };
        REQUIRE(wait_frames(9'600));
        REQUIRE_FALSE(ep->set_format({44'100, 2, ae::sample_type::f32}));
        CHECK(ep->frames_per_packet() == 221); // 5 ms at 44.1 kHz
        REQUIRE(wait_frames(19'200));
        REQUIRE_FALSE(ep->set_format({96'000, 2, ae::sample_type::f32}));
        REQUIRE(wait_frames(28'800));
        REQUIRE_FALSE(ep->set_format({48'000, 2, ae::sample_type::f32}));
        REQUIRE(wait_frames(43'200));
        {
            const std::lock_guard lock(glitch_mutex);
            MESSAGE("longest time between engine passes so far: ", longest_gap_us.load(), " us");
            for (const auto& g : glitches)
                MESSAGE("glitch ", std::string(ae::to_string(g.glitch)), " at ", g.stream_position, " frames ", g.frames, " epoch ", g.epoch);
        }
        REQUIRE_FALSE(ep->stop());
        stop = true;
        engine.join();
        auto stats = ep->stats();
        REQUIRE(stats);
        CHECK(stats->glitch_count[static_cast<int>(ae::glitch_kind::dropped)] == 0);
        // A seam is neither an underrun nor a late pass: only an engine the machine held back is.
        engine_kept_up = stats->glitch_count[static_cast<int>(ae::glitch_kind::underrun)] == 0 &&
                         stats->glitch_count[static_cast<int>(ae::glitch_kind::late_pass)] == 0;
        AE_CHECK_TIMING(engine_kept_up);
        CHECK(ep->epoch() == 4);
    }
    CAPTURE(last_error.load());
    CHECK(rt_errors == 0);
    CHECK(mixed_passes == 0);
    std::string seen;
    for (auto e : epochs_seen) seen += std::to_string(e) + " ";
    CAPTURE(seen);
    CHECK(epochs_seen == std::vector<std::uint32_t>{1, 2, 3, 4});
    CHECK(engine_guard.violations() == 0);
    CHECK(device_guard.violations() == 0);

    SF_INFO info{};
    SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
    REQUIRE(file != nullptr);
    CHECK(info.samplerate == 48000);
    CHECK(info.frames >= 43200);
    std::vector<float> x(static_cast<std::size_t>(info.frames) * static_cast<std::size_t>(info.channels));
    sf_readf_float(file, x.data(), info.frames);
    sf_close(file);
    std::remove(path.c_str());

    // The stream's first frame: the device played silence while the endpoint was stopped.
    std::size_t first = 0;
    while (first < static_cast<std::size_t>(info.frames) && x[first * static_cast<std::size_t>(info.channels)] == 0.0f) ++first;
    // The tone's first sample is sin(0) = 0: the first non-zero one is the stream's second frame.
    if (first > 0) --first;
    CAPTURE(first);
    // The pre-fill played from the first period after start: the stream starts a device period.
    CHECK(first % 480 == 0);
    REQUIRE(first < 9600); // started before the first change

    // Up to the device frame the test stopped at: after it the device plays silence.
    const auto [worst_amplitude_error, worst_phase_step, worst_snr] =
        measure_sine(x, static_cast<std::size_t>(info.channels), first, 43200);
    MESSAGE("3 rate changes: worst block amplitude error ", worst_amplitude_error, ", worst phase step ", worst_phase_step,
            " rad, worst block SNR ", worst_snr, " dB");
    // No gap (a missing millisecond would cost a 10 ms block 10 % of its amplitude), no shift in
    // time (a frame is 0.058 rad at 440 Hz), no ring at the seams: issue 17's goals (0.01 rad,
    // 1 %, 70 dB). Measured 112.5 dB and 3e-6 rad at worst, the old stream's continuation fading
    // out under the new one (26-42 dB when each filter started from, or ended into, silence).
    // Where the engine kept up, in every configuration; where it was held back (an underrun's
    // silence breaks any sine), see timing_checks.h.
    if (engine_kept_up) {
        CHECK(worst_amplitude_error < 0.0025);
        CHECK(worst_phase_step < 0.01);
        CHECK(worst_snr >= 70);
    } else {
        AE_CHECK_TIMING(worst_amplitude_error < 0.0025);
        AE_CHECK_TIMING(worst_phase_step < 0.01);
        AE_CHECK_TIMING(worst_snr >= 70);
    }
}

TEST_CASE("rate change on an offline device: 48k -> 44.1k -> 96k -> 48k, nothing lost, no underrun, one unbroken sine") {
    // An offline device moves only when its endpoints are ready: no clock, no dependence on how
    // fast any thread runs. The engine writes flat out; the changes are asked for at 0.2, 0.4 and
    // 0.6 s of the engine's audio while it goes on writing.
    const std::string path = "/tmp/openae-rate-offline-" + std::to_string(::getpid()) + ".wav";
    std::remove(path.c_str());
    std::atomic<std::uint64_t> written_us{0}; // the engine's audio so far, in microseconds
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> rt_errors{0};
    ae::test::rt_guard engine_guard;
    std::uint64_t underruns = 0, dropped = 0;
    {
        ae::context_options options;
        options.log_level = "off";
        ae::test::event_fd wake;
        ae::context ctx(options);
        ae::endpoint_config config;
        config.name = "tone";
        config.device = "wav:" + path + "?sample=f32";
        config.period = ae::hns{50'000};
        config.routing = ae::routing_policy::pinned;
        auto ep = ctx.create_render_endpoint(config);
        REQUIRE(ep);
        REQUIRE_FALSE(ep->set_event_handle(wake.get()));
        std::mutex glitch_mutex;
        std::vector<ae::event> glitches;
        ctx.subscribe([&](const ae::event& e) {
            if (e.kind != ae::event_kind::glitch) return;
            const std::lock_guard lock(glitch_mutex);
            if (glitches.size() < 8) glitches.push_back(e);
        });
        struct report_glitches {
            std::mutex& m;
            std::vector<ae::event>& g;
            ~report_glitches() {
                const std::lock_guard lock(m);
                for (const auto& e : g) MESSAGE("glitch ", std::string(ae::to_string(e.glitch)), " epoch ", e.epoch, " at ", e.stream_position, " frames ", e.frames);
            }
        } reporter{glitch_mutex, glitches};
        std::thread engine([&] { // flat out against an offline device: at normal priority
            auto armed = engine_guard.arm();
            ae::render_endpoint_rt& rt = ep->rt();
            double phase = 0, seconds = 0;
            while (!stop.load()) {
                const std::uint64_t padding = rt.current_padding();
                const ae::frame_format format = rt.format();
                std::uint64_t space = rt.buffer_frames() > padding ? rt.buffer_frames() - padding : 0;
                while (space > 0) {
                    const auto frames = static_cast<std::uint32_t>(std::min<std::uint64_t>(rt.frames_per_packet(), space));
                    auto span = rt.output_data_pointer(frames);
                    if (!span) {
                        ++rt_errors;
                        break;
                    }
                    auto* out = reinterpret_cast<float*>(*span);
                    const double step = 2 * std::numbers::pi * 440.0 / format.sample_rate;
                    for (std::uint32_t i = 0; i < frames; ++i) {
                        const auto v = static_cast<float>(0.25 * std::sin(phase));
                        for (std::uint32_t c = 0; c < format.channels; ++c) out[i * format.channels + c] = v;
                        phase = std::fmod(phase + step, 2 * std::numbers::pi);
                    }
                    rt.release_output_data_pointer({*span, frames, ae::buffer_flags::valid});
                    space -= frames;
                    seconds += static_cast<double>(frames) / format.sample_rate;
                }
                rt.processing_complete();
                written_us.store(static_cast<std::uint64_t>(seconds * 1e6));
                ae::test::rt_guard::begin_wait();
                (void)wake.wait(50);
                ae::test::rt_guard::end_wait();
            }
        });
        // Started once the engine has pre-filled the buffer: the offline device pulls at once, and
        // an engine thread that starts late must not leave its first blocks silent (a TSan run on a
        // loaded machine had one block at amplitude 0).
        {
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            while (written_us.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
            REQUIRE(written_us.load() > 0);
        }
        REQUIRE_FALSE(ep->start());
        // `us` more of the engine's audio from now (a blocking set_format lets the engine write
        // seconds meanwhile: each seam is followed by 0.2 s of the new rate, whatever the speed).
        auto audio_after = [&](std::uint64_t us) {
            const std::uint64_t target = written_us.load() + us;
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            while (written_us.load() < target && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
            return written_us.load() >= target;
        };
        REQUIRE(audio_after(200'000));
        REQUIRE_FALSE(ep->set_format({44'100, 2, ae::sample_type::f32}));
        REQUIRE(audio_after(200'000));
        REQUIRE_FALSE(ep->set_format({96'000, 2, ae::sample_type::f32}));
        REQUIRE(audio_after(200'000));
        REQUIRE_FALSE(ep->set_format({48'000, 2, ae::sample_type::f32}));
        REQUIRE(audio_after(300'000));
        stop = true;
        engine.join();
        // The engine is gone: this thread may use the RT view. The device takes what is queued
        // but the last whole period's worth it cannot make (at a seam: what the old rate's and the
        // new rate's chains each need for a period, at most ~2,600 frames at 96 kHz); the 0.3 s
        // written after the last change (14,400 frames and more) are thus mostly in the file.
        ae::render_endpoint_rt& rt = ep->rt();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (rt.current_padding() > 4096 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
        CHECK(rt.current_padding() <= 4096);
        REQUIRE_FALSE(ep->stop());
        auto stats = ep->stats();
        REQUIRE(stats);
        underruns = stats->glitch_count[static_cast<int>(ae::glitch_kind::underrun)];
        dropped = stats->glitch_count[static_cast<int>(ae::glitch_kind::dropped)];
        CHECK(ep->epoch() == 4);
        REQUIRE_FALSE(ctx.destroy("tone"));
    }
    CHECK(rt_errors == 0);
    CHECK(engine_guard.violations() == 0);
    CHECK(underruns == 0);
    CHECK(dropped == 0);
    SF_INFO info{};
    SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
    REQUIRE(file != nullptr);
    std::vector<float> x(static_cast<std::size_t>(info.frames) * static_cast<std::size_t>(info.channels));
    sf_readf_float(file, x.data(), info.frames);
    sf_close(file);
    std::remove(path.c_str());
    // The file holds all the engine wrote but the last period or two: 0.9 s and more (the
    // engine wrote on during each set_format) — every block of it one sine.
    REQUIRE(info.frames > 43'200);
    // An offline device with no running endpoint goes on writing silence until it is closed: the
    // tail after the endpoint stopped is not the stream (on a loaded machine it was several blocks,
    // read as a silent block of the sine). Measured up to the stream's last frame, less a block.
    std::size_t stream_end = static_cast<std::size_t>(info.frames);
    const auto channel_count = static_cast<std::size_t>(info.channels);
    while (stream_end > 0 && std::abs(x[(stream_end - 1) * channel_count]) < 1e-6f) --stream_end;
    MESSAGE("silence after the stream: ", static_cast<std::size_t>(info.frames) - stream_end, " frames");
    REQUIRE(stream_end > 43'200);
    const auto [worst_amplitude_error, worst_phase_step, worst_snr] = measure_sine(x, channel_count, 0, stream_end - 480);
    MESSAGE("offline, 3 rate changes, ", info.frames, " frames: worst block amplitude error ", worst_amplitude_error,
            ", worst phase step ", worst_phase_step, " rad, worst block SNR ", worst_snr, " dB");
    // No gap, no repeat: a missing or doubled run of frames costs a block 1 % or more of its
    // amplitude. At the seams, issue 17's goals (measured 109.4 dB and 2.4e-6 rad at worst; 26.5-
    // 41.7 dB and up to 0.042 rad before the seams were aligned and faded).
    CHECK(worst_amplitude_error < 0.0025);
    CHECK(worst_phase_step < 0.01);
    CHECK(worst_snr >= 70);
}
