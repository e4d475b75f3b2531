// openae — the payloads of an RTP audio stream: L16 (RFC 3551: big-endian 16-bit PCM) and Opus
// (RFC 7587, libopus). Interleaved f32 frames in and out. Made off the RT side; encode/decode run
// on a device's network I/O thread (never on an ae-rt thread), without allocating.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/device_error.h>
#include <openae/pipeline/sdp.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <span>

namespace ae::pipeline {

struct opus_settings {
    std::uint32_t bitrate = 0;     // bits/s; 0: libopus's choice for the channels
    std::uint32_t complexity = 10; // 0..10
    bool fec = false;              // in-band forward error correction (LBRR)
    std::uint32_t loss_percent = 0; // expected loss: how much redundancy FEC spends
};

class rtp_encoder {
public:
    [[nodiscard]] static std::expected<rtp_encoder, device_error> create(rtp_codec codec, std::uint32_t rate,
                                                                         std::uint16_t channels, const opus_settings& opus = {});
    rtp_encoder(rtp_encoder&&) noexcept;
    rtp_encoder& operator=(rtp_encoder&&) noexcept;
    ~rtp_encoder();
    // `frames` frames (for Opus one of 2.5/5/10/20/40/60 ms) into `out`; the payload's bytes, or 0
    // when it cannot (out too small, an Opus error).
    [[nodiscard]] std::size_t encode(const float* in, std::uint32_t frames, std::span<std::byte> out) noexcept;

private:
    struct state;
    explicit rtp_encoder(std::unique_ptr<state> s) noexcept;
    std::unique_ptr<state> state_;
};

// Whether an Opus packet carries in-band FEC (SILK's LBRR data) for the packet before it. Only
// SILK and hybrid packets can: an encoder in CELT mode (high bitrates, frames under 10 ms) sends
// none even with FEC on. Read from the packet's first bits (RFC 6716 4.2.4); libopus 1.3 has no call.
// rt-safe: wait-free
[[nodiscard]] bool opus_has_redundancy(std::span<const std::byte> payload) noexcept;

class rtp_decoder {
public:
    [[nodiscard]] static std::expected<rtp_decoder, device_error> create(rtp_codec codec, std::uint32_t rate,
                                                                         std::uint16_t channels);
    rtp_decoder(rtp_decoder&&) noexcept;
    rtp_decoder& operator=(rtp_decoder&&) noexcept;
    ~rtp_decoder();
    // The frames `payload` holds, 0 when it is not a valid payload of this codec.
    [[nodiscard]] std::uint32_t frames_in(std::span<const std::byte> payload) const noexcept;
    // Decodes into `out` (room for `capacity` frames): the frames written, 0 for a payload that
    // does not decode (or does not fit).
    [[nodiscard]] std::uint32_t decode(std::span<const std::byte> payload, float* out, std::uint32_t capacity) noexcept;
    // `frames` frames standing in for a lost packet: Opus's packet-loss concealment, silence for L16.
    void conceal(float* out, std::uint32_t frames) noexcept;
    // Opus with in-band FEC: the lost packet before `next_payload`, rebuilt from its redundancy.
    // false (nothing written) for L16, an undecodable packet, or one without redundancy.
    [[nodiscard]] bool recover(std::span<const std::byte> next_payload, float* out, std::uint32_t frames) noexcept;
    [[nodiscard]] std::uint16_t channels() const noexcept;

private:
    struct state;
    explicit rtp_decoder(std::unique_ptr<state> s) noexcept;
    std::unique_ptr<state> state_;
};

} // namespace ae::pipeline

#pragma GCC visibility pop
