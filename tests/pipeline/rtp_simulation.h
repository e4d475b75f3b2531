// The RTP receiver on a simulated clock (tests/pipeline/test_rtp_receiver.cpp, bench/bench_rtp_drift.cpp):
// a sender's packets (L16 or Opus, its clock off by `drift_ppm`, with seeded jitter, loss and
// duplication) arrive; a reader takes a period from the ring on the local clock. No network, no
// threads: every run with the same options is the same run.
#pragma once

#include <openae/pipeline/rtp_codec.h>
#include <openae/pipeline/rtp_packet.h>
#include <openae/pipeline/rtp_receiver.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <queue>
#include <random>
#include <stdexcept>
#include <vector>

namespace ae::test::rtp_sim {

using namespace ae::pipeline;

inline constexpr std::uint32_t rate = 48000;

// Frame n of the sent signal, exact in s16: a counting marker left, a 997 Hz sine right.
inline void signal_frame(std::uint64_t n, float* frame) {
    frame[0] = static_cast<float>(static_cast<int>(n % 65536) - 32768) / 32768.0f;
    frame[1] = std::nearbyint(static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * 997 * static_cast<double>(n) / rate)) * 32768.0f) / 32768.0f;
}

struct sim_options {
    rtp_codec codec = rtp_codec::l16;
    double seconds = 10;
    double drift_ppm = 0;
    double jitter_ms = 0;
    double loss = 0;
    double duplicate = 0;
    double ptime_ms = 5; // 960 bytes of L16: within an MTU
    double reader_period_ms = 5;
    double latency_ms = 20;
    bool drift_control = true;
    bool keep_output = false;
    // The receiver's thread does not run (no packets taken, no service) for stall_ms from
    // stall_at_s: the reader finds the ring short, as a device thread would.
    double stall_at_s = -1;
    double stall_ms = 0;
    // Packets sent in the spike_s from spike_at_s take spike_ms longer (the path's delay jumps).
    double spike_at_s = -1;
    double spike_s = 0.1;
    double spike_ms = 0;
    std::uint32_t seed = 1;
};

struct sim_result {
    std::uint64_t sent = 0, dropped_by_network = 0;
    std::uint64_t delivered = 0, duplicated = 0; // arrived by the end, originals and copies
    std::uint64_t underrun_frames = 0; // the reader found the ring short while playing
    double worst_queue_error_ms = 0;   // |averaged queue - target| after the target was set
    double final_queue_error_ms = 0;
    double largest_step_ppm = 0;       // the largest change of the correction between reads
    double first_target_ms = 0, largest_target_ms = 0, final_target_ms = 0; // the queue's target
    std::uint64_t lost = 0, concealed = 0, duplicates = 0, late = 0, packets = 0, skipped = 0;
    std::vector<float> output;          // what the reader read (keep_output)
    std::vector<bool> lost_packet;      // by packet index
};

inline hns at_seconds(double s) { return hns{static_cast<std::int64_t>(std::llround(s * 1e7))}; }

