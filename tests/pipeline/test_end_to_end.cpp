// End to end through the RT API: engine thread ↔ endpoint ↔ chain ↔ device thread ↔ device.
#include <openae/openae.hpp>
#include <openae/pipeline/devices.h>
#include <openae/pipeline/device_thread.h>

#include "rt_guard.h"
#include "signal_checks.h"
#include "signal_rig.h"
#include "test_engine.h"

#include <doctest/doctest.h>
#include <sndfile.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <numbers>
#include <string>
#include <thread>
#include <vector>

using namespace ae::pipeline;
using ae::endpoint_direction;
using ae::test::event_fd;
using namespace ae::test::signal;

namespace {

std::string temp_path(const char* name) { return "/tmp/openae-test-" + std::to_string(::getpid()) + "-" + name + ".wav"; }

struct wav_contents {
    int rate = 0;
    int channels = 0;
    std::vector<std::int16_t> s16; // interleaved
    std::vector<float> f32;        // interleaved
};
wav_contents read_wav(const std::string& path) {
    SF_INFO info{};
    SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
    REQUIRE(file != nullptr);
    wav_contents out{info.samplerate, info.channels, {}, {}};
    out.s16.resize(static_cast<std::size_t>(info.frames * info.channels));
    sf_readf_short(file, out.s16.data(), info.frames);
    sf_seek(file, 0, SEEK_SET);
    out.f32.resize(out.s16.size());
    sf_readf_float(file, out.f32.data(), info.frames);
    sf_close(file);
    return out;
}

} // namespace

TEST_CASE("render end to end: engine → endpoint → chain → offline wav") {
    SUBCASE("48 kHz f32 → 48 kHz s16: sample-exact") {
        const std::string path = temp_path("render-exact");
        render_through("wav:" + path + "?rate=48000&sample=s16&period=10", 48000, 48000);
        const auto wav = read_wav(path);
        std::remove(path.c_str());
        CHECK(wav.rate == 48000);
        REQUIRE(wav.channels == 2);
        REQUIRE(wav.s16.size() == 2u * 48000);
        std::size_t mismatches = 0;
        for (std::uint64_t n = 0; n < 48000; ++n) {
            mismatches += wav.s16[2 * n] != static_cast<std::int16_t>(static_cast<int>(n % 65536) - 32768);
            mismatches += wav.s16[2 * n + 1] != to_s16(sine(n, 48000));
        }
        CHECK(mismatches == 0);
    }
    SUBCASE("48 kHz f32 → 44.1 kHz s16: resampled, SNR >= 90 dB") {
        const std::string path = temp_path("render-resampled");
        render_through("wav:" + path + "?rate=44100&sample=s16&period=10", 44100, 48000 + 4800);
        const auto wav = read_wav(path);
        std::remove(path.c_str());
        CHECK(wav.rate == 44100);
        REQUIRE(wav.f32.size() == 2u * 44100);
        std::vector<float> right(44100);
        for (std::size_t n = 0; n < right.size(); ++n) right[n] = wav.f32[2 * n + 1];
        // Skip the resampler's latency (about 300 frames of silence) and a margin at both ends.
        const double snr = ae::test::snr_db(right, 44100, tone_hz, 2000, 500);
        MESSAGE("48k f32 -> 44.1k s16 through the pipeline: SNR ", snr, " dB");
        CHECK(snr >= 90);
    }
}

namespace {
// Writes `frames` frames of the test signal as a stereo s16 wav at `rate`.
void write_wav(const std::string& path, int rate, std::uint64_t frames) {
    SF_INFO info{};
    info.samplerate = rate;
    info.channels = 2;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
    REQUIRE(file != nullptr);
    std::vector<std::int16_t> samples(2 * frames);
    for (std::uint64_t n = 0; n < frames; ++n) {
        samples[2 * n] = static_cast<std::int16_t>(static_cast<int>(n % 65536) - 32768);
        samples[2 * n + 1] = to_s16(sine(n, rate));
    }
    sf_writef_short(file, samples.data(), static_cast<sf_count_t>(frames));
    sf_close(file);
}

} // namespace

