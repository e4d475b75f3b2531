// The C API's value types must stay layout-compatible with the C++ ones.
#include <openae/openae.h>
#include <openae/rt/errc.h>
#include <openae/rt/types.h>

#include <cstddef>

static_assert(sizeof(ae_position) == sizeof(ae::position));
static_assert(offsetof(ae_position, time) == offsetof(ae::position, time));
static_assert(offsetof(ae_position, flags) == offsetof(ae::position, flags));
static_assert(offsetof(ae_position, epoch) == offsetof(ae::position, epoch));
static_assert(offsetof(ae_position, time_error) == offsetof(ae::position, time_error));
static_assert(sizeof(ae_frame_format) == sizeof(ae::frame_format));
static_assert(offsetof(ae_frame_format, sample) == offsetof(ae::frame_format, sample));
static_assert(sizeof(ae_connection_property) == sizeof(ae::connection_property));
static_assert(AE_ERR_IO_ERROR == static_cast<int>(ae::errc::io_error));
static_assert(AE_ERR_WRONG_THREAD == static_cast<int>(ae::errc::wrong_thread));
static_assert(AE_ERR_BUSY == static_cast<int>(ae::errc::busy));

extern "C" const char* ae_error_name(int error) {
    return error == 0 ? "ok" : ae::to_string(static_cast<ae::errc>(error));
}

extern "C" const char* ae_version(void) { return OPENAE_VERSION; }
