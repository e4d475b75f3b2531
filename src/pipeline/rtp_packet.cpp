// RTP/RTCP parsing and writing: every read is bounds-checked against the datagram first.
#include <openae/pipeline/rtp_packet.h>

#include <algorithm>
#include <cstring>

namespace ae::pipeline {
namespace {

constexpr std::uint8_t rtcp_sr = 200;
constexpr std::uint8_t rtcp_rr = 201;
constexpr std::uint8_t rtcp_sdes = 202;
constexpr std::uint8_t rtcp_bye = 203;
constexpr std::uint8_t rtcp_app = 204;
constexpr std::size_t report_block_bytes = 24;

std::uint8_t u8(std::span<const std::byte> b, std::size_t at) noexcept { return static_cast<std::uint8_t>(b[at]); }
std::uint16_t u16(std::span<const std::byte> b, std::size_t at) noexcept {
    return static_cast<std::uint16_t>(u8(b, at) << 8 | u8(b, at + 1));
}
std::uint32_t u32(std::span<const std::byte> b, std::size_t at) noexcept {
    return std::uint32_t{u16(b, at)} << 16 | u16(b, at + 2);
}
void put8(std::span<std::byte> b, std::size_t at, std::uint32_t v) noexcept { b[at] = static_cast<std::byte>(v & 0xff); }
void put16(std::span<std::byte> b, std::size_t at, std::uint32_t v) noexcept {
    put8(b, at, v >> 8);
    put8(b, at + 1, v);
}
void put32(std::span<std::byte> b, std::size_t at, std::uint32_t v) noexcept {
    put16(b, at, v >> 16);
    put16(b, at + 2, v);
}

rtcp_report_block read_block(std::span<const std::byte> b, std::size_t at) noexcept {
    rtcp_report_block block;
    block.ssrc = u32(b, at);
    block.fraction_lost = u8(b, at + 4);
    std::uint32_t lost = u32(b, at + 4) & 0xffffffu;
    if (lost & 0x800000u) lost |= 0xff000000u; // 24-bit two's complement
    block.cumulative_lost = static_cast<std::int32_t>(lost);
    block.highest_sequence = u32(b, at + 8);
    block.jitter = u32(b, at + 12);
    block.last_sender_report = u32(b, at + 16);
    block.delay_since_last_sender_report = u32(b, at + 20);
    return block;
}

void write_block(std::span<std::byte> b, std::size_t at, const rtcp_report_block& block) noexcept {
    put32(b, at, block.ssrc);
    put32(b, at + 4, std::uint32_t{block.fraction_lost} << 24 | (static_cast<std::uint32_t>(block.cumulative_lost) & 0xffffffu));
    put32(b, at + 8, block.highest_sequence);
    put32(b, at + 12, block.jitter);
    put32(b, at + 16, block.last_sender_report);
    put32(b, at + 20, block.delay_since_last_sender_report);
}

// SDES with one chunk holding CNAME; padded to 32 bits. Returns the bytes written or 0.
std::size_t write_sdes(std::uint32_t ssrc, const char* cname, std::span<std::byte> out) noexcept {
    const std::size_t name_bytes = std::min<std::size_t>(std::strlen(cname), 255);
    // header 4 + ssrc 4 + type 1 + length 1 + name + at least one terminating zero, to 32 bits
    const std::size_t bytes = (4 + 4 + 2 + name_bytes + 1 + 3) / 4 * 4;
    if (out.size() < bytes) return 0;
    std::memset(out.data(), 0, bytes);
    put8(out, 0, 0x80 | 1);
    put8(out, 1, rtcp_sdes);
    put16(out, 2, static_cast<std::uint32_t>(bytes / 4 - 1));
    put32(out, 4, ssrc);
    put8(out, 8, 1); // CNAME
    put8(out, 9, static_cast<std::uint32_t>(name_bytes));
    std::memcpy(out.data() + 10, cname, name_bytes);
    return bytes;
}

} // namespace

const char* to_string(packet_error error) noexcept {
    switch (error) {
    case packet_error::truncated: return "truncated";
    case packet_error::bad_version: return "bad_version";
    case packet_error::bad_padding: return "bad_padding";
    case packet_error::not_rtcp: return "not_rtcp";
    case packet_error::empty_payload: return "empty_payload";
    }
    return "unknown";
}

std::expected<rtp_packet, packet_error> parse_rtp(std::span<const std::byte> d) noexcept {
    if (d.size() < rtp_header_bytes) return std::unexpected(packet_error::truncated);
    const std::uint8_t first = u8(d, 0);
    if ((first >> 6) != 2) return std::unexpected(packet_error::bad_version);
    const bool padding = (first & 0x20) != 0;
    const bool extension = (first & 0x10) != 0;
    const std::size_t csrc_count = first & 0x0f;
    rtp_packet packet;
    packet.header.marker = (u8(d, 1) & 0x80) != 0;
    packet.header.payload_type = u8(d, 1) & 0x7f;
    packet.header.sequence = u16(d, 2);
    packet.header.timestamp = u32(d, 4);
    packet.header.ssrc = u32(d, 8);
    std::size_t begin = rtp_header_bytes + 4 * csrc_count;
    if (d.size() < begin) return std::unexpected(packet_error::truncated);
    if (extension) {
        if (d.size() < begin + 4) return std::unexpected(packet_error::truncated);
        const std::size_t words = u16(d, begin + 2);
        begin += 4 + 4 * words;
        if (d.size() < begin) return std::unexpected(packet_error::truncated);
    }
    std::size_t end = d.size();
    if (padding) {
        const std::size_t pad = u8(d, d.size() - 1);
        if (pad == 0 || pad > end - begin) return std::unexpected(packet_error::bad_padding);
        end -= pad;
    }
    if (end == begin) return std::unexpected(packet_error::empty_payload);
    packet.payload = d.subspan(begin, end - begin);
    return packet;
}

std::size_t write_rtp_header(const rtp_header& header, std::span<std::byte> out) noexcept {
    if (out.size() < rtp_header_bytes) return 0;
    put8(out, 0, 0x80);
    put8(out, 1, (header.marker ? 0x80u : 0u) | (header.payload_type & 0x7fu));
    put16(out, 2, header.sequence);
    put32(out, 4, header.timestamp);
    put32(out, 8, header.ssrc);
    return rtp_header_bytes;
}

std::expected<rtcp_summary, packet_error> parse_rtcp(std::span<const std::byte> d) noexcept {
    rtcp_summary summary;
    std::size_t at = 0;
    bool first = true;
    if (d.size() < 4) return std::unexpected(packet_error::truncated);
    while (at < d.size()) {
        if (d.size() - at < 4) return std::unexpected(packet_error::truncated);
        const std::uint8_t head = u8(d, at);
        if ((head >> 6) != 2) return std::unexpected(packet_error::bad_version);
        const std::uint8_t type = u8(d, at + 1);
        const std::size_t bytes = (std::size_t{u16(d, at + 2)} + 1) * 4;
        if (d.size() - at < bytes) return std::unexpected(packet_error::truncated);
        if (type < rtcp_sr || type > rtcp_app) return std::unexpected(packet_error::not_rtcp);
        // RFC 3550 6.1: a compound packet starts with an SR or an RR.
        if (first && type != rtcp_sr && type != rtcp_rr) return std::unexpected(packet_error::not_rtcp);
        // Padding is allowed on the last packet of a compound only.
        const bool padded = (head & 0x20) != 0;
        std::size_t body_end = at + bytes;
        if (padded) {
            if (at + bytes != d.size()) return std::unexpected(packet_error::bad_padding);
            const std::size_t pad = u8(d, d.size() - 1);
            if (pad == 0 || pad > bytes - 4) return std::unexpected(packet_error::bad_padding);
            body_end -= pad;
        }
        const std::size_t count = head & 0x1f;
        if (type == rtcp_sr || type == rtcp_rr) {
            const std::size_t fixed = type == rtcp_sr ? 28 : 8;
            if (body_end - at < fixed + count * report_block_bytes) return std::unexpected(packet_error::truncated);
            if (first) {
                summary.sender_ssrc = u32(d, at + 4);
                if (type == rtcp_sr) {
                    summary.has_sender_info = true;
                    summary.sender_info.ntp_time = std::uint64_t{u32(d, at + 8)} << 32 | u32(d, at + 12);
                    summary.sender_info.rtp_timestamp = u32(d, at + 16);
                    summary.sender_info.packet_count = u32(d, at + 20);
                    summary.sender_info.octet_count = u32(d, at + 24);
                }
            }
            for (std::size_t i = 0; i < count; ++i) {
                if (summary.report_count < summary.reports.size()) {
                    summary.reports[summary.report_count++] = read_block(d, at + fixed + i * report_block_bytes);
                }
            }
        } else if (type == rtcp_bye) {
            summary.bye = true;
        }
        first = false;
        at += bytes;
    }
    return summary;
}

std::size_t write_sender_report(std::uint32_t ssrc, const rtcp_sender_info& info, const char* cname,
                                std::span<std::byte> out) noexcept {
    constexpr std::size_t sr_bytes = 28;
    if (out.size() < sr_bytes) return 0;
    put8(out, 0, 0x80);
    put8(out, 1, rtcp_sr);
    put16(out, 2, sr_bytes / 4 - 1);
    put32(out, 4, ssrc);
    put32(out, 8, static_cast<std::uint32_t>(info.ntp_time >> 32));
    put32(out, 12, static_cast<std::uint32_t>(info.ntp_time));
    put32(out, 16, info.rtp_timestamp);
    put32(out, 20, info.packet_count);
    put32(out, 24, info.octet_count);
    const std::size_t sdes = write_sdes(ssrc, cname, out.subspan(sr_bytes));
    return sdes == 0 ? 0 : sr_bytes + sdes;
}

std::size_t write_receiver_report(std::uint32_t ssrc, const rtcp_report_block& block, const char* cname,
                                  std::span<std::byte> out) noexcept {
    constexpr std::size_t rr_bytes = 8 + report_block_bytes;
    if (out.size() < rr_bytes) return 0;
    put8(out, 0, 0x80 | 1);
    put8(out, 1, rtcp_rr);
    put16(out, 2, rr_bytes / 4 - 1);
    put32(out, 4, ssrc);
    write_block(out, 8, block);
    const std::size_t sdes = write_sdes(ssrc, cname, out.subspan(rr_bytes));
    return sdes == 0 ? 0 : rr_bytes + sdes;
}

} // namespace ae::pipeline
