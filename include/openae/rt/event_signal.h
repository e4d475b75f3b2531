// openae — signalling an eventfd from an RT thread.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <unistd.h>

#include <cstdint>

namespace ae {

// Adds one to the eventfd `fd` (nothing for fd < 0). The fd must be non-blocking: then the write
// never waits, and EAGAIN (counter saturated) only means the event is already signalled.
// rt-safe: wait-free (a non-blocking write)
inline void signal_eventfd(int fd) noexcept {
    if (fd < 0) return;
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(fd, &one, sizeof one);
}

} // namespace ae

#pragma GCC visibility pop
