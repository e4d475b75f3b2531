// openae — the SDP (RFC 8866) of one RTP audio stream: written for a sender so standard tools
// (ffmpeg, GStreamer, VLC) can receive it, read from a sender so openae can.
//
// Only what one audio stream needs is read: c=, m=audio, a=rtpmap, a=fmtp (Opus stereo),
// a=ptime and a=crypto (SDES keys for SRTP, RFC 4568). Anything else is skipped; what openae
// cannot carry (video only, an encoding other than L16 and Opus, no port) is an error naming the line.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/device_error.h>

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace ae::pipeline {

enum class rtp_codec : std::uint8_t { l16, opus };

struct sdp_stream {
    std::string address = "127.0.0.1"; // c=IN IP4
    std::uint16_t port = 0;            // m=audio PORT; RTCP on PORT + 1
    std::uint8_t payload_type = 96;
    rtp_codec codec = rtp_codec::l16;
    std::uint32_t rate = 48000;        // the RTP clock (48000 for Opus, always)
    std::uint16_t channels = 2;
    double ptime_ms = 0;               // 0: not said
    std::string crypto_suite{};        // "" : plain RTP
    std::string crypto_key{};          // base64 master key || salt (never logged)
};

[[nodiscard]] std::string write_sdp(const sdp_stream& stream);
// `bad_argument` naming what is missing or malformed; `unsupported_format` for an encoding
// openae does not decode.
[[nodiscard]] std::expected<sdp_stream, device_error> read_sdp(std::string_view text);

} // namespace ae::pipeline

#pragma GCC visibility pop
