#include <openae/rt/errc.h>

#include <string>

namespace ae {
namespace {

class openae_category final : public std::error_category {
public:
    const char* name() const noexcept override { return "openae"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
        case errc::not_initialized: return "endpoint not initialized: call set_buffer (or give a period) first";
        case errc::already_initialized: return "endpoint already initialized: set_buffer may be called once";
        case errc::not_running: return "endpoint is not running: call start first";
        case errc::already_running: return "endpoint is already running";
        case errc::bad_argument: return "bad argument: a value is out of range or does not match the open request";
        case errc::too_many_frames: return "too many frames: ask for at most frames_per_packet() frames";
        case errc::unsupported_format: return "unsupported format: use a rate of 1000..768000 Hz, 1..64 channels, s16/s24/s32/f32";
        case errc::device_unavailable: return "device unavailable: check the device spec and that the device exists";
        case errc::device_lost: return "device lost: the device went away; the endpoint reroutes by its routing policy";
        case errc::timeout: return "timed out";
        case errc::busy: return "busy: release the open data pointer, or wait for space in the buffer";
        case errc::unknown_endpoint: return "unknown endpoint: list endpoints to see their names";
        case errc::bad_request: return "bad request: the control message is malformed";
        case errc::io_error: return "input/output error";
        case errc::wrong_thread: return "blocking call on the control thread (use the async_ form there)";
        }
        return "unknown openae error " + std::to_string(value);
    }
};

} // namespace

const std::error_category& error_category() noexcept {
    static const openae_category category;
    return category;
}

const char* to_string(errc code) noexcept {
    switch (code) {
    case errc::not_initialized: return "not_initialized";
    case errc::already_initialized: return "already_initialized";
    case errc::not_running: return "not_running";
    case errc::already_running: return "already_running";
    case errc::bad_argument: return "bad_argument";
    case errc::too_many_frames: return "too_many_frames";
    case errc::unsupported_format: return "unsupported_format";
    case errc::device_unavailable: return "device_unavailable";
    case errc::device_lost: return "device_lost";
    case errc::timeout: return "timeout";
    case errc::busy: return "busy";
    case errc::unknown_endpoint: return "unknown_endpoint";
    case errc::bad_request: return "bad_request";
    case errc::io_error: return "io_error";
    case errc::wrong_thread: return "wrong_thread";
    }
    return "unknown";
}

} // namespace ae