TEST_CASE("capture end to end: offline wav → chain → endpoint → engine") {
    SUBCASE("48 kHz s16 file → 48 kHz f32 endpoint: sample-exact") {
        const std::string path = temp_path("capture-exact");
        write_wav(path, 48000, 48000);
        const auto received = capture_through("wav:" + path + "?period=10");
        std::remove(path.c_str());
        REQUIRE(received.size() >= 2u * 48000);
        std::size_t mismatches = 0;
        for (std::uint64_t n = 0; n < 48000; ++n) {
            mismatches += received[2 * n] != marker(n);
            mismatches += received[2 * n + 1] != static_cast<float>(to_s16(sine(n, 48000))) / 32768.0f;
        }
        CHECK(mismatches == 0);
        // Exactly the file: the last period's padding is not part of the stream.
        CHECK(received.size() == 2u * 48000);
    }
    SUBCASE("44.1 kHz s16 file → 48 kHz f32 endpoint: resampled, SNR >= 90 dB") {
        const std::string path = temp_path("capture-resampled");
        write_wav(path, 44100, 44100);
        const auto received = capture_through("wav:" + path + "?period=10");
        std::remove(path.c_str());
        // Every frame of the file arrives: 44,100 at 44.1 kHz make 48,000 at 48 kHz, after the
        // resampler's leading silence, with its tail flushed at the end of the stream.
        REQUIRE(received.size() >= 2u * 48000);
        std::vector<float> right(received.size() / 2);
        for (std::size_t n = 0; n < right.size(); ++n) right[n] = received[2 * n + 1];
        right.resize(47000); // the file's end (and the filter's tail) are not a steady sine
        const double snr = ae::test::snr_db(right, 48000, tone_hz, 2000, 500);
        MESSAGE("44.1k s16 -> 48k f32 through the pipeline: SNR ", snr, " dB");
        CHECK(snr >= 90);
    }
    SUBCASE("44.1 kHz file into a 600-frame buffer: smaller than the resampler's bursts and nothing lost") {
        // soxr's offline bursts (892 frames from a 10 ms period) do not fit: the chain holds what
        // the ring has no room for, and the device, at the end of the stream, waits until it is out.
        const std::string path = temp_path("capture-small-ring");
        write_wav(path, 44100, 44100);
        const auto small = capture_through("wav:" + path + "?period=10", 0, 600);
        const auto large = capture_through("wav:" + path + "?period=10");
        std::remove(path.c_str());
        REQUIRE(large.size() >= 2u * 48000);
        CHECK(small == large);
    }
}

