// UDP sockets and times for the RTP devices' network threads (never an ae-rt thread).
#pragma once

#include "unique_fd.h"

#include <openae/pipeline/device_error.h>
#include <openae/rt/types.h>

#include <netinet/in.h>

#include <cstdint>
#include <expected>
#include <string>
#include <utility>

namespace ae::pipeline::rtp_net {

using pipeline::unique_fd;

// "HOST:PORT" (HOST a dotted IPv4 address or a name; resolved now, on the control side).
[[nodiscard]] std::expected<sockaddr_in, device_error> resolve(const std::string& host_port, const std::string& spec);
[[nodiscard]] sockaddr_in with_port(sockaddr_in address, std::uint16_t port) noexcept;
[[nodiscard]] std::string to_string(const sockaddr_in& address);
// A non-blocking UDP socket bound to `address` (port 0: any).
[[nodiscard]] std::expected<unique_fd, device_error> bind_udp(const sockaddr_in& address, const std::string& spec);
// Two sockets on ports P and P + 1 of `address` (P even, chosen by the system): RTP and RTCP.
[[nodiscard]] std::expected<std::pair<unique_fd, unique_fd>, device_error> bind_udp_pair(const sockaddr_in& address,
                                                                                         const std::string& spec);
[[nodiscard]] std::uint16_t local_port(int fd) noexcept;
// Waits until one of `fds` (count up to 4, -1 skipped) is readable or `timeout` passed.
void wait_readable(const int* fds, int count, hns timeout) noexcept;
void clear_eventfd(int fd) noexcept;
// Now in NTP format (CLOCK_REALTIME), for RTCP.
[[nodiscard]] std::uint64_t ntp_now() noexcept;

} // namespace ae::pipeline::rtp_net
