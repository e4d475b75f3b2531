// The control socket: JSON lines over a unix stream socket, every client asynchronous on ae-ctl.
#include <openae/control/server.h>

#include "context_access.h"

#include "json_log.h"

#include <asio/local/stream_protocol.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <set>

namespace ae {

using stream = asio::local::stream_protocol;

namespace {

engine_error failure(errc code, std::string message) { return {make_error_code(code), std::move(message)}; }

// Makes the socket's directory (0700 when we create it) and clears a stale socket file. A live
// server on the path is `busy`; a path that is not a socket is left alone.
std::expected<void, engine_error> prepare_path(const std::string& path) {
    if (path.size() >= sizeof(sockaddr_un{}.sun_path)) return std::unexpected(failure(errc::bad_argument, "socket path too long: " + path));
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    if (!dir.empty()) {
        std::error_code ec;
        if (!std::filesystem::exists(dir, ec)) {
            std::filesystem::create_directories(dir, ec);
            if (ec) return std::unexpected(failure(errc::io_error, "cannot create " + dir.string() + ": " + ec.message()));
            ::chmod(dir.c_str(), 0700);
        }
    }
    struct stat st{};
    if (::lstat(path.c_str(), &st) != 0) return {};
    if (!S_ISSOCK(st.st_mode)) return std::unexpected(failure(errc::io_error, path + " exists and is not a socket"));
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return std::unexpected(failure(errc::io_error, std::string("socket: ") + std::strerror(errno)));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const bool live = ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    ::close(probe);
    if (live) return std::unexpected(failure(errc::busy, "another server listens on " + path));
    ::unlink(path.c_str());
    return {};
}

} // namespace

struct control_server::state : std::enable_shared_from_this<control_server::state> {
    state(control_service& s, server_options o) : service(s), options(std::move(o)), acceptor(detail::context_access::actor(s.ctx())->executor()) {}

    struct session;

    control_service& service;
    server_options options;
    stream::acceptor acceptor;
    std::set<std::shared_ptr<session>> sessions;
    bool closed = false;
    // order: relaxed — counters.
    std::atomic<std::uint64_t> accepted{0}, connected{0}, requests{0}, bad_requests{0}, dropped_slow{0}, refused{0};

    void accept();
    void log(spdlog::level::level_enum level, nlohmann::json fields) {
        fields["component"] = "control";
        control_detail::log_json(detail::context_access::actor(service.ctx())->logger(), level, fields);
    }
};

struct control_server::state::session : std::enable_shared_from_this<session> {
    session(std::shared_ptr<state> s, stream::socket sock, std::uint64_t n) : server(std::move(s)), socket(std::move(sock)), number(n) {}

    std::shared_ptr<state> server;
    stream::socket socket;
    std::uint64_t number;
    std::array<char, 16 * 1024> input{};
    std::string line;
    bool discarding = false; // inside a line over the limit: its bytes are dropped as they come
    std::deque<std::string> output;
    std::size_t output_bytes = 0;
    bool writing = false;
    bool closed = false;

    void read() {
        socket.async_read_some(asio::buffer(input), [self = shared_from_this()](const std::error_code& ec, std::size_t n) {
            if (self->closed) return;
            if (ec) return self->close();
            self->consume(n);
            if (!self->closed) self->read();
        });
    }

    void consume(std::size_t n) {
        const char* p = input.data();
        const char* end = p + n;
        while (p < end && !closed) {
            const char* newline = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
            const char* stop = newline ? newline : end;
            if (!discarding) {
                if (line.size() + static_cast<std::size_t>(stop - p) > server->options.max_line_bytes) {
                    discarding = true;
                    line.clear();
                    line.shrink_to_fit();
                } else {
                    line.append(p, stop);
                }
            }
            if (!newline) break;
            finish_line();
            p = newline + 1;
        }
    }

    void finish_line() {
        ++server->requests;
        if (discarding) {
            discarding = false;
            ++server->bad_requests;
            const std::string message = "line over " + std::to_string(server->options.max_line_bytes) + " bytes";
            detail::context_access::actor(server->service.ctx())->log_refused("", "bad_request", message);
            send(nlohmann::json{{"id", nullptr}, {"ok", false}, {"error", {{"code", "bad_request"}, {"message", message}}}}.dump());
            return;
        }
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) {
            --server->requests;
            return;
        }
        std::weak_ptr<session> weak = shared_from_this();
        server->service.handle(
            line,
            [weak](std::string response) {
                if (auto me = weak.lock()) {
                    if (response.find(R"("code":"bad_request")") != std::string::npos) ++me->server->bad_requests;
                    me->send(std::move(response));
                }
            },
            [weak](const std::string& event_line) {
                if (auto me = weak.lock()) me->send(event_line);
            },
            this);
        line.clear();
    }

