// A UDP relay for the RTP tests: forwards datagrams from its port to 127.0.0.1:TO_PORT with
// seeded faults — loss, duplication, delay and jitter (which reorders packets closer together than
// the jitter). Its own thread; stopped and joined with the object.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

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

    udp_relay(std::uint16_t to_port, faults f) : faults_(f), random_(f.seed) {
        socket_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(socket_, reinterpret_cast<sockaddr*>(&address), sizeof address);
        socklen_t size = sizeof address;
        ::getsockname(socket_, reinterpret_cast<sockaddr*>(&address), &size);
        port_ = ntohs(address.sin_port);
        to_.sin_family = AF_INET;
        to_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        to_.sin_port = htons(to_port);
        thread_ = std::thread([this] { run(); });
    }
    ~udp_relay() {
        stop_.store(true);
        thread_.join();
        ::close(socket_);
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

    void run() {
        std::uniform_real_distribution<double> uniform(0, 1);
        std::priority_queue<pending, std::vector<pending>, std::greater<>> queue;
        std::byte buffer[2048];
        while (!stop_.load()) {
            auto wait = std::chrono::milliseconds(5);
            if (!queue.empty()) wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(queue.top().due - clock::now()));
            pollfd p{socket_, POLLIN, 0};
            ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, wait.count())));
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
    std::uint16_t port_ = 0;
    sockaddr_in to_{};
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> forwarded_{0}, dropped_{0}, duplicated_{0};
};

} // namespace ae::test
