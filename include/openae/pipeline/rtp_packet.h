// openae — RTP and RTCP packets (RFC 3550): parsed in place, written into caller buffers.
//
// The parsers take untrusted bytes from the network: every length is checked before it is read,
// nothing is allocated, nothing is copied (a parsed packet is a view into the caller's bytes),
// and a packet that breaks the RFC's rules is an error saying which rule — never a crash, never
// a read past the buffer (a libFuzzer target, fuzz/fuzz_rtp.cpp, holds them to that).
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>

namespace ae::pipeline {

// Why a datagram was not taken as an RTP or RTCP packet (counted per reason by the receiver).
enum class packet_error : std::uint8_t {
    truncated,     // shorter than its headers say
    bad_version,   // not version 2
    bad_padding,   // the padding count is 0 or larger than the payload
    not_rtcp,      // an RTCP packet type outside 200..204, or a compound that does not start with SR/RR
    empty_payload, // an RTP packet without payload
};
[[nodiscard]] const char* to_string(packet_error error) noexcept;

struct rtp_header {
    std::uint8_t payload_type = 0;
    bool marker = false;
    std::uint16_t sequence = 0;
    std::uint32_t timestamp = 0;
    std::uint32_t ssrc = 0;
};

struct rtp_packet {
    rtp_header header;
    std::span<const std::byte> payload; // without CSRCs, extension and padding
};

inline constexpr std::size_t rtp_header_bytes = 12;

// rt-safe: wait-free (no allocation; reads only inside `datagram`)
[[nodiscard]] std::expected<rtp_packet, packet_error> parse_rtp(std::span<const std::byte> datagram) noexcept;
// Writes the 12-byte header (no CSRC, no extension) at the start of `out`; returns the bytes
// written, 0 when `out` is too small.
// rt-safe: wait-free
[[nodiscard]] std::size_t write_rtp_header(const rtp_header& header, std::span<std::byte> out) noexcept;

// An RTCP report block: what the receiver of `ssrc` has seen.
struct rtcp_report_block {
    std::uint32_t ssrc = 0;
    std::uint8_t fraction_lost = 0;   // of 256, since the previous report
    std::int32_t cumulative_lost = 0; // 24-bit signed (duplicates make it negative)
    std::uint32_t highest_sequence = 0; // extended: cycles << 16 | sequence
    std::uint32_t jitter = 0;         // interarrival jitter, in timestamp units
    std::uint32_t last_sender_report = 0; // LSR: middle 32 bits of the SR's NTP time, 0 when none yet
    std::uint32_t delay_since_last_sender_report = 0; // DLSR, in 1/65536 s
};

struct rtcp_sender_info {
    std::uint64_t ntp_time = 0; // NTP format: seconds since 1900 << 32 | fraction
    std::uint32_t rtp_timestamp = 0;
    std::uint32_t packet_count = 0;
    std::uint32_t octet_count = 0;
};

// What one compound RTCP datagram said. Report blocks past the fourth are counted, not kept.
struct rtcp_summary {
    std::uint32_t sender_ssrc = 0;
    bool has_sender_info = false;
    rtcp_sender_info sender_info;
    std::array<rtcp_report_block, 4> reports{};
    std::uint8_t report_count = 0; // kept in `reports`
    bool bye = false;
};

// rt-safe: wait-free (bounded by the datagram's length)
[[nodiscard]] std::expected<rtcp_summary, packet_error> parse_rtcp(std::span<const std::byte> datagram) noexcept;

// A sender report (with `report` as its one report block when given) followed by an SDES CNAME,
// as RFC 3550 asks of every compound packet. Returns the bytes written, 0 when `out` is too small.
// rt-safe: wait-free
[[nodiscard]] std::size_t write_sender_report(std::uint32_t ssrc, const rtcp_sender_info& info, const char* cname,
                                              std::span<std::byte> out) noexcept;
// A receiver report with one report block, then the SDES CNAME.
// rt-safe: wait-free
[[nodiscard]] std::size_t write_receiver_report(std::uint32_t ssrc, const rtcp_report_block& block, const char* cname,
                                                std::span<std::byte> out) noexcept;

// The middle 32 bits of an NTP time (what LSR carries and round trips are computed in).
// rt-safe: wait-free
[[nodiscard]] constexpr std::uint32_t ntp_middle(std::uint64_t ntp_time) noexcept {
    return static_cast<std::uint32_t>(ntp_time >> 16);
}

} // namespace ae::pipeline

#pragma GCC visibility pop
