// openae — device_error: why a device could not be made or opened, for a person and a program.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <string>
#include <system_error>

namespace ae::pipeline {

struct device_error {
    std::error_code code;  // ae::errc: bad_argument, unsupported_format, device_unavailable, io_error...
    std::string message;   // names the device (spec or file) and the reason
};

} // namespace ae::pipeline

#pragma GCC visibility pop
