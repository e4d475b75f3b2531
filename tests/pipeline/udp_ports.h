// UDP ports for the RTP tests: a free pair to bind next, and whether a peer has bound one.
#pragma once

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

namespace ae::test {

// An even port whose pair is free now (the peer binds it next).
inline std::uint16_t free_port_pair() {
    for (int attempt = 0; attempt < 64; ++attempt) {
        const int a = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t size = sizeof address;
        ::bind(a, reinterpret_cast<sockaddr*>(&address), sizeof address);
        ::getsockname(a, reinterpret_cast<sockaddr*>(&address), &size);
        const std::uint16_t port = ntohs(address.sin_port);
        ::close(a);
        if (port % 2 != 0 || port > 65000) continue;
        const int b = ::socket(AF_INET, SOCK_DGRAM, 0);
        address.sin_port = htons(static_cast<std::uint16_t>(port + 1));
        const bool free = ::bind(b, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
        ::close(b);
        if (free) return port;
    }
    FAIL("no free UDP port pair");
    return 0;
}

// Whether some process has bound UDP `port` (read from /proc/net/udp): how the test knows that
// ffmpeg listens before it sends, without guessing a delay.
inline bool udp_bound(std::uint16_t port) {
    std::ifstream table("/proc/net/udp");
    std::string line;
    char wanted[8];
    std::snprintf(wanted, sizeof wanted, ":%04X ", port);
    while (std::getline(table, line)) {
        if (line.find(wanted) != std::string::npos && line.find(wanted) < 20) return true;
    }
    return false;
}
inline void wait_udp_bound(std::uint16_t port) {
    for (int i = 0; i < 1000 && !udp_bound(port); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(udp_bound(port));
}

} // namespace ae::test