    // Queues a line; a client that lets more than max_pending_bytes pile up is dropped.
    void send(std::string text) {
        if (closed) return;
        text.push_back('\n');
        if (output_bytes + text.size() > server->options.max_pending_bytes) {
            ++server->dropped_slow;
            close("client does not read: dropped with " + std::to_string(output_bytes) + " bytes unread");
            return;
        }
        output_bytes += text.size();
        output.push_back(std::move(text));
        if (!writing) write();
    }

    void write() {
        writing = true;
        asio::async_write(socket, asio::buffer(output.front()), [self = shared_from_this()](const std::error_code& ec, std::size_t) {
            self->writing = false;
            if (self->closed) return;
            if (ec) return self->close();
            self->output_bytes -= self->output.front().size();
            self->output.pop_front();
            if (!self->output.empty()) self->write();
        });
    }

    void close(std::string_view why = {}) {
        if (closed) return;
        closed = true;
        server->service.unwatch_owner(this);
        std::error_code ignored;
        socket.shutdown(stream::socket::shutdown_both, ignored);
        socket.close(ignored);
        if (!why.empty()) server->log(spdlog::level::warn, {{"event", "client_dropped"}, {"client", number}, {"message", std::string(why)}});
        --server->connected;
        server->sessions.erase(shared_from_this());
    }
};

void control_server::state::accept() {
    acceptor.async_accept([self = shared_from_this()](const std::error_code& ec, stream::socket socket) {
        if (self->closed) return;
        if (!ec) {
            const std::uint64_t number = ++self->accepted;
            if (self->sessions.size() >= self->options.max_clients) {
                ++self->refused;
                std::error_code ignored;
                socket.close(ignored);
                self->log(spdlog::level::warn, {{"event", "client_refused"}, {"client", number},
                                                {"message", "over " + std::to_string(self->options.max_clients) + " clients"}});
            } else {
                ++self->connected;
                auto s = std::make_shared<session>(self, std::move(socket), number);
                self->sessions.insert(s);
                s->read();
            }
        } else if (ec == asio::error::operation_aborted) {
            return;
        }
        self->accept();
    });
}

std::expected<std::unique_ptr<control_server>, engine_error> control_server::create(control_service& service, server_options options) {
    if (options.path.empty()) options.path = default_socket_path();
    if (auto ready = prepare_path(options.path); !ready) return std::unexpected(ready.error());
    auto s = std::make_shared<state>(service, std::move(options));
    std::error_code ec;
    s->acceptor.open(stream(), ec);
    if (!ec) s->acceptor.bind(stream::endpoint(s->options.path), ec);
    if (ec) return std::unexpected(failure(errc::io_error, "cannot bind " + s->options.path + ": " + ec.message()));
    // The directory is 0700 when openae made it; the socket itself is 0600 either way.
    if (::chmod(s->options.path.c_str(), 0600) != 0) {
        ::unlink(s->options.path.c_str());
        return std::unexpected(failure(errc::io_error, "cannot chmod " + s->options.path + ": " + std::strerror(errno)));
    }
    s->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        ::unlink(s->options.path.c_str());
        return std::unexpected(failure(errc::io_error, "cannot listen on " + s->options.path + ": " + ec.message()));
    }
    asio::post(s->acceptor.get_executor(), [s] {
        s->log(spdlog::level::info, {{"event", "listening"}, {"socket", s->options.path}});
        s->accept();
    });
    return std::unique_ptr<control_server>(new control_server(std::move(s)));
}

control_server::~control_server() {
    auto shutdown = [s = state_] {
        s->closed = true;
        std::error_code ignored;
        s->acceptor.close(ignored);
        auto sessions = s->sessions;
        for (const auto& session : sessions) session->close();
        ::unlink(s->options.path.c_str());
    };
    if (state_->service.ctx().on_control_thread()) {
        shutdown();
        return;
    }
    std::promise<void> done;
    asio::post(state_->acceptor.get_executor(), [&] {
        shutdown();
        done.set_value();
    });
    done.get_future().wait();
}

const std::string& control_server::path() const noexcept { return state_->options.path; }

server_counters control_server::counters() const {
    server_counters c;
    c.accepted = state_->accepted.load();
    c.connected = state_->connected.load();
    c.requests = state_->requests.load();
    c.bad_requests = state_->bad_requests.load();
    c.dropped_slow = state_->dropped_slow.load();
    c.refused = state_->refused.load();
    return c;
}

} // namespace ae
