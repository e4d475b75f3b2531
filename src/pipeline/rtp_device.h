// The RTP devices' shared parts: their settings, read from the spec (and an SDP file), and the
// interface rtp_stats_of() finds them by.
#pragma once

#include "rtp_net.h"

#include <openae/pipeline/device_spec.h>
#include <openae/pipeline/rtp_codec.h>
#include <openae/pipeline/rtp_device.h>
#include <openae/pipeline/sdp.h>

#include <expected>
#include <memory>
#include <string>

namespace ae::pipeline {

struct rtp_settings {
    sockaddr_in address{};   // where to send (render) or where to listen (capture)
    sdp_stream stream;       // codec, rate, channels, payload type, ptime
    bool payload_type_given = false; // capture: filter on it (else the first packet's type)
    std::string sdp_path;    // render: written at start; capture: read when made
    double period_ms = 0;
    double latency_ms = 20;
    double drift_ppm = 0;    // render: the sending clock's error (tests)
    double rtcp_interval_ms = 1000;
    bool drift_control = true;
    opus_settings opus;
    // SRTP (RFC 3711) when stream.crypto_suite is set, keyed by stream.crypto_key (never logged).
};

class rtp_stats_source {
public:
    virtual ~rtp_stats_source() = default;
    [[nodiscard]] virtual rtp_stats stats() const noexcept = 0;
};

[[nodiscard]] std::expected<std::unique_ptr<device>, device_error> make_rtp_sender(std::string spec, rtp_settings settings);
[[nodiscard]] std::expected<std::unique_ptr<device>, device_error> make_rtp_receiver(std::string spec, rtp_settings settings);

} // namespace ae::pipeline
