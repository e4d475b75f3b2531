// RTP pieces without a network: packets and RTCP (written, read back, refused when malformed),
// the SDP, the payloads, and the receiver's jitter buffer and drift control on a simulated clock.
#include <openae/pipeline/devices.h>
#include <openae/pipeline/rtp_codec.h>
#include <openae/pipeline/rtp_packet.h>
#include <openae/pipeline/rtp_receiver.h>
#include <openae/pipeline/sdp.h>
#include <openae/rt/errc.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <random>
#include <vector>

using namespace ae;
using namespace ae::pipeline;

namespace {

std::vector<std::byte> bytes(std::initializer_list<int> values) {
    std::vector<std::byte> out;
    for (const int v : values) out.push_back(static_cast<std::byte>(v));
    return out;
}

std::vector<std::byte> make_packet(const rtp_header& h, std::span<const std::byte> payload) {
    std::vector<std::byte> out(rtp_header_bytes + payload.size());
    REQUIRE(write_rtp_header(h, out) == rtp_header_bytes);
    std::memcpy(out.data() + rtp_header_bytes, payload.data(), payload.size());
    return out;
}

} // namespace

TEST_CASE("rtp: a header written is read back - CSRCs and extension and padding are skipped") {
    const rtp_header h{.payload_type = 97, .marker = true, .sequence = 65535, .timestamp = 0xdeadbeef, .ssrc = 0x01020304};
    const auto payload = bytes({1, 2, 3, 4});
    const auto packet = make_packet(h, payload);
    const auto parsed = parse_rtp(packet);
    REQUIRE(parsed);
    CHECK(parsed->header.payload_type == 97);
    CHECK(parsed->header.marker);
    CHECK(parsed->header.sequence == 65535);
    CHECK(parsed->header.timestamp == 0xdeadbeef);
    CHECK(parsed->header.ssrc == 0x01020304);
    REQUIRE(parsed->payload.size() == 4);
    CHECK(parsed->payload[3] == std::byte{4});

    // V=2, P, X, CC=1; one CSRC, a one-word extension, payload 0xAA 0xBB, then 2 bytes of padding.
    const auto full = bytes({0xb1, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, /*csrc*/ 9, 9, 9, 9, /*ext*/ 0xbe, 0xde, 0, 1, 7, 7, 7, 7,
                             0xaa, 0xbb, 0, 2});
    const auto complex = parse_rtp(full);
    REQUIRE(complex);
    REQUIRE(complex->payload.size() == 2);
    CHECK(complex->payload[0] == std::byte{0xaa});
    CHECK(complex->payload[1] == std::byte{0xbb});
}

TEST_CASE("rtp: malformed packets are refused with their reason") {
    CHECK(parse_rtp(bytes({0x80, 96, 0, 1})).error() == packet_error::truncated);
    CHECK(parse_rtp(bytes({0x40, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 1})).error() == packet_error::bad_version);
    CHECK(parse_rtp(bytes({0x80, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3})).error() == packet_error::empty_payload);
    // 15 CSRCs announced, none there.
    CHECK(parse_rtp(bytes({0x8f, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2})).error() == packet_error::truncated);
    // An extension longer than the packet.
    CHECK(parse_rtp(bytes({0x90, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xbe, 0xde, 0xff, 0xff, 1})).error() == packet_error::truncated);
    // Padding of 0 and padding longer than the payload.
    CHECK(parse_rtp(bytes({0xa0, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 1, 0})).error() == packet_error::bad_padding);
    CHECK(parse_rtp(bytes({0xa0, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 1, 9})).error() == packet_error::bad_padding);
    CHECK(std::string(to_string(packet_error::bad_padding)) == "bad_padding");
}

