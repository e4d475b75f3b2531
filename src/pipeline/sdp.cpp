// SDP of one audio stream, line by line; every number parsed with from_chars and range-checked.
#include <openae/pipeline/sdp.h>

#include <openae/rt/errc.h>

#include <charconv>
#include <fmt/format.h>
#include <optional>
#include <vector>

namespace ae::pipeline {
namespace {

device_error sdp_error(errc code, std::string_view why) {
    return device_error{make_error_code(code), fmt::format("sdp: {}", why)};
}

template <typename T>
std::optional<T> number(std::string_view text) {
    T value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t at = 0;
    while (at < line.size()) {
        while (at < line.size() && line[at] == ' ') ++at;
        const std::size_t end = std::min(line.find(' ', at), line.size());
        if (end > at) out.push_back(line.substr(at, end - at));
        at = end;
    }
    return out;
}

bool equal_nocase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

} // namespace

std::string write_sdp(const sdp_stream& s) {
    std::string out = "v=0\r\n";
    out += fmt::format("o=- 0 0 IN IP4 {}\r\n", s.address);
    out += "s=openae\r\n";
    out += fmt::format("c=IN IP4 {}\r\n", s.address);
    out += "t=0 0\r\n";
    const bool secure = !s.crypto_suite.empty();
    out += fmt::format("m=audio {} {} {}\r\n", s.port, secure ? "RTP/SAVP" : "RTP/AVP", s.payload_type);
    if (s.codec == rtp_codec::opus) {
        // RFC 7587: always opus/48000/2; the stream's channel count is said by sprop-stereo.
        out += fmt::format("a=rtpmap:{} opus/48000/2\r\n", s.payload_type);
        if (s.channels == 2) out += fmt::format("a=fmtp:{} stereo=1;sprop-stereo=1\r\n", s.payload_type);
    } else {
        out += fmt::format("a=rtpmap:{} L16/{}/{}\r\n", s.payload_type, s.rate, s.channels);
    }
    if (s.ptime_ms > 0) out += fmt::format("a=ptime:{}\r\n", s.ptime_ms);
    if (secure) out += fmt::format("a=crypto:1 {} inline:{}\r\n", s.crypto_suite, s.crypto_key);
    return out;
}

std::expected<sdp_stream, device_error> read_sdp(std::string_view text) {
    sdp_stream s;
    bool have_media = false;
    bool have_rtpmap = false;
    bool in_audio = false;
    std::size_t at = 0;
    while (at < text.size()) {
        std::size_t end = text.find('\n', at);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(at, end - at);
        at = end + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() < 2 || line[1] != '=') continue;
        const char kind = line[0];
        const std::string_view value = line.substr(2);
        const auto w = words(value);
        if (kind == 'm') {
            in_audio = false;
            if (have_media) continue; // the first audio stream only
            if (w.size() < 4 || w[0] != "audio") continue;
            const auto port = number<std::uint16_t>(w[1]);
            const auto pt = number<unsigned>(w[3]);
            if (!port || *port == 0 || !pt || *pt > 127) return std::unexpected(sdp_error(errc::bad_argument, fmt::format("bad media line '{}'", line)));
            s.port = *port;
            s.payload_type = static_cast<std::uint8_t>(*pt);
            have_media = in_audio = true;
        } else if (kind == 'c') {
            if (w.size() < 3 || w[0] != "IN" || w[1] != "IP4") return std::unexpected(sdp_error(errc::bad_argument, fmt::format("unsupported connection line '{}' (IN IP4 only)", line)));
            std::string_view address = w[2];
            address = address.substr(0, address.find('/')); // multicast TTL
            if (!have_media || in_audio) s.address = std::string(address);
        } else if (kind == 'a' && in_audio) {
            const std::size_t colon = value.find(':');
            const std::string_view name = value.substr(0, colon);
            const std::string_view rest = colon == std::string_view::npos ? std::string_view{} : value.substr(colon + 1);
            const auto rw = words(rest);
            // The payload type an rtpmap or fmtp line is about (none: never equal to ours).
            const unsigned pt = rw.empty() ? 1000u : number<unsigned>(rw[0]).value_or(1000u);
            if (name == "rtpmap" && pt == s.payload_type && rw.size() >= 2) {
                // ENCODING/RATE[/CHANNELS]
                const std::string_view enc = rw[1];
                const std::size_t slash = enc.find('/');
                if (slash == std::string_view::npos) return std::unexpected(sdp_error(errc::bad_argument, fmt::format("bad rtpmap '{}'", line)));
                const std::string_view name_part = enc.substr(0, slash);
                std::string_view rate_part = enc.substr(slash + 1);
                std::string_view channel_part = "1";
                if (const std::size_t second = rate_part.find('/'); second != std::string_view::npos) {
                    channel_part = rate_part.substr(second + 1);
                    rate_part = rate_part.substr(0, second);
                }
                const auto rate = number<std::uint32_t>(rate_part);
                const auto channels = number<std::uint16_t>(channel_part);
                if (!rate || *rate < 8000 || *rate > 384000 || !channels || *channels == 0 || *channels > 8)
                    return std::unexpected(sdp_error(errc::bad_argument, fmt::format("bad rate or channels in '{}'", line)));
                if (equal_nocase(name_part, "L16")) {
                    s.codec = rtp_codec::l16;
                    s.channels = *channels;
                } else if (equal_nocase(name_part, "opus")) {
                    s.codec = rtp_codec::opus;
                    s.channels = 1; // until fmtp says stereo
                } else {
                    return std::unexpected(sdp_error(errc::unsupported_format, fmt::format("encoding '{}' is not L16 or opus", name_part)));
                }
                s.rate = *rate;
                have_rtpmap = true;
            } else if (name == "fmtp" && pt == s.payload_type && rw.size() >= 2) {
                if (rest.find("sprop-stereo=1") != std::string_view::npos || rest.find("stereo=1") != std::string_view::npos) s.channels = 2;
            } else if (name == "ptime" && !rw.empty()) {
                const auto ms = number<double>(rw[0]);
                if (!ms || *ms <= 0 || *ms > 1000) return std::unexpected(sdp_error(errc::bad_argument, fmt::format("bad ptime '{}'", line)));
                s.ptime_ms = *ms;
            } else if (name == "crypto" && rw.size() >= 3) {
                if (!rw[2].starts_with("inline:")) return std::unexpected(sdp_error(errc::bad_argument, "a=crypto without an inline key"));
                s.crypto_suite = std::string(rw[1]);
                std::string_view key = rw[2].substr(7);
                key = key.substr(0, key.find('|')); // lifetime and MKI are not used
                s.crypto_key = std::string(key);
            }
        }
    }
    if (!have_media) return std::unexpected(sdp_error(errc::bad_argument, "no m=audio line"));
    if (!have_rtpmap) {
        // RFC 3551's static payload types: 10 = L16/44100/2, 11 = L16/44100/1.
        if (s.payload_type == 10 || s.payload_type == 11) {
            s.codec = rtp_codec::l16;
            s.rate = 44100;
            s.channels = s.payload_type == 10 ? 2 : 1;
        } else {
            return std::unexpected(sdp_error(errc::bad_argument, fmt::format("no a=rtpmap for payload type {}", s.payload_type)));
        }
    }
    return s;
}

} // namespace ae::pipeline
