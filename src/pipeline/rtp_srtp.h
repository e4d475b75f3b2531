// SRTP and SRTCP (RFC 3711) for the RTP devices, through libsrtp2: one session per direction,
// keyed by SDES (RFC 4568: a base64 master key and salt, as in an SDP's a=crypto line).
// Used on the devices' network threads only. Keys are never put in a message or a log.
#pragma once

#include <openae/pipeline/device_error.h>

#include <cstddef>
#include <expected>
#include <memory>
#include <string>

namespace ae::pipeline {

inline constexpr std::size_t srtp_trailer_bytes = 16 + 128; // libsrtp's SRTP_MAX_TRAILER_LEN, with MKI room

class srtp_session {
public:
    enum class direction { outbound, inbound };
    // `suite`: AES_CM_128_HMAC_SHA1_80 or AES_CM_128_HMAC_SHA1_32; `key`: base64 of the 30-byte
    // master key and salt. Errors name the suite or say the key is malformed, never the key.
    [[nodiscard]] static std::expected<srtp_session, device_error> create(const std::string& suite, const std::string& key,
                                                                          direction way);
    srtp_session(srtp_session&&) noexcept;
    srtp_session& operator=(srtp_session&&) noexcept;
    ~srtp_session();

    // In place. `size` in and out; protect needs `capacity` >= size + srtp_trailer_bytes.
    [[nodiscard]] bool protect_rtp(std::byte* data, std::size_t& size, std::size_t capacity) noexcept;
    [[nodiscard]] bool protect_rtcp(std::byte* data, std::size_t& size, std::size_t capacity) noexcept;
    // false: the packet failed authentication (or replay protection) and must be dropped.
    [[nodiscard]] bool unprotect_rtp(std::byte* data, std::size_t& size) noexcept;
    [[nodiscard]] bool unprotect_rtcp(std::byte* data, std::size_t& size) noexcept;

private:
    struct state;
    explicit srtp_session(std::unique_ptr<state> s) noexcept;
    std::unique_ptr<state> state_;
};

// A fresh master key and salt (30 random bytes), base64 — for key=auto.
[[nodiscard]] std::string make_srtp_key();

} // namespace ae::pipeline
