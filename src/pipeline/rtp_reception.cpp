#include "rtp_reception.h"

#include <algorithm>
#include <cmath>

namespace ae::pipeline {

void rtp_reception::on_packet(std::uint16_t sequence, std::uint32_t timestamp, hns now, double rate, bool first) noexcept {
    if (first) {
        max_sequence_ = sequence;
        base_sequence_ = sequence;
        cycles_ = 0;
        received_ = expected_prior_ = received_prior_ = 0;
        transit_known_ = false;
    } else {
        const auto ahead = static_cast<std::uint16_t>(sequence - max_sequence_);
        if (ahead != 0 && ahead < 0x8000) {
            if (sequence < max_sequence_) cycles_ += 1u << 16;
            max_sequence_ = sequence;
        }
    }
    ++received_;
    const double transit_now = static_cast<double>(now.count()) * 1e-7 * rate - static_cast<double>(timestamp);
    if (transit_known_) jitter_ += (std::abs(transit_now - transit_) - jitter_) / 16.0;
    transit_ = transit_now;
    transit_known_ = true;
}

void rtp_reception::on_sender_report(const rtcp_summary& report, hns now) noexcept {
    last_sr_middle_ = ntp_middle(report.sender_info.ntp_time);
    last_sr_arrival_ = now;
}

rtcp_report_block rtp_reception::report(std::uint32_t ssrc, hns now) noexcept {
    rtcp_report_block block;
    block.ssrc = ssrc;
    const std::uint32_t extended_max = cycles_ + max_sequence_;
    block.highest_sequence = extended_max;
    const std::uint64_t expected = std::uint64_t{extended_max} - base_sequence_ + 1;
    const auto lost = static_cast<std::int64_t>(expected) - static_cast<std::int64_t>(received_);
    block.cumulative_lost = static_cast<std::int32_t>(std::clamp<std::int64_t>(lost, -0x800000, 0x7fffff));
    const std::uint64_t expected_interval = expected - expected_prior_;
    const std::uint64_t received_interval = received_ - received_prior_;
    expected_prior_ = expected;
    received_prior_ = received_;
    if (expected_interval > 0 && expected_interval > received_interval)
        block.fraction_lost = static_cast<std::uint8_t>(((expected_interval - received_interval) << 8) / expected_interval);
    block.jitter = static_cast<std::uint32_t>(jitter_);
    if (last_sr_middle_ != 0) {
        block.last_sender_report = last_sr_middle_;
        block.delay_since_last_sender_report = static_cast<std::uint32_t>(static_cast<double>((now - last_sr_arrival_).count()) * 1e-7 * 65536.0);
    }
    return block;
}

} // namespace ae::pipeline
