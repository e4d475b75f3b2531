// openae — the control service and its unix socket (the wire protocol: README.md, "aectl").
//
// `control_service` answers JSON-lines requests ({"id":1,"op":"status",...} → {"id":1,"ok":true,...})
// on the context's control thread, over an ae::context and the ae::engine that drives the endpoints
// it creates (`create` with a `source` / `sink`). Requests are validated strictly: an unknown op or
// field, a wrong type or a value out of range answers `bad_request` naming the field.
//
// `control_server` serves it on a unix socket (mode 0600, in a directory of mode 0700): every
// client is asynchronous on ae-ctl, so a slow or silent client stalls nobody; a line over 64 KiB is
// discarded as it arrives (never held whole) and answered `bad_request`; what a client does not read
// is bounded (`max_pending_bytes`): past it the client is dropped, counted and logged — that is how
// a `watch` client that stops reading ends.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/control/context.h>
#include <openae/engine/engine.h>

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>

namespace ae {

// `$XDG_RUNTIME_DIR/openae/control.sock`, or `/tmp/openae-$UID/control.sock` without it.
[[nodiscard]] std::string default_socket_path();

class control_service {
public:
    // Both must outlive the service.
    control_service(context& ctx, engine& eng);
    ~control_service();
    control_service(const control_service&) = delete;
    control_service& operator=(const control_service&) = delete;

    // One request line (without its newline); `reply` gets the response line (without newline),
    // on the control thread, once — later for `move`, which completes when the endpoint plays on
    // its new device. Control thread only.
    // `watch` needs `events` (where event lines go) and `owner` (a key for unwatch_owner).
    void handle(const std::string& line, std::function<void(std::string)> reply,
                std::function<void(const std::string&)> events = {}, const void* owner = nullptr);

    // From any other thread: posts `line` to the control thread and waits for the answer.
    [[nodiscard]] std::string request(const std::string& line);

    // `watch`: `sink` gets every event line matching `endpoint` (empty: all) until unwatch(id).
    // Control thread only.
    std::uint64_t watch(const std::string& endpoint, std::function<void(const std::string&)> sink, const void* owner = nullptr);
    void unwatch(std::uint64_t id);
    void unwatch_owner(const void* owner);

    [[nodiscard]] context& ctx() noexcept { return ctx_; }

    struct __attribute__((visibility("hidden"))) impl; // its insides are not libopenae's API

private:
    context& ctx_;
    std::shared_ptr<impl> impl_; // shared with the event subscription, which may outlive a call
};

struct server_options {
    std::string path;                          // empty: default_socket_path()
    std::size_t max_clients = 512;
    std::size_t max_line_bytes = 64 * 1024;    // a longer request line is bad_request
    std::size_t max_pending_bytes = 1u << 20;  // unread output per client before it is dropped
};

struct server_counters {
    std::uint64_t accepted = 0;
    std::uint64_t connected = 0;
    std::uint64_t requests = 0;
    std::uint64_t bad_requests = 0;
    std::uint64_t dropped_slow = 0;    // clients dropped for not reading
    std::uint64_t refused = 0;         // connections over max_clients
};

class control_server {
public:
    // Binds the socket (a stale socket file is replaced; a live one answers `busy`).
    [[nodiscard]] static std::expected<std::unique_ptr<control_server>, engine_error> create(control_service& service,
                                                                                             server_options options = {});
    // Closes every client and removes the socket file.
    ~control_server();
    control_server(const control_server&) = delete;
    control_server& operator=(const control_server&) = delete;

    [[nodiscard]] const std::string& path() const noexcept;
    [[nodiscard]] server_counters counters() const; // any thread

    struct state;

private:
    explicit control_server(std::shared_ptr<state> s) : state_(std::move(s)) {}
    std::shared_ptr<state> state_;
};

} // namespace ae

#pragma GCC visibility pop
