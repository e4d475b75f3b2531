// What an RTP receiver reports of its source in RTCP (RFC 3550 A.3, A.8): extended highest
// sequence, loss (cumulative and since the last report), interarrival jitter, LSR/DLSR.
#pragma once

#include <openae/pipeline/rtp_packet.h>
#include <openae/rt/types.h>

#include <cstdint>

namespace ae::pipeline {

class rtp_reception {
public:
    // Each packet taken; `first` starts a new source (or a fresh stream). `rate`: the RTP clock.
    void on_packet(std::uint16_t sequence, std::uint32_t timestamp, hns now, double rate, bool first) noexcept;
    void on_sender_report(const rtcp_summary& report, hns now) noexcept;
    // The report block for `ssrc` at `now` (starts the next "since the last report" interval).
    [[nodiscard]] rtcp_report_block report(std::uint32_t ssrc, hns now) noexcept;
    // Interarrival jitter, in timestamp units.
    [[nodiscard]] double jitter() const noexcept { return jitter_; }

private:
    std::uint16_t max_sequence_ = 0;
    std::uint32_t cycles_ = 0;
    std::uint32_t base_sequence_ = 0;
    std::uint64_t received_ = 0;
    std::uint64_t expected_prior_ = 0;
    std::uint64_t received_prior_ = 0;
    double transit_ = 0;
    bool transit_known_ = false;
    double jitter_ = 0;
    std::uint32_t last_sr_middle_ = 0;
    hns last_sr_arrival_{0};
};

} // namespace ae::pipeline
