// L16 and Opus payloads.
#include <openae/pipeline/rtp_codec.h>

#include <openae/rt/errc.h>

#include <opus/opus.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace ae::pipeline {
namespace {

device_error codec_error(errc code, const std::string& why) { return {make_error_code(code), "rtp codec: " + why}; }

// The pipeline's own f32 -> s16 rule (convert.cpp): x 32768, nearest, clipped; so a sample that
// came from s16 goes back to the same s16.
std::int16_t to_s16(float sample) noexcept {
    const float scaled = std::nearbyint(sample * 32768.0f);
    return static_cast<std::int16_t>(std::clamp(scaled, -32768.0f, 32767.0f));
}

} // namespace

struct rtp_encoder::state {
    rtp_codec codec;
    std::uint16_t channels;
    OpusEncoder* opus = nullptr;
    ~state() {
        if (opus) opus_encoder_destroy(opus);
    }
};

rtp_encoder::rtp_encoder(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}
rtp_encoder::rtp_encoder(rtp_encoder&&) noexcept = default;
rtp_encoder& rtp_encoder::operator=(rtp_encoder&&) noexcept = default;
rtp_encoder::~rtp_encoder() = default;

std::expected<rtp_encoder, device_error> rtp_encoder::create(rtp_codec codec, std::uint32_t rate, std::uint16_t channels,
                                                             const opus_settings& settings) {
    auto s = std::make_unique<state>();
    s->codec = codec;
    s->channels = channels;
    if (codec == rtp_codec::opus) {
        if (rate != 48000) return std::unexpected(codec_error(errc::unsupported_format, "opus runs at 48000 Hz here"));
        if (channels < 1 || channels > 2) return std::unexpected(codec_error(errc::unsupported_format, "opus carries 1 or 2 channels"));
        int error = 0;
        s->opus = opus_encoder_create(48000, channels, OPUS_APPLICATION_AUDIO, &error);
        if (error != OPUS_OK) return std::unexpected(codec_error(errc::unsupported_format, opus_strerror(error)));
        opus_encoder_ctl(s->opus, OPUS_SET_COMPLEXITY(static_cast<int>(settings.complexity)));
        if (settings.bitrate > 0) opus_encoder_ctl(s->opus, OPUS_SET_BITRATE(static_cast<int>(settings.bitrate)));
        opus_encoder_ctl(s->opus, OPUS_SET_INBAND_FEC(settings.fec ? 1 : 0));
        opus_encoder_ctl(s->opus, OPUS_SET_PACKET_LOSS_PERC(static_cast<int>(settings.loss_percent)));
    }
    return rtp_encoder(std::move(s));
}

std::size_t rtp_encoder::encode(const float* in, std::uint32_t frames, std::span<std::byte> out) noexcept {
    if (state_->codec == rtp_codec::opus) {
        const int bytes = opus_encode_float(state_->opus, in, static_cast<int>(frames), reinterpret_cast<unsigned char*>(out.data()),
                                            static_cast<opus_int32>(std::min<std::size_t>(out.size(), 1275 * 3)));
        return bytes > 0 ? static_cast<std::size_t>(bytes) : 0;
    }
    const std::size_t samples = std::size_t{frames} * state_->channels;
    if (out.size() < samples * 2) return 0;
    auto* bytes = reinterpret_cast<unsigned char*>(out.data());
    for (std::size_t i = 0; i < samples; ++i) {
        const auto v = static_cast<std::uint16_t>(to_s16(in[i]));
        bytes[2 * i] = static_cast<unsigned char>(v >> 8);
        bytes[2 * i + 1] = static_cast<unsigned char>(v & 0xff);
    }
    return samples * 2;
}

struct rtp_decoder::state {
    rtp_codec codec;
    std::uint16_t channels;
    OpusDecoder* opus = nullptr;
    ~state() {
        if (opus) opus_decoder_destroy(opus);
    }
};

rtp_decoder::rtp_decoder(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}
rtp_decoder::rtp_decoder(rtp_decoder&&) noexcept = default;
rtp_decoder& rtp_decoder::operator=(rtp_decoder&&) noexcept = default;
rtp_decoder::~rtp_decoder() = default;

std::expected<rtp_decoder, device_error> rtp_decoder::create(rtp_codec codec, std::uint32_t rate, std::uint16_t channels) {
    auto s = std::make_unique<state>();
    s->codec = codec;
    s->channels = channels;
    if (codec == rtp_codec::opus) {
        if (rate != 48000) return std::unexpected(codec_error(errc::unsupported_format, "opus runs at 48000 Hz here"));
        if (channels < 1 || channels > 2) return std::unexpected(codec_error(errc::unsupported_format, "opus carries 1 or 2 channels"));
        int error = 0;
        s->opus = opus_decoder_create(48000, channels, &error);
        if (error != OPUS_OK) return std::unexpected(codec_error(errc::unsupported_format, opus_strerror(error)));
    }
    return rtp_decoder(std::move(s));
}

