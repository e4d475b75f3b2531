// UDP ports for the RTP tests: a free pair to bind next, and whether a peer has bound one.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

namespace ae::test {

// An even port whose pair is free now (the peer binds it next). Drawn at random below the
// system's ephemeral range (32768 and up), so no socket bound to port 0 anywhere can take it
// between this check and the peer's bind; tests running side by side draw different ones.
inline std::uint16_t free_port_pair() {
    static std::mt19937 random(std::random_device{}());
    const auto bindable = [](std::uint16_t port) {
        const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(port);
        const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
        ::close(fd);
        return ok;
    };
    for (int attempt = 0; attempt < 256; ++attempt) {
        const auto port = static_cast<std::uint16_t>(20000 + 2 * std::uniform_int_distribution<int>(0, 5999)(random));
        if (bindable(port) && bindable(static_cast<std::uint16_t>(port + 1))) return port;
    }
    throw std::runtime_error("no free UDP port pair");
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
// Up to 10 s; false when nobody bound it.
[[nodiscard]] inline bool wait_udp_bound(std::uint16_t port) {
    for (int i = 0; i < 1000 && !udp_bound(port); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return udp_bound(port);
}

} // namespace ae::test