TEST_CASE("rtcp: a sender report and a receiver report are read back - garbage is refused") {
    std::vector<std::byte> out(256);
    const rtcp_sender_info info{.ntp_time = 0x0123456789abcdefull, .rtp_timestamp = 42, .packet_count = 7, .octet_count = 9000};
    const std::size_t sr = write_sender_report(0xabcdef01, info, "openae@test", out);
    REQUIRE(sr > 28);
    CHECK(sr % 4 == 0);
    const auto read = parse_rtcp(std::span<const std::byte>(out.data(), sr));
    REQUIRE(read);
    CHECK(read->sender_ssrc == 0xabcdef01);
    REQUIRE(read->has_sender_info);
    CHECK(read->sender_info.ntp_time == info.ntp_time);
    CHECK(read->sender_info.rtp_timestamp == 42);
    CHECK(read->sender_info.packet_count == 7);
    CHECK(read->sender_info.octet_count == 9000);
    CHECK(ntp_middle(info.ntp_time) == 0x456789ab);

    const rtcp_report_block block{.ssrc = 5, .fraction_lost = 64, .cumulative_lost = -3, .highest_sequence = 0x10005,
                                  .jitter = 77, .last_sender_report = 0x11112222, .delay_since_last_sender_report = 65536};
    const std::size_t rr = write_receiver_report(6, block, "x", out);
    REQUIRE(rr > 32);
    const auto report = parse_rtcp(std::span<const std::byte>(out.data(), rr));
    REQUIRE(report);
    CHECK_FALSE(report->has_sender_info);
    REQUIRE(report->report_count == 1);
    const auto& b = report->reports[0];
    CHECK(b.ssrc == 5);
    CHECK(b.fraction_lost == 64);
    CHECK(b.cumulative_lost == -3);
    CHECK(b.highest_sequence == 0x10005);
    CHECK(b.jitter == 77);
    CHECK(b.last_sender_report == 0x11112222);
    CHECK(b.delay_since_last_sender_report == 65536);

    // Truncated anywhere but between its two packets (an RR alone is a whole compound): refused,
    // never read past the end.
    for (std::size_t cut = 0; cut < rr; ++cut) {
        if (cut != 32) CHECK_FALSE(parse_rtcp(std::span<const std::byte>(out.data(), cut)));
    }
    CHECK(parse_rtcp(bytes({0x80, 202, 0, 0})).error() == packet_error::not_rtcp);  // starts with SDES
    CHECK(parse_rtcp(bytes({0x80, 96, 0, 0})).error() == packet_error::not_rtcp);   // an RTP packet
    CHECK(parse_rtcp(bytes({0x81, 201, 0, 1, 0, 0, 0, 1})).error() == packet_error::truncated); // a block announced, absent
}

TEST_CASE("sdp: openae's SDP reads back - ffmpeg's L16 and Opus SDPs read") {
    const sdp_stream l16{.address = "127.0.0.1", .port = 5004, .payload_type = 96, .codec = rtp_codec::l16, .rate = 44100,
                         .channels = 1, .ptime_ms = 5};
    const auto back = read_sdp(write_sdp(l16));
    REQUIRE(back);
    CHECK(back->address == "127.0.0.1");
    CHECK(back->port == 5004);
    CHECK(back->payload_type == 96);
    CHECK(back->codec == rtp_codec::l16);
    CHECK(back->rate == 44100);
    CHECK(back->channels == 1);
    CHECK(back->ptime_ms == 5);

    const char* ffmpeg_l16 = "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=No Name\nc=IN IP4 127.0.0.1\nt=0 0\na=tool:libavformat 59.27.100\n"
                             "m=audio 6000 RTP/AVP 97\nb=AS:1536\na=rtpmap:97 L16/48000/2\n";
    const auto l = read_sdp(ffmpeg_l16);
    REQUIRE(l);
    CHECK(l->payload_type == 97);
    CHECK(l->port == 6000);
    CHECK(l->channels == 2);
    const char* ffmpeg_opus = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 6002 RTP/SAVP 97\r\na=rtpmap:97 opus/48000/2\r\n"
                              "a=fmtp:97 sprop-stereo=1\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo1Njc4\r\n";
    const auto o = read_sdp(ffmpeg_opus);
    REQUIRE(o);
    CHECK(o->codec == rtp_codec::opus);
    CHECK(o->channels == 2);
    CHECK(o->crypto_suite == "AES_CM_128_HMAC_SHA1_80");
    CHECK(o->crypto_key == "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo1Njc4");

    CHECK(read_sdp("v=0\nm=video 5000 RTP/AVP 96\n").error().code == errc::bad_argument);
    CHECK(read_sdp("m=audio 5000 RTP/AVP 96\na=rtpmap:96 PCMU/8000\n").error().code == errc::unsupported_format);
    CHECK(read_sdp("m=audio 0 RTP/AVP 96\n").error().code == errc::bad_argument);
    CHECK(read_sdp("m=audio 5000 RTP/AVP 96\n").error().code == errc::bad_argument); // no rtpmap for a dynamic type
    const auto static_type = read_sdp("m=audio 5000 RTP/AVP 10\n");
    REQUIRE(static_type);
    CHECK(static_type->rate == 44100);
    CHECK(static_type->channels == 2);
}