std::uint16_t rtp_decoder::channels() const noexcept { return state_->channels; }

std::uint32_t rtp_decoder::frames_in(std::span<const std::byte> payload) const noexcept {
    if (state_->codec == rtp_codec::opus) {
        const int n = opus_packet_get_nb_samples(reinterpret_cast<const unsigned char*>(payload.data()),
                                                 static_cast<opus_int32>(payload.size()), 48000);
        return n > 0 ? static_cast<std::uint32_t>(n) : 0;
    }
    const std::size_t frame_bytes = std::size_t{2} * state_->channels;
    if (payload.size() % frame_bytes != 0) return 0;
    return static_cast<std::uint32_t>(payload.size() / frame_bytes);
}

std::uint32_t rtp_decoder::decode(std::span<const std::byte> payload, float* out, std::uint32_t capacity) noexcept {
    const std::uint32_t frames = frames_in(payload);
    if (frames == 0 || frames > capacity) return 0;
    if (state_->codec == rtp_codec::opus) {
        const int n = opus_decode_float(state_->opus, reinterpret_cast<const unsigned char*>(payload.data()),
                                        static_cast<opus_int32>(payload.size()), out, static_cast<int>(capacity), 0);
        return n > 0 ? static_cast<std::uint32_t>(n) : 0;
    }
    const auto* bytes = reinterpret_cast<const unsigned char*>(payload.data());
    const std::size_t samples = std::size_t{frames} * state_->channels;
    for (std::size_t i = 0; i < samples; ++i) {
        const auto v = static_cast<std::int16_t>(static_cast<std::uint16_t>(bytes[2 * i] << 8 | bytes[2 * i + 1]));
        out[i] = static_cast<float>(v) / 32768.0f;
    }
    return frames;
}

void rtp_decoder::conceal(float* out, std::uint32_t frames) noexcept {
    if (state_->codec == rtp_codec::opus) {
        // PLC works in steps of 2.5 ms: conceal what is asked in the largest steps that fit.
        std::uint32_t done = 0;
        while (done < frames) {
            const int n = opus_decode_float(state_->opus, nullptr, 0, out + std::size_t{done} * state_->channels,
                                            static_cast<int>(frames - done), 0);
            if (n <= 0) break;
            done += static_cast<std::uint32_t>(n);
        }
        if (done < frames) std::memset(out + std::size_t{done} * state_->channels, 0, sizeof(float) * (frames - done) * state_->channels);
        return;
    }
    std::memset(out, 0, sizeof(float) * std::size_t{frames} * state_->channels);
}

bool opus_has_redundancy(std::span<const std::byte> payload) noexcept {
    const auto* data = reinterpret_cast<const unsigned char*>(payload.data());
    const auto size = static_cast<opus_int32>(payload.size());
    if (size < 1) return false;
    const int config = data[0] >> 3;
    if (config >= 16) return false; // CELT only: SILK's redundancy cannot be there
    const unsigned char* frames[48];
    opus_int16 sizes[48];
    if (opus_packet_parse(data, size, nullptr, frames, sizes, nullptr) <= 0 || sizes[0] < 1) return false;
    // RFC 6716 4.2.3-4.2.4: a SILK layer starts with, per channel, a VAD flag per 20 ms SILK frame
    // (one for a 10 or 20 ms Opus frame, two for 40, three for 60) and then the LBRR flag, each
    // coded with probability 1/2 — the first bits of the range coder's first byte.
    const int frame_ms = opus_packet_get_samples_per_frame(data, 48000) / 48;
    const int silk_frames = frame_ms > 20 ? frame_ms / 20 : 1;
    const bool stereo = (data[0] & 0x4) != 0;
    const unsigned first = frames[0][0];
    const bool mid = ((first >> (7 - silk_frames)) & 1u) != 0;
    const bool side = stereo && ((first >> (6 - 2 * silk_frames)) & 1u) != 0;
    return mid || side;
}

bool rtp_decoder::recover(std::span<const std::byte> next_payload, float* out, std::uint32_t frames) noexcept {
    if (state_->codec != rtp_codec::opus || !opus_has_redundancy(next_payload)) return false;
    // (libopus 1.3's decode_fec on a packet without LBRR data is plain concealment.)
    const auto* data = reinterpret_cast<const unsigned char*>(next_payload.data());
    const int n = opus_decode_float(state_->opus, data, static_cast<opus_int32>(next_payload.size()), out, static_cast<int>(frames), 1);
    return n == static_cast<int>(frames);
}

} // namespace ae::pipeline
