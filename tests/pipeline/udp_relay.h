// A UDP relay for the RTP tests: forwards datagrams from its port to 127.0.0.1:TO_PORT with
// seeded faults — loss, duplication, delay and jitter (which reorders packets closer together than
// the jitter). With `rtcp`, it binds a port pair and also carries RTCP, without faults, both ways:
// PORT + 1 to TO_PORT + 1, and the receiver's reports back to the last sender seen. Its own
// thread; stopped and joined with the object.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "realtime_scope.h"
#include "udp_ports.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <queue>
#include <random>
#include <thread>
#include <vector>

namespace ae::test {

class udp_relay {
public:
    struct faults {
        double loss = 0;      // probability a datagram is dropped
        double duplicate = 0; // probability it is sent twice
        double delay_ms = 0;  // added to every datagram
        double jitter_ms = 0; // plus uniform 0..jitter
        std::uint32_t seed = 1;
    };

    udp_relay(std::uint16_t to_port, faults f, bool rtcp = false) : faults_(f), random_(f.seed) {
        const std::uint16_t port = rtcp ? free_port_pair() : 0;
        socket_ = bound_socket(port);
        if (rtcp) rtcp_socket_ = bound_socket(static_cast<std::uint16_t>(port + 1));
        sockaddr_in address{};
        socklen_t size = sizeof address;
        ::getsockname(socket_, reinterpret_cast<sockaddr*>(&address), &size);
        port_ = ntohs(address.sin_port);
        to_.sin_family = AF_INET;
        to_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        to_.sin_port = htons(to_port);
        rtcp_to_ = to_;
        rtcp_to_.sin_port = htons(static_cast<std::uint16_t>(to_port + 1));
        thread_ = std::thread([this] { run(); });
    }
    ~udp_relay() {
        stop_.store(true);
        thread_.join();
        ::close(socket_);
        if (rtcp_socket_ >= 0) ::close(rtcp_socket_);
    }
    udp_relay(const udp_relay&) = delete;
    udp_relay& operator=(const udp_relay&) = delete;

    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] std::uint64_t forwarded() const { return forwarded_.load(); }
    [[nodiscard]] std::uint64_t dropped() const { return dropped_.load(); }
    [[nodiscard]] std::uint64_t duplicated() const { return duplicated_.load(); }

private:
    using clock = std::chrono::steady_clock;
    struct pending {
        clock::time_point due;
        std::vector<std::byte> datagram;
        bool operator>(const pending& other) const { return due > other.due; }
    };

    static int bound_socket(std::uint16_t port) {
        const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(port);
        ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
        return fd;
    }

    // RTCP as it comes: to the receiver, or (from the receiver's port) back to the sender.
    void carry_rtcp() {
        std::byte buffer[2048];
        for (;;) {
            sockaddr_in from{};
            socklen_t size = sizeof from;
            const ssize_t got = ::recvfrom(rtcp_socket_, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &size);
            if (got <= 0) return;
            const bool from_receiver = from.sin_port == rtcp_to_.sin_port;
            if (!from_receiver) rtcp_sender_ = from;
            if (from_receiver && rtcp_sender_.sin_port == 0) continue;
            const sockaddr_in& to = from_receiver ? rtcp_sender_ : rtcp_to_;
            ::sendto(rtcp_socket_, buffer, static_cast<std::size_t>(got), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
        }
    }

    void run() {
        // The network it stands for is not starved by the machine's load: only the faults asked for.
        const realtime_scope priority(65);
        std::uniform_real_distribution<double> uniform(0, 1);
        std::priority_queue<pending, std::vector<pending>, std::greater<>> queue;
        std::byte buffer[2048];
        while (!stop_.load()) {
            // To the microsecond (at RT priority, a wait rounded down to 0 ms would spin).
            auto wait = std::chrono::microseconds(5000);
            if (!queue.empty()) wait = std::min(wait, std::chrono::ceil<std::chrono::microseconds>(queue.top().due - clock::now()));
            wait = std::max(wait, std::chrono::microseconds(0));
            const timespec timeout{0, static_cast<long>(wait.count()) * 1000};
            pollfd p[2] = {{socket_, POLLIN, 0}, {rtcp_socket_, POLLIN, 0}};
            ::ppoll(p, rtcp_socket_ >= 0 ? 2 : 1, &timeout, nullptr);
            if (rtcp_socket_ >= 0) carry_rtcp();
            for (;;) {
                const ssize_t got = ::recv(socket_, buffer, sizeof buffer, 0);
                if (got <= 0) break;
                if (uniform(random_) < faults_.loss) {
                    dropped_.fetch_add(1);
                    continue;
                }
                const int copies = uniform(random_) < faults_.duplicate ? 2 : 1;
                if (copies == 2) duplicated_.fetch_add(1);
                for (int c = 0; c < copies; ++c) {
                    const double ms = faults_.delay_ms + faults_.jitter_ms * uniform(random_);
                    queue.push({clock::now() + std::chrono::microseconds(static_cast<std::int64_t>(ms * 1000)),
                                std::vector<std::byte>(buffer, buffer + got)});
                }
            }
            while (!queue.empty() && queue.top().due <= clock::now()) {
                const auto& d = queue.top().datagram;
                ::sendto(socket_, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to_), sizeof to_);
                forwarded_.fetch_add(1);
                queue.pop();
            }
        }
    }

    faults faults_;
    std::mt19937 random_;
    int socket_ = -1;
    int rtcp_socket_ = -1;
    std::uint16_t port_ = 0;
    sockaddr_in to_{};
    sockaddr_in rtcp_to_{};
    sockaddr_in rtcp_sender_{}; // the relay thread's own
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> forwarded_{0}, dropped_{0}, duplicated_{0};
};

} // namespace ae::test
