// A blocking test client for the control socket: lines out, lines in, every wait bounded.
#pragma once

#include <nlohmann/json.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

namespace ae::test {

class socket_client {
public:
    explicit socket_client(const std::string& path) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
        connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    }
    ~socket_client() {
        if (fd_ >= 0) ::close(fd_);
    }
    socket_client(const socket_client&) = delete;
    socket_client& operator=(const socket_client&) = delete;

    [[nodiscard]] bool connected() const noexcept { return connected_; }
    [[nodiscard]] int fd() const noexcept { return fd_; }

    bool send_raw(const std::string& bytes) {
        std::size_t sent = 0;
        while (sent < bytes.size()) {
            const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            sent += static_cast<std::size_t>(n);
        }
        return true;
    }
    bool send(const nlohmann::json& request) { return send_raw(request.dump() + "\n"); }

    // The next line, or nullopt on timeout / close.
    std::optional<std::string> read_line(int timeout_ms = 5000) {
        for (;;) {
            if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
                std::string line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                return line;
            }
            pollfd p{fd_, POLLIN, 0};
            const int ready = ::poll(&p, 1, timeout_ms);
            if (ready < 0 && errno == EINTR) continue;
            if (ready <= 0) return std::nullopt;
            char chunk[16384];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                closed_ = true;
                return std::nullopt;
            }
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }
    std::optional<nlohmann::json> read_json(int timeout_ms = 5000) {
        auto line = read_line(timeout_ms);
        if (!line) return std::nullopt;
        return nlohmann::json::parse(*line, nullptr, false);
    }
    // Sends `request` and reads the next line as its answer.
    nlohmann::json call(nlohmann::json request, int timeout_ms = 5000) {
        if (!send(request)) return nlohmann::json{{"send_failed", true}};
        auto answer = read_json(timeout_ms);
        return answer ? *answer : nlohmann::json{{"timeout", true}};
    }
    [[nodiscard]] bool closed_by_peer() const noexcept { return closed_; }

private:
    int fd_ = -1;
    bool connected_ = false;
    bool closed_ = false;
    std::string buffer_;
};

// The error code of an answer, or "ok".
inline std::string code_of(const nlohmann::json& answer) {
    if (answer.value("ok", false)) return "ok";
    if (answer.contains("error") && answer["error"].contains("code")) return answer["error"]["code"].get<std::string>();
    return "no answer: " + answer.dump();
}

} // namespace ae::test
