#include "rtp_net.h"

#include <openae/rt/errc.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

namespace ae::pipeline::rtp_net {
namespace {
device_error net_error(errc code, const std::string& spec, const std::string& why) {
    return {make_error_code(code), "rtp device '" + spec + "': " + why};
}
} // namespace

std::expected<sockaddr_in, device_error> resolve(const std::string& host_port, const std::string& spec) {
    const std::size_t colon = host_port.rfind(':');
    if (colon == std::string::npos || colon == 0)
        return std::unexpected(net_error(errc::bad_argument, spec, "the target must be HOST:PORT"));
    const std::string host = host_port.substr(0, colon);
    const std::string port_text = host_port.substr(colon + 1);
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65534)
        return std::unexpected(net_error(errc::bad_argument, spec, "bad port '" + port_text + "' (1..65534: RTCP takes PORT + 1)"));
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0 || !found)
        return std::unexpected(net_error(errc::device_unavailable, spec, "cannot resolve '" + host + "': " + ::gai_strerror(rc)));
    sockaddr_in address{};
    std::memcpy(&address, found->ai_addr, sizeof address);
    ::freeaddrinfo(found);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    return address;
}

sockaddr_in with_port(sockaddr_in address, std::uint16_t port) noexcept {
    address.sin_port = htons(port);
    return address;
}

std::string to_string(const sockaddr_in& address) {
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(address.sin_port));
}

std::expected<unique_fd, device_error> bind_udp(const sockaddr_in& address, const std::string& spec) {
    unique_fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return std::unexpected(net_error(errc::io_error, spec, std::string("socket: ") + std::strerror(errno)));
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
        return std::unexpected(net_error(errc::device_unavailable, spec, "cannot bind " + to_string(address) + ": " + std::strerror(errno)));
    return fd;
}

std::uint16_t local_port(int fd) noexcept {
    sockaddr_in address{};
    socklen_t size = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) return 0;
    return ntohs(address.sin_port);
}

std::expected<std::pair<unique_fd, unique_fd>, device_error> bind_udp_pair(const sockaddr_in& address, const std::string& spec) {
    // The system picks a free port; its neighbour is usually free too: a few tries.
    for (int attempt = 0; attempt < 32; ++attempt) {
        auto probe = bind_udp(with_port(address, 0), spec);
        if (!probe) return std::unexpected(probe.error());
        std::uint16_t port = local_port(probe->get());
        if (port & 1) continue;
        auto rtcp = bind_udp(with_port(address, static_cast<std::uint16_t>(port + 1)), spec);
        if (rtcp) return std::pair{std::move(*probe), std::move(*rtcp)};
    }
    return std::unexpected(net_error(errc::device_unavailable, spec, "no free pair of UDP ports for RTP and RTCP"));
}

void wait_readable(const int* fds, int count, hns timeout) noexcept {
    pollfd p[4];
    int n = 0;
    for (int i = 0; i < count && n < 4; ++i) {
        if (fds[i] >= 0) p[n++] = pollfd{fds[i], POLLIN, 0};
    }
    const std::int64_t ticks = std::max<std::int64_t>(timeout.count(), 0);
    const timespec wait{static_cast<time_t>(ticks / 10'000'000), static_cast<long>(ticks % 10'000'000 * 100)};
    ::ppoll(p, static_cast<nfds_t>(n), &wait, nullptr);
}

void clear_eventfd(int fd) noexcept {
    std::uint64_t count = 0;
    [[maybe_unused]] const auto got = ::read(fd, &count, sizeof count);
}

std::uint64_t ntp_now() noexcept {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    constexpr std::uint64_t unix_to_ntp = 2'208'988'800ull;
    const std::uint64_t seconds = static_cast<std::uint64_t>(now.tv_sec) + unix_to_ntp;
    const std::uint64_t fraction = (static_cast<std::uint64_t>(now.tv_nsec) << 32) / 1'000'000'000ull;
    return seconds << 32 | fraction;
}

} // namespace ae::pipeline::rtp_net
