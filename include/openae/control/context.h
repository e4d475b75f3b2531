// openae — ae::context: the control actor. It owns an asio::io_context run on one thread named
// "ae-ctl", the device registry (one device thread per device spec in use), the endpoints' control
// state and the logs (spdlog, one JSON object per line). All state changes happen on that thread;
// public calls post to it. It drains the RT side's glitch and retire queues on a timer, turns them
// into events for subscribers and into log lines (repeats within a window folded into one line
// with a count).
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/control/bridge.h>
#include <openae/control/config.h>
#include <openae/control/endpoint.h>
#include <openae/control/event.h>
#include <openae/pipeline/device_discovery.h>

#include <asio/async_result.hpp>

#include <expected>
#include <functional>
#include <memory>
#include <system_error>
#include <vector>

namespace ae {

namespace detail {
struct context_access; // the services built into openae (socket server, service) reach the actor through it

// The context operations behind ae::context's asynchronous calls: each posts to the control thread
// and calls its callback there.
struct context_ops {
    using made = std::expected<endpoint_ref, std::error_code>;
    static void create(const std::shared_ptr<control_actor>& actor, endpoint_direction direction, endpoint_config config,
                       std::function<void(made)> done);
    static void destroy(const std::shared_ptr<control_actor>& actor, std::string name, completion done);
    // `fn` gets the next event, once.
    static void next_event(const std::shared_ptr<control_actor>& actor, std::function<void(const event&)> fn);
    [[nodiscard]] static asio::any_io_executor executor(const control_actor& actor);
};
} // namespace detail

class context {
public:
    // Logs to stderr at `info`, default device `null`, no socket.
    context();
    explicit context(context_options options);
    // Stops every endpoint and device thread, then the control thread.
    ~context();
    context(const context&) = delete;
    context& operator=(const context&) = delete;

    [[nodiscard]] std::expected<render_endpoint, std::error_code> create_render_endpoint(const endpoint_config& config);
    [[nodiscard]] std::expected<capture_endpoint, std::error_code> create_capture_endpoint(const endpoint_config& config);
    // Stops and removes an endpoint (its handles then answer `unknown_endpoint`), or a bridge
    // with its two endpoints. A bridge's own endpoint alone: `busy`.
    std::error_code destroy(const std::string& name);

    // A capture device feeding a render device (bridge.h): both endpoints made, joined and
    // started when it returns. Errors as for creating either endpoint; `already_initialized`
    // for a name in use.
    [[nodiscard]] std::expected<bridge_status, std::error_code> create_bridge(const bridge_config& config);
    // Every bridge, with its queue, drift and glitch figures now.
    [[nodiscard]] std::vector<bridge_status> bridges() const;
    // RDP sessions' desktop audio from now on (context_options::rdp_desktop_audio, for a context
    // made without it): sessions that connect after this get their sink and source. `bad_argument`
    // when already on or `enabled` is false; `wrong_thread` on ae-ctl.
    std::error_code enable_rdp_desktop_audio(const rdp_desktop_audio_options& options);

    template <typename Token>
    auto async_create_render_endpoint(endpoint_config config, Token&& token) {
        return async_create<render_endpoint>(endpoint_direction::render, std::move(config), std::forward<Token>(token));
    }
    template <typename Token>
    auto async_create_capture_endpoint(endpoint_config config, Token&& token) {
        return async_create<capture_endpoint>(endpoint_direction::capture, std::move(config), std::forward<Token>(token));
    }

    template <typename Token>
    auto async_destroy(std::string name, Token&& token) {
        return asio::async_initiate<Token, void(std::error_code)>(
            [actor = actor_, name = std::move(name)](auto handler) mutable {
                auto executor = asio::get_associated_executor(handler, detail::context_ops::executor(*actor));
                auto shared = std::make_shared<decltype(handler)>(std::move(handler));
                detail::context_ops::destroy(actor, std::move(name), [executor, shared](std::error_code ec) {
                    asio::post(executor, [shared, ec] { std::move(*shared)(ec); });
                });
            },
            token);
    }

    // The device registry: every device thread open, its route state and counters.
    [[nodiscard]] std::vector<device_info> devices() const;

    // What devices a spec can name now (discovery: null, then PipeWire, JACK and ALSA), each
    // backend's default marked. It connects to sound servers, each bounded by `options.timeout`,
    // and blocks the caller meanwhile: never on an RT thread, nor on ae-ctl (which it refuses with
    // an empty list) — there, use async_available_devices().
    [[nodiscard]] std::vector<pipeline::available_device> available_devices(const pipeline::discovery_options& options = {}) const;
    // The same on a thread of its own (`ae-probe`); `done` runs on ae-ctl with the list.
    void async_available_devices(std::function<void(std::vector<pipeline::available_device>)> done,
                                 pipeline::discovery_options options = {}) const;
    // The device an endpoint gets when its config names none (context_options::default_device).
    [[nodiscard]] std::string default_device() const;

    // Stepped contexts (context_options::stepped), on the thread that made the context:
    // runs the control work that is ready until none is left — drains what the RT side reported,
    // completes what waited for the devices — and returns how many handlers ran.
    std::size_t poll();
    // One period of every open device, in the order they were opened. Returns how many ran.
    std::size_t step_devices();

    // `fn` runs on the control thread for every event from now on. Returns an id for unsubscribe.
    std::uint64_t subscribe(std::function<void(const event&)> fn);
    void unsubscribe(std::uint64_t id);

    // Completes with the next event.
    template <typename Token>
    auto async_wait_event(Token&& token) {
        return asio::async_initiate<Token, void(std::error_code, event)>(
            [actor = actor_](auto handler) {
                auto executor = asio::get_associated_executor(handler, detail::context_ops::executor(*actor));
                auto shared = std::make_shared<decltype(handler)>(std::move(handler));
                detail::context_ops::next_event(actor, [shared, executor](const event& e) {
                    asio::post(executor, [shared, e] { std::move(*shared)(std::error_code{}, e); });
                });
            },
            token);
    }

    [[nodiscard]] asio::any_io_executor executor() const;
    [[nodiscard]] bool on_control_thread() const noexcept;

private:
    template <typename Endpoint, typename Token>
    auto async_create(endpoint_direction direction, endpoint_config config, Token&& token) {
        return asio::async_initiate<Token, void(std::error_code, std::optional<Endpoint>)>(
            [actor = actor_, direction, config = std::move(config)](auto handler) mutable {
                auto executor = asio::get_associated_executor(handler, detail::context_ops::executor(*actor));
                auto shared = std::make_shared<decltype(handler)>(std::move(handler));
                detail::context_ops::create(actor, direction, std::move(config), [executor, shared](detail::context_ops::made made) {
                    std::error_code ec;
                    std::optional<Endpoint> endpoint;
                    if (made) {
                        endpoint.emplace(std::move(*made));
                    } else {
                        ec = made.error();
                    }
                    asio::post(executor, [shared, ec, endpoint = std::move(endpoint)]() mutable { std::move(*shared)(ec, std::move(endpoint)); });
                });
            },
            token);
    }

    friend struct detail::context_access;
    std::shared_ptr<detail::control_actor> actor_;
};

} // namespace ae

#pragma GCC visibility pop