namespace {
// A render chain at a rate seam, the test as its engine: a pass after every 128-frame device
// period, a constant signal, the non-silent frames counted.
struct seam_rig {
    ae::frame_format device_format{48'000, 2, ae::sample_type::f32};
    ae::render_endpoint_core endpoint{1};
    std::unique_ptr<render_chain> playing;
    std::vector<float> out = std::vector<float>(128 * 2);
    std::uint64_t written = 0;
    std::uint64_t nonzero_frames = 0;
    std::uint64_t periods = 0;

    seam_rig(const ae::frame_format& format, std::uint32_t packet, std::uint64_t buffer) {
        REQUIRE_FALSE(endpoint.set_buffer(format, packet, buffer));
        auto chain = render_chain::create(endpoint, device_format, 128);
        REQUIRE(chain);
        REQUIRE_FALSE(endpoint.start());
        playing = std::move(*chain);
        pass();
        for (int i = 0; i < 40; ++i) period();
    }
    void pass() {
        (void)ae::test::render_pass(endpoint.rt(), written, ~std::uint64_t{0}, [](std::uint64_t, float* frame) { frame[0] = frame[1] = 0.25f; });
    }
    void period() {
        playing->render(out.data(), 128);
        for (std::size_t i = 0; i < 128; ++i) nonzero_frames += out[i * 2] != 0.0f;
        ++periods;
        if (playing->handed_over()) playing = playing->take_successor();
        pass();
    }
    // The successor goes first (as the control plane sends it), then the new ring; runs to the
    // hand-over and 40 periods past it. Returns the periods it took to hand over.
    int change_to(const ae::frame_format& format, std::uint32_t packet, std::uint64_t buffer) {
        auto successor = render_chain::create(endpoint, format, device_format, 128);
        REQUIRE(successor);
        playing->set_successor(std::move(*successor));
        REQUIRE_FALSE(endpoint.reconfigure(format, packet, buffer));
        const render_chain* old_chain = playing.get();
        int periods_to_seam = 0;
        for (; periods_to_seam < 40 && playing.get() == old_chain; ++periods_to_seam) period();
        CHECK(playing.get() != old_chain); // handed over
        for (int i = 0; i < 40; ++i) period();
        return periods_to_seam;
    }
    // Glitch records by kind, each one shown.
    std::array<std::size_t, ae::glitch_kind_count + 1> glitches() {
        std::array<std::size_t, ae::glitch_kind_count + 1> by_kind{};
        endpoint.drain_glitches([&](const ae::glitch_record& r) {
            ++by_kind[static_cast<std::size_t>(r.kind)];
            MESSAGE("glitch ", std::string(ae::to_string(r.kind)), " at ", r.stream_position, " frames ", r.frames);
        });
        return by_kind;
    }
};
} // namespace

TEST_CASE("rate seam: a resampler that empties the old ring in one block hands over before the engine fills the new one") {
    // 44.1 kHz resampled to a 48 kHz device (128-frame periods), then 48 kHz straight through with
    // a ring of two periods. The resampler takes its input in blocks: its last block can empty
    // the old ring while the engine, which counts the old ring's frames in its padding, has not
    // written the new one yet. That is the seam (the old rate's tail plays meanwhile), not an
    // underrun.
    seam_rig rig({44'100, 2, ae::sample_type::f32}, 118, 866);
    const int periods_to_seam = rig.change_to({48'000, 2, ae::sample_type::f32}, 128, 256);
    const auto glitches = rig.glitches();
    MESSAGE("periods to the seam: ", periods_to_seam, ", non-silent frames: ", rig.nonzero_frames, " of ", rig.periods * 128);
    CHECK(glitches[static_cast<std::size_t>(ae::glitch_kind::underrun)] == 0);
    CHECK(glitches[static_cast<std::size_t>(ae::glitch_kind::dropped)] == 0);
    // No silence anywhere: not at the start (the resampler's primed delay is skipped), not at the seam.
    CHECK(rig.periods == 40 + static_cast<std::uint64_t>(periods_to_seam) + 40);
    CHECK(rig.nonzero_frames == rig.periods * 128);
}

TEST_CASE("rate seam: a successor whose filter starts before the seam waits for the new ring without an underrun (2-period ring, 48k -> 44.1k)") {
    // 48 kHz straight through with a ring of two 128-frame periods, then 44.1 kHz resampled (a
    // ring of four periods: the test's engine passes only after each period, and a resampler
    // fed that way needs more than two). The successor's output starts its filter delay (more
    // than the two periods still queued) before the seam, while the engine has not written the
    // new ring yet: that stretch is the filter's pre-ringing of input still to come, not audio
    // that is missing. The old chain plays to the seam, the successor from it; no underrun, no
    // late pass, no silent frame.
    seam_rig rig({48'000, 2, ae::sample_type::f32}, 128, 256);
    rig.change_to({44'100, 2, ae::sample_type::f32}, 118, 472);
    const auto glitches = rig.glitches();
    std::size_t total = 0;
    for (const std::size_t n : glitches) total += n;
    ae::position pos;
    (void)rig.endpoint.rt().current_padding(&pos);
    CHECK(total == 0);
    CHECK((pos.flags & ae::position_flags::discontinuous) != ae::position_flags::discontinuous);
    CHECK(rig.nonzero_frames == rig.periods * 128);
}

TEST_CASE("rate seam, capture: the old epoch ends with its last whole frame, the new one starts the instant after, no time is lost or added") {
    // A 48 kHz device captured at 32 kHz, then at 48 kHz. When the ring changes rate the 32 kHz
    // filter still holds its delay (~180 frames) of frames it cannot finish without the device
    // frames after the switch: the 32 kHz epoch ends with the last frame it made whole, and the
    // 48 kHz epoch starts at that frame's end, made from the device frames the old chain kept.
    const ae::frame_format device_format{48'000, 2, ae::sample_type::f32};
    ae::capture_endpoint_core endpoint{1};
    REQUIRE_FALSE(endpoint.set_buffer({32'000, 2, ae::sample_type::f32}, 320, 4096));
    auto chain = capture_chain::create(endpoint, device_format, 128);
    REQUIRE(chain);
    REQUIRE_FALSE(endpoint.start());
    std::unique_ptr<capture_chain> recording = std::move(*chain);
    std::vector<float> in(128 * 2, 0.25f);
    std::uint64_t frames_by_epoch[3] = {};
    std::uint64_t device_frames = 0, device_frames_at_switch = 0;
    std::vector<float> first_epoch; // channel 0 of the 32 kHz epoch
    auto read_all = [&] {
        ae::capture_endpoint_rt& rt = endpoint.rt();
        for (int packets = 0; packets < 64; ++packets) {
            const std::uint64_t ready = rt.current_padding();
            if (ready == 0) break;
            ae::connection_property p{nullptr, static_cast<std::uint32_t>(std::min<std::uint64_t>(ready, rt.frames_per_packet())),
                                      ae::buffer_flags::invalid};
            ae::position stamp;
            if (rt.input_data_pointer(p, &stamp) != ae::errc{}) break;
            if (stamp.epoch >= 1 && stamp.epoch <= 2) frames_by_epoch[stamp.epoch] += p.valid_frames;
            if (stamp.epoch == 1) {
                const auto* samples = reinterpret_cast<const float*>(p.buffer);
                for (std::uint32_t i = 0; i < p.valid_frames; ++i) first_epoch.push_back(samples[std::size_t{i} * 2]);
            }
            rt.release_input_data_pointer(p.valid_frames, p.buffer);
        }
        rt.processing_complete();
    };
    auto period = [&] {
        recording->capture(in.data(), 128);
        device_frames += 128;
        if (recording->handed_over()) recording = recording->take_successor();
        read_all();
    };
    for (int i = 0; i < 50; ++i) period();
    auto successor = capture_chain::create(endpoint, {48'000, 2, ae::sample_type::f32}, device_format, 128);
    REQUIRE(successor);
    recording->set_successor(std::move(*successor));
    REQUIRE_FALSE(endpoint.reconfigure({48'000, 2, ae::sample_type::f32}, 480, 4096));
    device_frames_at_switch = device_frames; // the next period is the new epoch's first
    for (int i = 0; i < 50; ++i) period();
    std::size_t dropped = 0, overruns = 0;
    endpoint.drain_glitches([&](const ae::glitch_record& r) {
        dropped += r.kind == ae::glitch_kind::dropped;
        overruns += r.kind == ae::glitch_kind::overrun;
    });
    const double expected_32k = static_cast<double>(device_frames_at_switch) * 32'000 / 48'000;
    // The input is a constant 0.25 from the first device frame: its 32 kHz image rises through
    // half way where it starts (after the filter's delay) and stays up to the epoch's end.
    REQUIRE(first_epoch.size() > 1000);
    std::size_t up = 0;
    while (up < first_epoch.size() && first_epoch[up] < 0.125f) ++up;
    const double old_seconds = static_cast<double>(first_epoch.size() - up) / 32'000;
    const double new_seconds = static_cast<double>(frames_by_epoch[2]) / 48'000;
    const double device_seconds = static_cast<double>(device_frames) / 48'000;
    MESSAGE("32 kHz epoch: ", frames_by_epoch[1], " frames, the signal in it ", first_epoch.size() - up, " frames for ", expected_32k,
            " of device time to the switch; 48 kHz epoch: ", frames_by_epoch[2], " for ", device_frames - device_frames_at_switch,
            "; the two epochs hold ", (old_seconds + new_seconds) * 48'000, " device frames' time of ", device_frames);
    CHECK(dropped == 0);
    CHECK(overruns == 0);
    CHECK(first_epoch.back() > 0.2f); // no filter flushed with silence at the old epoch's end
    // The old epoch ends before the switch by about its filter's delay; the new one covers the rest.
    CHECK(static_cast<double>(first_epoch.size() - up) < expected_32k);
    // Not a frame of time lost or added across the seam (within a 48 kHz frame).
    CHECK(std::abs(old_seconds + new_seconds - device_seconds) * 48'000 <= 1.0);
}