inline sim_result simulate(const sim_options& o) {
    const auto ptime = static_cast<std::uint32_t>(std::lround(o.ptime_ms * rate / 1000));
    const auto period = static_cast<std::uint32_t>(std::lround(o.reader_period_ms * rate / 1000));
    auto ring = frame_ring::create(rate * 2, 2 * sizeof(float));
    if (!ring) throw std::runtime_error("rtp simulation: no ring");
    auto [writer, reader] = ring->split();
    auto made = rtp_receiver::create({.codec = o.codec, .rate = rate, .channels = 2, .payload_type = 96,
                                      .latency_frames = static_cast<std::uint32_t>(o.latency_ms * rate / 1000),
                                      .reader_period_frames = period, .drift_control = o.drift_control},
                                     std::move(writer));
    if (!made) throw std::runtime_error("rtp simulation: " + made.error().message);
    rtp_receiver& receiver = *made;
    auto encoder = rtp_encoder::create(o.codec, rate, 2, {.bitrate = 128000});
    if (!encoder) throw std::runtime_error("rtp simulation: " + encoder.error().message);

    std::mt19937 random(o.seed);
    std::uniform_real_distribution<double> uniform(0, 1);
    struct arrival {
        double time;
        std::vector<std::byte> datagram;
        bool duplicate = false;
        bool operator>(const arrival& other) const { return time > other.time; }
    };
    std::priority_queue<arrival, std::vector<arrival>, std::greater<>> network;
    sim_result r;
    std::uint64_t next_packet = 0;
    std::vector<float> frames(2 * ptime);
    const double sender_rate = rate * (1 + o.drift_ppm * 1e-6);
    // Each packet leaves once its last frame is there, on the sender's clock.
    auto send_until = [&](double now) {
        for (;;) {
            const double sent_at = static_cast<double>((next_packet + 1) * ptime) / sender_rate;
            if (sent_at > now) return;
            for (std::uint32_t i = 0; i < ptime; ++i) signal_frame(next_packet * ptime + i, frames.data() + 2 * i);
            std::vector<std::byte> datagram(1500);
            const std::size_t head = write_rtp_header({.payload_type = 96, .sequence = static_cast<std::uint16_t>(next_packet + 1000),
                                                       .timestamp = static_cast<std::uint32_t>(next_packet * ptime + 77), .ssrc = 42},
                                                      datagram);
            const std::size_t body = encoder->encode(frames.data(), ptime, std::span{datagram}.subspan(head));
            if (body == 0) throw std::runtime_error("rtp simulation: a packet did not encode");
            datagram.resize(head + body);
            ++r.sent;
            const bool dropped = uniform(random) < o.loss;
            r.lost_packet.push_back(dropped);
            if (dropped) {
                ++r.dropped_by_network;
            } else {
                double delay = 0.001 + o.jitter_ms * 1e-3 * uniform(random);
                if (o.spike_at_s >= 0 && sent_at >= o.spike_at_s && sent_at < o.spike_at_s + o.spike_s) delay += o.spike_ms * 1e-3;
                if (uniform(random) < o.duplicate) {
                    network.push({sent_at + delay + 0.002 * uniform(random), datagram, true});
                }
                network.push({sent_at + delay, std::move(datagram), false});
            }
            ++next_packet;
        }
    };
    const auto reads = static_cast<std::uint64_t>(o.seconds * rate / period);
    std::vector<float> block(2 * period);
    double previous_ppm = 0;
    bool previous_known = false;
    bool was_stalled = false;
    const auto& c = receiver.counters();
    for (std::uint64_t j = 1; j <= reads; ++j) {
        const double now = static_cast<double>(j * period) / rate;
        send_until(now);
        const bool stalled = now >= o.stall_at_s && now < o.stall_at_s + o.stall_ms / 1000 && o.stall_at_s >= 0;
        // Back from a stall, the backlog is taken whole before the service (as the device drains
        // its socket): a packet still waiting in it is not missing.
        const bool resuming = was_stalled && !stalled;
        was_stalled = stalled;
        while (!stalled && !network.empty() && network.top().time <= now) {
            receiver.receive(network.top().datagram, at_seconds(resuming ? now : network.top().time));
            (network.top().duplicate ? r.duplicated : r.delivered) += 1;
            if (!resuming) receiver.service(at_seconds(network.top().time));
            network.pop();
        }
        if (!stalled) receiver.service(at_seconds(now));
        const std::uint64_t ready = reader.available_frames();
        const auto got = static_cast<std::uint32_t>(std::min<std::uint64_t>(ready, period));
        std::fill(block.begin(), block.end(), 0.0f);
        if (got > 0) {
            std::memcpy(block.data(), reader.try_acquire(got), std::size_t{got} * 2 * sizeof(float));
            reader.commit(got);
        }
        if (got < period && receiver.playing()) {
            r.underrun_frames += period - got;
            receiver.reader_short(period - got); // as the device's network thread does when it runs
        }
        if (o.keep_output) r.output.insert(r.output.end(), block.begin(), block.end());
        if (!stalled) receiver.service(at_seconds(now));
        const std::int64_t target = c.queue_target_frames.load();
        if (target > 0) {
            const double target_ms = static_cast<double>(target) * 1000.0 / rate;
            if (r.first_target_ms == 0) r.first_target_ms = target_ms;
            r.largest_target_ms = std::max(r.largest_target_ms, target_ms);
            r.final_target_ms = target_ms;
            const double error_ms = std::abs(static_cast<double>(c.queue_frames.load() - target)) * 1000.0 / rate;
            r.worst_queue_error_ms = std::max(r.worst_queue_error_ms, error_ms);
            r.final_queue_error_ms = error_ms;
            const double ppm = static_cast<double>(c.drift_ppb.load()) / 1000.0;
            if (previous_known) r.largest_step_ppm = std::max(r.largest_step_ppm, std::abs(ppm - previous_ppm));
            previous_ppm = ppm;
            previous_known = true;
        }
    }
    r.lost = c.lost_packets.load();
    r.concealed = c.concealed_frames.load();
    r.duplicates = c.duplicates.load();
    r.late = c.late.load();
    r.packets = c.packets.load();
    r.skipped = c.skipped_frames.load();
    return r;
}

} // namespace ae::test::rtp_sim
