// RTP devices over loopback against ffmpeg (5.1) both ways: L16 sample-exact through openae's SDP,
// Opus by correlation and SNR, SRTP. Bounded: ffmpeg runs under `timeout`, every loop has a pass
// limit; device threads and engine passes run under the RT-safety harness.
#include "rtp_peer_rig.h"

#include <doctest/doctest.h>

using namespace ae;
using namespace ae::test;
using namespace ae::test::rtp_peers;

TEST_CASE("rtp peers: openae sends L16 to ffmpeg through its SDP - ffmpeg's WAV is sample-exact") {
    const std::uint16_t port = free_port_pair();
    const auto sdp = scratch("l16-out.sdp");
    const auto wav = scratch("l16-out.wav");
    device_rig<render_endpoint_core> out(
        pipeline::make_device("rtp:127.0.0.1:" + std::to_string(port) + "?sdp=" + sdp.string(), endpoint_direction::render), 1, 4);
    REQUIRE(std::filesystem::exists(sdp));
    constexpr std::uint64_t total = 72000;
    const pid_t ffmpeg = spawn_server({"timeout", "30", "ffmpeg", "-nostdin", "-loglevel", "error", "-protocol_whitelist", "file,udp,rtp", "-i",
                                       sdp.string(), "-t", "3", "-c:a", "pcm_s16le", "-y", wav.string()},
                                      scratch("ffmpeg-l16-out.log").string());
    REQUIRE(ffmpeg > 0);
    REQUIRE(wait_udp_bound(port));
    bool exited = false;
    int status = -1;
    render_while(
        out, [](std::uint64_t n, float* frame) { if (n < total) exact_frame(n, frame); else frame[0] = frame[1] = 0; }, [] {},
        [&] {
            int raw = 0;
            if (!exited && ::waitpid(ffmpeg, &raw, WNOHANG) == ffmpeg) {
                exited = true;
                status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
            }
            return exited;
        });
    REQUIRE(status == 0);
    out.check_device_rt();
    int channels = 0;
    const auto got = read_wav(wav, channels);
    REQUIRE(channels == 2);
    const std::size_t start = exact_start(got);
    REQUIRE(start != std::string::npos);
    AE_CHECK_TIMING(exact_mismatches(got, start, total) == 0);
    MESSAGE("ffmpeg's WAV: ", got.size() / 2, " frames, the signal from frame ", start, ", sent ", stats_of(out).packets_sent, " packets");
}

TEST_CASE("rtp peers: ffmpeg sends L16 to openae - captured sample-exact") {
    const std::uint16_t port = free_port_pair();
    const auto source = scratch("l16-in.wav");
    constexpr std::uint64_t total = 72000;
    write_wav(source, total, [](std::uint64_t n, float* frame) { exact_frame(n, frame); });
    device_rig<capture_endpoint_core> in(
        pipeline::make_device("rtp:127.0.0.1:" + std::to_string(port) + "?drift=0&latency=40", endpoint_direction::capture), 2, 16);
    const pid_t ffmpeg = spawn_server({"timeout", "30", "ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-i", source.string(), "-c:a",
                                       "pcm_s16be", "-f", "rtp", "rtp://127.0.0.1:" + std::to_string(port)},
                                      scratch("ffmpeg-l16-in.log").string());
    REQUIRE(ffmpeg > 0);
    const auto got = capture_until(in, ffmpeg, total);
    const auto stats = stats_of(in);
    MESSAGE("received ", stats.packets, " packets, lost ", stats.lost_packets, ", wrong payload ", stats.wrong_payload, ", malformed ", stats.malformed);
    check_ffmpeg_capture(got, stats, total, 40 * 48);
    CHECK(stats.malformed == 0);
    in.thread->stop();
}