TEST_CASE("rtp codecs: L16 is exact for s16 samples - Opus keeps a tone") {
    auto enc = rtp_encoder::create(rtp_codec::l16, 48000, 2);
    auto dec = rtp_decoder::create(rtp_codec::l16, 48000, 2);
    REQUIRE(enc);
    REQUIRE(dec);
    std::vector<float> in(2 * 480), out(2 * 480);
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(static_cast<int>(i * 131 % 65536) - 32768) / 32768.0f;
    in[0] = 1.0f; // clipped to 32767
    std::vector<std::byte> payload(2000);
    const std::size_t size = enc->encode(in.data(), 480, payload);
    CHECK(size == 480 * 4);
    CHECK(payload[0] == std::byte{0x7f});
    CHECK(payload[1] == std::byte{0xff});
    CHECK(dec->frames_in({payload.data(), size}) == 480);
    REQUIRE(dec->decode({payload.data(), size}, out.data(), 480) == 480);
    CHECK(out[0] == 32767.0f / 32768.0f);
    for (std::size_t i = 1; i < in.size(); ++i) REQUIRE(out[i] == in[i]);
    CHECK(dec->frames_in({payload.data(), 3}) == 0); // not whole frames

    auto opus_enc = rtp_encoder::create(rtp_codec::opus, 48000, 2, {.bitrate = 128000});
    auto opus_dec = rtp_decoder::create(rtp_codec::opus, 48000, 2);
    REQUIRE(opus_enc);
    REQUIRE(opus_dec);
    CHECK(rtp_encoder::create(rtp_codec::opus, 44100, 2).error().code == errc::unsupported_format);
    // 20 packets of 10 ms of a 1 kHz tone; the last 10 compared after the codec's delay.
    double signal_energy = 0, error_energy = 0;
    std::vector<float> tone(2 * 480), decoded(2 * 480);
    std::vector<float> all_in, all_out;
    for (int p = 0; p < 20; ++p) {
        for (int i = 0; i < 480; ++i) tone[2 * i] = tone[2 * i + 1] = static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * 1000 * (p * 480 + i) / 48000.0));
        const std::size_t bytes = opus_enc->encode(tone.data(), 480, payload);
        REQUIRE(bytes > 0);
        REQUIRE(opus_dec->decode({payload.data(), bytes}, decoded.data(), 480) == 480);
        all_in.insert(all_in.end(), tone.begin(), tone.end());
        all_out.insert(all_out.end(), decoded.begin(), decoded.end());
    }
    // Opus delays by 6.5 ms (312 frames) at 48 kHz: find the lag, then the SNR.
    std::size_t best_lag = 0;
    double best = -1e9;
    for (std::size_t lag = 0; lag < 480; ++lag) {
        double c = 0;
        for (std::size_t i = 4800; i < 9600; ++i) c += all_in[2 * (i - lag)] * all_out[2 * i];
        if (c > best) { best = c; best_lag = lag; }
    }
    for (std::size_t i = 4800; i < 9600; ++i) {
        signal_energy += all_in[2 * (i - best_lag)] * all_in[2 * (i - best_lag)];
        const double e = all_out[2 * i] - all_in[2 * (i - best_lag)];
        error_energy += e * e;
    }
    const double snr = 10 * std::log10(signal_energy / error_energy);
    MESSAGE("opus at 128 kbit/s: lag ", best_lag, " frames, SNR ", snr, " dB");
    CHECK(best_lag % 48 == 312 % 48); // the tone repeats every 48 frames
    CHECK(snr > 20);
    // A payload that is not Opus decodes to nothing; concealment gives frames.
    const auto junk = bytes({0xff, 0xff, 0xff});
    CHECK(opus_dec->decode(junk, decoded.data(), 480) == 0);
    opus_dec->conceal(decoded.data(), 480);
}

