// rtp:HOST:PORT?... — the spec and the SDP read into rtp_settings; the devices are in
// rtp_sender.cpp and rtp_receiver_device.cpp.
#include "rtp_device.h"
#include "rtp_srtp.h"

#include <openae/pipeline/devices.h>
#include <openae/pipeline/resampler.h>
#include <openae/rt/errc.h>

#include <cmath>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

namespace ae::pipeline {
namespace {

device_error rtp_error(errc code, const std::string& spec, const std::string& why) {
    return {make_error_code(code), "rtp device '" + spec + "': " + why};
}

bool opus_frame_ms(double ms) {
    for (const double allowed : {2.5, 5.0, 10.0, 20.0, 40.0, 60.0}) {
        if (std::abs(ms - allowed) < 1e-9) return true;
    }
    return false;
}

} // namespace

std::optional<rtp_stats> rtp_stats_of(const device& dev) {
    if (const auto* source = dynamic_cast<const rtp_stats_source*>(&dev)) return source->stats();
    return std::nullopt;
}

std::expected<std::unique_ptr<device>, device_error> make_rtp_device(device_spec spec, endpoint_direction direction) {
    const std::string& text = spec.text();
    rtp_settings s;
    s.sdp_path = spec.take_text("sdp");
    const bool capture = direction == endpoint_direction::capture;
    bool from_sdp = false;
    if (capture && !s.sdp_path.empty()) {
        std::ifstream file(s.sdp_path);
        if (!file) return std::unexpected(rtp_error(errc::device_unavailable, text, "cannot read the SDP '" + s.sdp_path + "'"));
        std::stringstream content;
        content << file.rdbuf();
        auto read = read_sdp(content.str());
        if (!read) return std::unexpected(rtp_error(read.error().code == errc::unsupported_format ? errc::unsupported_format : errc::bad_argument,
                                                    text, read.error().message));
        s.stream = *read;
        s.payload_type_given = true;
        from_sdp = true;
    }
    std::string target = spec.target();
    if (target.empty() && from_sdp) target = "0.0.0.0:" + std::to_string(s.stream.port);
    if (target.empty()) return std::unexpected(rtp_error(errc::bad_argument, text, capture ? "no BIND_ADDR:PORT (or sdp=PATH)" : "no HOST:PORT"));
    auto address = rtp_net::resolve(target, text);
    if (!address) return std::unexpected(address.error());
    s.address = *address;

    const std::string codec = spec.take_text("codec");
    if (!codec.empty() || !from_sdp) {
        if (codec.empty() || codec == "l16") s.stream.codec = rtp_codec::l16;
        else if (codec == "opus") s.stream.codec = rtp_codec::opus;
        else return std::unexpected(rtp_error(errc::unsupported_format, text, "codec '" + codec + "' (l16 or opus)"));
    }
    const bool opus = s.stream.codec == rtp_codec::opus;
    const auto rate = spec.take_count("rate", from_sdp ? s.stream.rate : 48000, 8000, 384000);
    if (!rate) return std::unexpected(rate.error());
    const auto channels = spec.take_count("channels", from_sdp ? s.stream.channels : 2, 1, opus ? 2 : 8);
    if (!channels) return std::unexpected(channels.error());
    if (opus && *rate != 48000) return std::unexpected(rtp_error(errc::unsupported_format, text, "opus streams run at rate=48000"));
    s.stream.rate = *rate;
    s.stream.channels = static_cast<std::uint16_t>(*channels);
    const auto pt = spec.take_count("pt", s.stream.payload_type, 0, 127);
    if (!pt) return std::unexpected(pt.error());
    if (*pt != s.stream.payload_type) s.payload_type_given = true;
    s.stream.payload_type = static_cast<std::uint8_t>(*pt);
    // L16's default packet: 5 ms (960 bytes at 48 kHz stereo), shorter where that exceeds an MTU.
    double l16_ptime = 5;
    while (!opus && l16_ptime > 1 && l16_ptime * *rate / 1000.0 * *channels * 2 > 1400) l16_ptime /= 2;
    const auto ptime = spec.take_number("ptime", opus ? 10 : l16_ptime, 0.5, 120);
    if (!ptime) return std::unexpected(ptime.error());
    if (opus && !capture && !opus_frame_ms(*ptime)) return std::unexpected(rtp_error(errc::bad_argument, text, "opus ptime must be 2.5, 5, 10, 20, 40 or 60 ms"));
    if (!capture) s.stream.ptime_ms = *ptime;
    const auto period = spec.take_number("period", capture ? 5 : *ptime, 0.5, 1000);
    if (!period) return std::unexpected(period.error());
    s.period_ms = *period;
    const auto latency = spec.take_number("latency", 20, 1, 5000);
    if (!latency) return std::unexpected(latency.error());
    s.latency_ms = *latency;
    const auto drift_ppm = spec.take_number("drift_ppm", 0, -10000, 10000);
    if (!drift_ppm) return std::unexpected(drift_ppm.error());
    s.drift_ppm = *drift_ppm;
    const auto rtcp = spec.take_number("rtcp_ms", 1000, 20, 60000);
    if (!rtcp) return std::unexpected(rtcp.error());
    s.rtcp_interval_ms = *rtcp;
    const auto drift = spec.take_flag("drift", true);
    if (!drift) return std::unexpected(drift.error());
    s.drift_control = *drift;
    // A missing packet is given up 2 ms before the reader needs it (rtp_receiver.h), and drift
    // control's resampler holds frames the ring does not show yet: the latency must cover both,
    // the reader's period and at least 0.5 ms of jitter, or the stream's second packet is late.
    const double least_latency = *period + 2.5 + (*drift ? resampler::variable_delay_frames * 1000.0 / *rate : 0.0);
    if (capture && *latency < least_latency - 1e-9)
        return std::unexpected(rtp_error(errc::bad_argument, text, fmt::format("latency {} ms leaves no time for jitter with period={} ms{} (at least {:.2f} ms)",
                                                                               *latency, *period, *drift ? " and drift control" : "", least_latency)));
    const auto bitrate = spec.take_count("bitrate", 0, 0, 512000);
    if (!bitrate) return std::unexpected(bitrate.error());
    const auto complexity = spec.take_count("complexity", 10, 0, 10);
    if (!complexity) return std::unexpected(complexity.error());
    const auto fec = spec.take_flag("fec", false);
    if (!fec) return std::unexpected(fec.error());
    const auto loss = spec.take_count("loss", 0, 0, 100);
    if (!loss) return std::unexpected(loss.error());
    s.opus = {.bitrate = *bitrate, .complexity = *complexity, .fec = *fec, .loss_percent = *loss};
    const std::string suite = spec.take_text("srtp");
    std::string key = spec.take_text("key");
    if (!suite.empty()) {
        if (key.empty()) return std::unexpected(rtp_error(errc::bad_argument, text, "srtp needs key=BASE64 (or key=auto when sending)"));
        if (key == "auto") {
            if (capture) return std::unexpected(rtp_error(errc::bad_argument, text, "key=auto only when sending: a receiver takes the sender's key"));
            key = make_srtp_key();
        }
        s.stream.crypto_suite = suite;
        s.stream.crypto_key = key;
    } else if (!key.empty()) {
        return std::unexpected(rtp_error(errc::bad_argument, text, "key without srtp=SUITE"));
    }
    if (!s.stream.crypto_suite.empty()) {
        // Checked now, so a bad suite or key is refused when the device is made.
        auto check = srtp_session::create(s.stream.crypto_suite, s.stream.crypto_key, srtp_session::direction::inbound);
        if (!check) return std::unexpected(rtp_error(check.error().code == errc::unsupported_format ? errc::unsupported_format : errc::bad_argument,
                                                     text, check.error().message));
    }
    if (auto done = spec.finish(); !done) return std::unexpected(done.error());
    if (!capture) {
        const double frames = *ptime * *rate / 1000.0;
        if (std::abs(frames - std::round(frames)) > 1e-6)
            return std::unexpected(rtp_error(errc::bad_argument, text, "ptime is not a whole number of frames at this rate"));
        if (frames * *channels * 2 > 1400 && !opus)
            return std::unexpected(rtp_error(errc::bad_argument, text, "an L16 packet of this ptime exceeds 1400 bytes (lower ptime)"));
    }
    return capture ? make_rtp_receiver(text, std::move(s)) : make_rtp_sender(text, std::move(s));
}

} // namespace ae::pipeline