TEST_CASE("rtp peers: Opus both ways with ffmpeg - the tones come through aligned above 30 dB SNR") {
    constexpr std::size_t compared = 48000;
    SUBCASE("openae sends") {
        const std::uint16_t port = free_port_pair();
        const auto sdp = scratch("opus-out.sdp");
        const auto wav = scratch("opus-out.wav");
        device_rig<render_endpoint_core> out(pipeline::make_device("rtp:127.0.0.1:" + std::to_string(port) +
                                                                       "?codec=opus&bitrate=128000&sdp=" + sdp.string(),
                                                                   endpoint_direction::render),
                                             1, 4);
        const pid_t ffmpeg = spawn_server({"timeout", "30", "ffmpeg", "-nostdin", "-loglevel", "error", "-protocol_whitelist", "file,udp,rtp",
                                           "-i", sdp.string(), "-t", "3", "-c:a", "pcm_s16le", "-y", wav.string()},
                                          scratch("ffmpeg-opus-out.log").string());
        REQUIRE(ffmpeg > 0);
        REQUIRE(wait_udp_bound(port));
        bool exited = false;
        int status = -1;
        render_while(
            out, [](std::uint64_t n, float* frame) { frame[0] = frame[1] = n < 96000 ? tones(n) : 0.0f; }, [] {},
            [&] {
                int raw = 0;
                if (!exited && ::waitpid(ffmpeg, &raw, WNOHANG) == ffmpeg) {
                    exited = true;
                    status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
                }
                return exited;
            });
        REQUIRE(status == 0);
        out.check_device_rt();
        int channels = 0;
        const auto got = read_wav(wav, channels);
        REQUIRE(channels == 2);
        const match m = match_tones(got, compared);
        MESSAGE("openae -> ffmpeg, opus: lag ", m.lag, " frames, SNR ", m.snr_db, " dB");
        AE_CHECK_TIMING(m.snr_db > 30);
    }
    SUBCASE("ffmpeg sends") {
        const std::uint16_t port = free_port_pair();
        const auto source = scratch("opus-in.wav");
        write_wav(source, 96000, [](std::uint64_t n, float* frame) { frame[0] = frame[1] = tones(n); });
        device_rig<capture_endpoint_core> in(
            pipeline::make_device("rtp:127.0.0.1:" + std::to_string(port) + "?codec=opus&latency=40", endpoint_direction::capture), 2, 16);
        const pid_t ffmpeg = spawn_server({"timeout", "30", "ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-i", source.string(), "-c:a",
                                           "libopus", "-b:a", "128k", "-frame_duration", "10", "-f", "rtp", "rtp://127.0.0.1:" + std::to_string(port)},
                                          scratch("ffmpeg-opus-in.log").string());
        REQUIRE(ffmpeg > 0);
        const auto got = capture_until(in, ffmpeg, compared + 4800);
        const auto stats = stats_of(in);
        const match m = match_tones(got, compared);
        MESSAGE("ffmpeg -> openae, opus: lag ", m.lag, " frames, SNR ", m.snr_db, " dB; packets ", stats.packets, ", lost ", stats.lost_packets,
                ", concealed ", stats.concealed_frames, ", fresh starts ", stats.discontinuities);
        AE_CHECK_TIMING(m.snr_db > 30);
        CHECK(stats.malformed == 0);
        in.thread->stop();
    }
}

TEST_CASE("rtp peers: SRTP with ffmpeg both ways - L16 sample-exact") {
    constexpr std::uint64_t total = 48000;
    SUBCASE("openae sends with key=auto - ffmpeg reads the key from openae's SDP") {
        const std::uint16_t port = free_port_pair();
        const auto sdp = scratch("srtp-out.sdp");
        const auto wav = scratch("srtp-out.wav");
        device_rig<render_endpoint_core> out(pipeline::make_device("rtp:127.0.0.1:" + std::to_string(port) +
                                                                       "?srtp=AES_CM_128_HMAC_SHA1_80&key=auto&sdp=" + sdp.string(),
                                                                   endpoint_direction::render),
                                             1, 4);
        std::ifstream described(sdp);
        std::stringstream text;
        text << described.rdbuf();
        CHECK(text.str().find("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") != std::string::npos);
        CHECK(text.str().find("RTP/SAVP") != std::string::npos);
        CHECK(out.thread->dev().spec().find("key=<redacted>") != std::string::npos);
        const pid_t ffmpeg = spawn_server({"timeout", "30", "ffmpeg", "-nostdin", "-loglevel", "error", "-protocol_whitelist", "file,udp,rtp",
                                           "-i", sdp.string(), "-t", "2", "-c:a", "pcm_s16le", "-y", wav.string()},
                                          scratch("ffmpeg-srtp-out.log").string());
        REQUIRE(ffmpeg > 0);
        REQUIRE(wait_udp_bound(port));
        bool exited = false;
        int status = -1;
        render_while(
            out, [](std::uint64_t n, float* frame) { if (n < total) exact_frame(n, frame); else frame[0] = frame[1] = 0; }, [] {},
            [&] {
                int raw = 0;
                if (!exited && ::waitpid(ffmpeg, &raw, WNOHANG) == ffmpeg) {
                    exited = true;
                    status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
                }
                return exited;
            });
        REQUIRE(status == 0);
        int channels = 0;
        const auto got = read_wav(wav, channels);
        const std::size_t start = exact_start(got);
        REQUIRE(start != std::string::npos);
        AE_CHECK_TIMING(exact_mismatches(got, start, total) == 0);
    }
    SUBCASE("ffmpeg sends srtp://") {
        const std::uint16_t port = free_port_pair();
        const auto source = scratch("srtp-in.wav");
        write_wav(source, total, [](std::uint64_t n, float* frame) { exact_frame(n, frame); });
        device_rig<capture_endpoint_core> in(pipeline::make_device("rtp:127.0.0.1:" + std::to_string(port) +
                                                                       "?drift=0&latency=40&srtp=AES_CM_128_HMAC_SHA1_80&key=" + test_key,
                                                                   endpoint_direction::capture),
                                             2, 16);
        const pid_t ffmpeg = spawn_server({"timeout", "30", "ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-i", source.string(), "-c:a",
                                           "pcm_s16be", "-f", "rtp", "-srtp_out_suite", "AES_CM_128_HMAC_SHA1_80", "-srtp_out_params", test_key,
                                           "srtp://127.0.0.1:" + std::to_string(port)},
                                          scratch("ffmpeg-srtp-in.log").string());
        REQUIRE(ffmpeg > 0);
        const auto got = capture_until(in, ffmpeg, total);
        const auto stats = stats_of(in);
        MESSAGE("srtp from ffmpeg: ", stats.packets, " packets, ", stats.auth_failed, " failed authentication");
        check_ffmpeg_capture(got, stats, total, 40 * 48);
        CHECK(stats.auth_failed == 0);
        in.thread->stop();
    }
}