TEST_CASE("rtp codecs: Opus packets say whether they carry FEC - recovery only from those") {
    // At 24 kbit/s with 20 ms frames Opus codes a voice with SILK (hybrid), where in-band FEC
    // lives; without fec=1 no packet carries any. (Checked against libopus itself: decode_fec on
    // a packet differs from plain concealment exactly when the flag is set.)
    const auto count_redundant = [](bool fec, int& recovered) {
        auto enc = rtp_encoder::create(rtp_codec::opus, 48000, 2, {.bitrate = 24000, .complexity = 10, .fec = fec, .loss_percent = 20});
        auto dec = rtp_decoder::create(rtp_codec::opus, 48000, 2);
        REQUIRE(enc);
        REQUIRE(dec);
        std::mt19937 random(4);
        std::normal_distribution<float> noise(0, 0.02f);
        std::vector<float> frames(2 * 960), out(2 * 960);
        std::vector<std::byte> payload(1500);
        int redundant = 0;
        recovered = 0;
        for (int p = 0; p < 50; ++p) {
            for (int i = 0; i < 960; ++i) {
                const double t = (p * 960 + i) / 48000.0;
                // A voice-like buzz: a 150 Hz sawtooth, its level moving at 4 Hz (SILK codes it as
                // active speech; a pure tone was coded as inactive, with no redundancy).
                const double phase = std::fmod(t * 150, 1.0);
                frames[2 * i] = frames[2 * i + 1] = static_cast<float>(0.4 * (2 * phase - 1) * (0.5 + 0.5 * std::sin(2 * std::numbers::pi * 4 * t))) + noise(random);
            }
            const std::size_t bytes = enc->encode(frames.data(), 960, payload);
            REQUIRE(bytes > 0);
            const std::span<const std::byte> packet{payload.data(), bytes};
            const bool has = opus_has_redundancy(packet);
            redundant += has;
            const bool rebuilt = dec->recover(packet, out.data(), 960);
            CHECK(rebuilt == has);
            recovered += rebuilt;
            REQUIRE(dec->decode(packet, out.data(), 960) == 960);
        }
        return redundant;
    };
    int recovered_with = 0, recovered_without = 0;
    const int with_fec = count_redundant(true, recovered_with);
    const int without_fec = count_redundant(false, recovered_without);
    MESSAGE("of 50 packets, ", with_fec, " carry FEC with fec=1, ", without_fec, " without");
    CHECK(with_fec > 25);
    CHECK(without_fec == 0);
    CHECK(recovered_without == 0);
    // Not Opus, or CELT only (config 16 and up), or empty: none.
    CHECK_FALSE(opus_has_redundancy(bytes({0xff, 0xff, 0xff})));
    CHECK_FALSE(opus_has_redundancy({}));
}

