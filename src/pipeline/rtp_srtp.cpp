#include "rtp_srtp.h"

#include <openae/rt/errc.h>

#include <srtp2/srtp.h>

#include <array>
#include <random>
#include <vector>

namespace ae::pipeline {
namespace {

constexpr std::size_t master_bytes = 30; // 16 key + 14 salt (AES-CM-128)
constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

device_error srtp_error(errc code, const std::string& why) { return {make_error_code(code), "srtp: " + why}; }

std::string base64(const unsigned char* data, std::size_t size) {
    std::string out;
    for (std::size_t i = 0; i < size; i += 3) {
        const std::uint32_t chunk = std::uint32_t{data[i]} << 16 | (i + 1 < size ? std::uint32_t{data[i + 1]} << 8 : 0u) |
                                    (i + 2 < size ? data[i + 2] : 0u);
        out += alphabet[chunk >> 18 & 63];
        out += alphabet[chunk >> 12 & 63];
        out += i + 1 < size ? alphabet[chunk >> 6 & 63] : '=';
        out += i + 2 < size ? alphabet[chunk & 63] : '=';
    }
    return out;
}

std::expected<std::vector<unsigned char>, int> unbase64(const std::string& text) {
    std::vector<unsigned char> out;
    std::uint32_t chunk = 0;
    int bits = 0;
    std::size_t padding = 0;
    for (const char c : text) {
        if (c == '=') {
            ++padding;
            continue;
        }
        if (padding > 0) return std::unexpected(0); // data after padding
        const char* at = std::char_traits<char>::find(alphabet, 64, c);
        if (!at) return std::unexpected(0);
        chunk = chunk << 6 | static_cast<std::uint32_t>(at - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<unsigned char>(chunk >> bits & 0xff));
        }
    }
    if (padding > 2) return std::unexpected(0);
    return out;
}

bool library_ready() {
    static const bool ready = srtp_init() == srtp_err_status_ok;
    return ready;
}

} // namespace

struct srtp_session::state {
    srtp_t session = nullptr;
    ~state() {
        if (session) srtp_dealloc(session);
    }
};

srtp_session::srtp_session(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}
srtp_session::srtp_session(srtp_session&&) noexcept = default;
srtp_session& srtp_session::operator=(srtp_session&&) noexcept = default;
srtp_session::~srtp_session() = default;

std::expected<srtp_session, device_error> srtp_session::create(const std::string& suite, const std::string& key, direction way) {
    if (!library_ready()) return std::unexpected(srtp_error(errc::io_error, "libsrtp2 did not initialise"));
    srtp_policy_t policy{};
    if (suite == "AES_CM_128_HMAC_SHA1_80") {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    } else if (suite == "AES_CM_128_HMAC_SHA1_32") {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&policy.rtp);
    } else {
        return std::unexpected(srtp_error(errc::unsupported_format, "suite '" + suite + "' (AES_CM_128_HMAC_SHA1_80 or AES_CM_128_HMAC_SHA1_32)"));
    }
    // RFC 3711: SRTCP always carries the 80-bit tag.
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
    auto master = unbase64(key);
    if (!master || master->size() != master_bytes)
        return std::unexpected(srtp_error(errc::bad_argument, "the key is not base64 of 30 bytes (16 of key, 14 of salt)"));
    policy.ssrc.type = way == direction::outbound ? ssrc_any_outbound : ssrc_any_inbound;
    policy.key = master->data();
    policy.window_size = 1024;
    policy.allow_repeat_tx = 0;
    auto s = std::make_unique<state>();
    if (srtp_create(&s->session, &policy) != srtp_err_status_ok) return std::unexpected(srtp_error(errc::io_error, "srtp_create failed"));
    std::fill(master->begin(), master->end(), 0);
    return srtp_session(std::move(s));
}

bool srtp_session::protect_rtp(std::byte* data, std::size_t& size, std::size_t capacity) noexcept {
    if (capacity < size + srtp_trailer_bytes) return false;
    int length = static_cast<int>(size);
    if (srtp_protect(state_->session, data, &length) != srtp_err_status_ok) return false;
    size = static_cast<std::size_t>(length);
    return true;
}

bool srtp_session::protect_rtcp(std::byte* data, std::size_t& size, std::size_t capacity) noexcept {
    if (capacity < size + srtp_trailer_bytes + 4) return false;
    int length = static_cast<int>(size);
    if (srtp_protect_rtcp(state_->session, data, &length) != srtp_err_status_ok) return false;
    size = static_cast<std::size_t>(length);
    return true;
}

bool srtp_session::unprotect_rtp(std::byte* data, std::size_t& size) noexcept {
    int length = static_cast<int>(size);
    if (srtp_unprotect(state_->session, data, &length) != srtp_err_status_ok) return false;
    size = static_cast<std::size_t>(length);
    return true;
}

bool srtp_session::unprotect_rtcp(std::byte* data, std::size_t& size) noexcept {
    int length = static_cast<int>(size);
    if (srtp_unprotect_rtcp(state_->session, data, &length) != srtp_err_status_ok) return false;
    size = static_cast<std::size_t>(length);
    return true;
}

std::string make_srtp_key() {
    std::random_device random;
    std::array<unsigned char, master_bytes> master{};
    for (auto& b : master) b = static_cast<unsigned char>(random());
    return base64(master.data(), master.size());
}

} // namespace ae::pipeline
