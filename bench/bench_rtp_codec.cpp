// CPU per RTP stream: a 48 kHz stereo packet encoded (L16, Opus at 128 kbit/s, complexity 10 and
// 5), decoded, and taken through the receiver (jitter buffer, decode, drift resampler, ring).
// The counter `stream_cpu_percent` is the share of one core a stream needs (packet time / ptime);
// `streams_per_core` its inverse.
//
//   ./build/release/bench/bench_rtp_codec
#include <openae/pipeline/rtp_codec.h>
#include <openae/pipeline/rtp_packet.h>
#include <openae/pipeline/rtp_receiver.h>

#include <benchmark/benchmark.h>

#include <cmath>
#include <numbers>
#include <vector>

using namespace ae;
using namespace ae::pipeline;

namespace {

std::vector<float> tone(std::uint32_t frames) {
    std::vector<float> out(2 * frames);
    for (std::uint32_t i = 0; i < frames; ++i) out[2 * i] = out[2 * i + 1] = static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * 997 * i / 48000.0));
    return out;
}

void per_stream(benchmark::State& state, double ptime_ms) {
    state.counters["stream_cpu_percent"] =
        benchmark::Counter(ptime_ms / 1000.0 / 100.0, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.counters["streams_per_core"] = benchmark::Counter(ptime_ms / 1000.0, benchmark::Counter::kIsIterationInvariantRate);
}

void encode(benchmark::State& state, rtp_codec codec, std::uint32_t complexity, double ptime_ms) {
    const auto frames = static_cast<std::uint32_t>(48 * ptime_ms);
    auto encoder = rtp_encoder::create(codec, 48000, 2, {.bitrate = 128000, .complexity = complexity});
    const auto in = tone(frames * 100);
    std::vector<std::byte> out(4000);
    std::size_t at = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(encoder->encode(in.data() + 2 * frames * (at++ % 100), frames, out));
    }
    per_stream(state, ptime_ms);
}

void decode(benchmark::State& state, rtp_codec codec, double ptime_ms) {
    const auto frames = static_cast<std::uint32_t>(48 * ptime_ms);
    auto encoder = rtp_encoder::create(codec, 48000, 2, {.bitrate = 128000});
    auto decoder = rtp_decoder::create(codec, 48000, 2);
    const auto in = tone(frames * 100);
    std::vector<std::vector<std::byte>> packets;
    for (int p = 0; p < 100; ++p) {
        std::vector<std::byte> payload(4000);
        payload.resize(encoder->encode(in.data() + 2 * frames * p, frames, payload));
        packets.push_back(std::move(payload));
    }
    std::vector<float> out(2 * 5760);
    std::size_t at = 0;
    for (auto _ : state) benchmark::DoNotOptimize(decoder->decode(packets[at++ % 100], out.data(), 5760));
    per_stream(state, ptime_ms);
}

// One packet through the whole receiver: parse, jitter buffer, decode, drift resampler, ring.
void receive(benchmark::State& state, rtp_codec codec, double ptime_ms) {
    const auto frames = static_cast<std::uint32_t>(48 * ptime_ms);
    auto ring = frame_ring::create(96000, 8);
    auto [writer, reader] = ring->split();
    auto receiver = rtp_receiver::create({.codec = codec, .rate = 48000, .channels = 2, .payload_type = 96, .latency_frames = 960,
                                          .reader_period_frames = 240, .drift_control = true},
                                         std::move(writer));
    auto encoder = rtp_encoder::create(codec, 48000, 2, {.bitrate = 128000});
    const auto in = tone(frames * 100);
    std::vector<std::vector<std::byte>> payloads;
    for (int p = 0; p < 100; ++p) {
        std::vector<std::byte> payload(4000);
        payload.resize(encoder->encode(in.data() + 2 * frames * p, frames, payload));
        payloads.push_back(std::move(payload));
    }
    std::vector<std::byte> datagram(4000);
    std::uint32_t n = 0;
    std::int64_t now = 0;
    for (auto _ : state) {
        const auto& payload = payloads[n % 100];
        const std::size_t head = write_rtp_header({.payload_type = 96, .sequence = static_cast<std::uint16_t>(n), .timestamp = n * frames, .ssrc = 1}, datagram);
        std::copy(payload.begin(), payload.end(), datagram.begin() + static_cast<std::ptrdiff_t>(head));
        receiver->receive(std::span<const std::byte>(datagram.data(), head + payload.size()), hns{now});
        receiver->service(hns{now});
        // The reader keeps the ring at its level (not timed work of the receiver, but cheap).
        const std::uint64_t ready = reader.available_frames();
        if (ready > 960) {
            (void)reader.try_acquire(static_cast<std::uint32_t>(ready - 960));
            reader.commit(static_cast<std::uint32_t>(ready - 960));
        }
        now += static_cast<std::int64_t>(ptime_ms * 1e4);
        ++n;
    }
    per_stream(state, ptime_ms);
}

} // namespace

BENCHMARK_CAPTURE(encode, l16_5ms, rtp_codec::l16, 10, 5.0);
BENCHMARK_CAPTURE(encode, opus_10ms_c10, rtp_codec::opus, 10, 10.0);
BENCHMARK_CAPTURE(encode, opus_10ms_c5, rtp_codec::opus, 5, 10.0);
BENCHMARK_CAPTURE(encode, opus_20ms_c10, rtp_codec::opus, 10, 20.0);
BENCHMARK_CAPTURE(decode, l16_5ms, rtp_codec::l16, 5.0);
BENCHMARK_CAPTURE(decode, opus_10ms, rtp_codec::opus, 10.0);
BENCHMARK_CAPTURE(receive, l16_5ms, rtp_codec::l16, 5.0);
BENCHMARK_CAPTURE(receive, opus_10ms, rtp_codec::opus, 10.0);
BENCHMARK_MAIN();
