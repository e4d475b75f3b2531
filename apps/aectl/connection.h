// aectl's connection to a host's control socket: one JSON-lines request, its answer.
#pragma once

#include <nlohmann/json.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <expected>
#include <optional>
#include <string>

namespace aectl {

using nlohmann::json;

enum exit_code { ok = 0, refused = 1, usage = 2, no_server = 3, broken = 4 };

struct failure {
    int code;
    std::string message;
};

class connection {
public:
    ~connection() {
        if (fd_ >= 0) ::close(fd_);
    }
    std::optional<failure> open(const std::string& path) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) return failure{broken, std::string("socket: ") + std::strerror(errno)};
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        if (path.size() >= sizeof address.sun_path) return failure{usage, "socket path too long: " + path};
        std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
            return failure{no_server, "no openae server at " + path + " (" + std::strerror(errno) + ")"};
        return std::nullopt;
    }
    std::optional<failure> send_line(const std::string& line) {
        std::string text = line + "\n";
        std::size_t sent = 0;
        while (sent < text.size()) {
            const ssize_t n = ::send(fd_, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return failure{broken, std::string("send: ") + std::strerror(errno)};
            sent += static_cast<std::size_t>(n);
        }
        return std::nullopt;
    }
    // The next line; timeout_ms < 0 waits forever.
    std::expected<std::string, failure> read_line(int timeout_ms) {
        for (;;) {
            if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
                std::string line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                return line;
            }
            pollfd p{fd_, POLLIN, 0};
            const int ready = ::poll(&p, 1, timeout_ms);
            if (ready < 0 && errno == EINTR) continue;
            if (ready == 0) return std::unexpected(failure{broken, "no answer within " + std::to_string(timeout_ms) + " ms"});
            char chunk[8192];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return std::unexpected(failure{broken, "the server closed the connection"});
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

private:
    int fd_ = -1;
    std::string buffer_;
};

// Sends `request` and returns the answer with its id (events that come before it are skipped).
inline std::expected<json, failure> call(connection& c, json request, int timeout_ms) {
    request["id"] = 1;
    if (auto f = c.send_line(request.dump())) return std::unexpected(*f);
    for (;;) {
        auto line = c.read_line(timeout_ms);
        if (!line) return std::unexpected(line.error());
        json answer = json::parse(*line, nullptr, false);
        if (answer.is_discarded()) return std::unexpected(failure{broken, "the server answered something that is not JSON"});
        if (answer.contains("id") && answer["id"] == 1) return answer;
    }
}


// `aectl top`: the live view (top.cpp).
int run_top(connection& c, int timeout_ms, bool once, int interval_ms);
// `aectl plot`: ae-host --metrics snapshots drawn as an SVG timeline (plot.cpp); no socket.
int run_plot(const std::string& input, const std::string& output);

} // namespace aectl
