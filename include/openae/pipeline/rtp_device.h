// openae — RTP devices (README.md, "Devices"): what a host can read of one while it runs.
//
//   rtp:HOST:PORT?codec=l16|opus&ptime=MS&sdp=PATH&...        render: sends to HOST:PORT
//   rtp:BIND_ADDR:PORT?codec=...&latency=MS&sdp=PATH&...      capture: receives on BIND_ADDR:PORT
// The options are listed in docs/API.md ("Device specs"). RTCP runs on PORT + 1 in both directions.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/device.h>

#include <cstdint>
#include <optional>

namespace ae::pipeline {

struct rtp_stats {
    // Receiving (capture).
    std::uint64_t packets = 0;          // accepted
    std::uint64_t malformed = 0;        // not RTP, truncated, oversized, undecodable
    std::uint64_t wrong_payload = 0;
    std::uint64_t foreign_ssrc = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t late = 0;
    std::uint64_t lost_packets = 0;
    std::uint64_t concealed_frames = 0;
    std::uint64_t recovered_frames = 0; // by Opus FEC (also in concealed_frames)
    std::uint64_t discontinuities = 0;
    std::uint64_t underrun_frames = 0;  // the device thread found the jitter buffer short while a stream played
    std::uint64_t skipped_frames = 0;   // frames that came after the silence played for them (an underrun's): not queued
    std::uint64_t overflow_frames = 0;  // frames the jitter buffer's ring had no room for (the device thread stopped reading)
    std::uint64_t rtcp_malformed = 0;
    std::uint64_t auth_failed = 0;      // SRTP/SRTCP packets that failed authentication
    double queue_ms = 0;                // the averaged queue (jitter buffer ring + resampler)
    double queue_target_ms = 0;         // where drift control holds it (0 until it settled)
    double drift_ppm = 0;               // the resampler's correction now
    double jitter_ms = 0;               // RFC 3550 interarrival jitter
    // Sending (render).
    std::uint64_t packets_sent = 0;
    std::uint64_t octets_sent = 0;
    std::uint64_t send_failures = 0;    // datagrams the socket refused (counted as dropped frames too)
    std::uint64_t receiver_reports = 0; // RTCP receiver reports about our stream
    double round_trip_ms = -1;          // from the last receiver report with LSR; -1: none yet
    double remote_jitter_ms = 0;
    double remote_fraction_lost = 0;    // 0..1, since the receiver's previous report
    std::int64_t remote_cumulative_lost = 0;
};

// The statistics of an RTP device; nullopt for any other device.
[[nodiscard]] std::optional<rtp_stats> rtp_stats_of(const device& dev);

} // namespace ae::pipeline

#pragma GCC visibility pop
