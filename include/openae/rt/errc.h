// openae — error codes (HRESULT / AEERR_* of the seed API).
//
// `ae::errc` values are what RT calls return; the control side carries them as std::error_code in
// `ae::error_category()`. No enumerator is zero, so `ae::errc{}` means success on RT paths.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <system_error>

namespace ae {

enum class errc : int {
    not_initialized = 1,   // set_buffer (or a period in the config) has not been given yet
    already_initialized,   // set_buffer was already done
    not_running,           // the endpoint is stopped
    already_running,       // start on a started endpoint
    bad_argument,          // an argument is out of range or inconsistent with the call's state
    too_many_frames,       // more frames than frames_per_packet() (or than the buffer holds)
    unsupported_format,    // the format cannot be carried or converted
    device_unavailable,    // the device cannot be opened
    device_lost,           // the device went away while in use
    timeout,               // an operation did not finish in time
    busy,                  // the resource is in use (a Get/Release pair is open, the ring is full)
    unknown_endpoint,      // no endpoint of that name
    bad_request,           // a malformed control request
    io_error,              // a file or socket operation failed
    wrong_thread,          // a blocking control call made on the control thread itself (it would deadlock)
};

// The category of `ae::errc`; its name is "openae".
[[nodiscard]] const std::error_category& error_category() noexcept;

// Makes a std::error_code of `ae::error_category()`. Found by ADL, so `ec == ae::errc::busy` works.
[[nodiscard]] inline std::error_code make_error_code(errc code) noexcept {
    return {static_cast<int>(code), error_category()};
}

// A short stable name for `code` ("busy", "not_running", ...), as used on the wire.
[[nodiscard]] const char* to_string(errc code) noexcept;

} // namespace ae

template <>
struct std::is_error_code_enum<ae::errc> : std::true_type {};

#pragma GCC visibility pop