TEST_CASE("rtp device specs: bad ones are refused by name - keys never appear in what is shown") {
    using pipeline::make_device;
    const auto capture = endpoint_direction::capture;
    const auto render = endpoint_direction::render;
    CHECK(redact_spec("rtp:1.2.3.4:5000?srtp=AES_CM_128_HMAC_SHA1_80&key=SECRET&ptime=5") ==
          "rtp:1.2.3.4:5000?srtp=AES_CM_128_HMAC_SHA1_80&key=<redacted>&ptime=5");
    CHECK(redact_spec("null?rate=48000") == "null?rate=48000");
    CHECK(redact_spec("x?password=p") == "x?password=<redacted>");

    const std::string key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo1Njc4";
    auto made = make_device("rtp:127.0.0.1:40000?srtp=AES_CM_128_HMAC_SHA1_80&key=" + key, render);
    REQUIRE(made);
    CHECK((*made)->spec().find(key) == std::string::npos);
    // Each refusal names what is wrong and never the key.
    const auto refused = [&](const std::string& spec, endpoint_direction d, errc code, const std::string& says) {
        CAPTURE(spec);
        const auto r = make_device(spec, d);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == code);
        CHECK(r.error().message.find(says) != std::string::npos);
        CHECK(r.error().message.find(key) == std::string::npos);
    };
    refused("rtp:127.0.0.1:40000?srtp=AES_CM_128_HMAC_SHA1_80", render, errc::bad_argument, "srtp needs key");
    refused("rtp:127.0.0.1:40000?srtp=AES_CM_128_HMAC_SHA1_80&key=auto", capture, errc::bad_argument, "key=auto only when sending");
    refused("rtp:127.0.0.1:40000?srtp=NULL_CIPHER&key=" + key, render, errc::unsupported_format, "NULL_CIPHER");
    refused("rtp:127.0.0.1:40000?srtp=AES_CM_128_HMAC_SHA1_80&key=" + key.substr(4), render, errc::bad_argument, "not base64 of 30 bytes");
    refused("rtp:127.0.0.1:40000?key=" + key, render, errc::bad_argument, "key without srtp");
    refused("rtp:127.0.0.1?codec=l16", render, errc::bad_argument, "HOST:PORT");
    refused("rtp:127.0.0.1:65535", render, errc::bad_argument, "bad port");
    refused("rtp:127.0.0.1:40000?codec=g711", render, errc::unsupported_format, "g711");
    refused("rtp:127.0.0.1:40000?codec=opus&rate=44100", render, errc::unsupported_format, "48000");
    refused("rtp:127.0.0.1:40000?codec=opus&ptime=7", render, errc::bad_argument, "ptime");
    refused("rtp:127.0.0.1:40000?ptime=20&rate=48000&channels=2", render, errc::bad_argument, "1400 bytes");
    refused("rtp:127.0.0.1:40000?sdp=/nonexistent/x.sdp", capture, errc::device_unavailable, "cannot read the SDP");
    refused("rtp:127.0.0.1:40000?colour=blue", render, errc::bad_argument, "colour");
    refused("rtp:127.0.0.1:40000?latency=4&period=2.5", capture, errc::bad_argument, "leaves no time for jitter");
    // Drift control's resampler holds 100 frames (2.08 ms at 48 kHz) the ring does not show.
    refused("rtp:127.0.0.1:40000?latency=6.5&period=2.5", capture, errc::bad_argument, "at least 7.08 ms");
    refused("rtp:127.0.0.1:40000?latency=17&period=2.5&rate=8000", capture, errc::bad_argument, "at least 17.50 ms");
    CHECK(make_device("rtp:127.0.0.1:40000?latency=7.1&period=2.5", capture).has_value());
    CHECK(make_device("rtp:127.0.0.1:40000?latency=5&period=2.5&drift=0", capture).has_value());
}
