// openae — the control actor behind ae::context (internal: not installed, not in any public header).
//
// Every member but executor(), on_control_thread() and call() runs on the control thread
// ("ae-ctl") only: they are what the public async_* operations post there.
#pragma once

#include <openae/control/config.h>
#include <openae/control/context.h>
#include <openae/control/event.h>
#include <openae/pipeline/device_discovery.h>
#include <openae/pipeline/device_thread.h>
#include <openae/rt/capture_endpoint_rt.h>
#include <openae/rt/errc.h>
#include <openae/rt/render_endpoint_rt.h>

#include "router.h"
#include "rt_drain.h"

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>

#include <expected>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

namespace spdlog {
class logger;
} // namespace spdlog


namespace ae::detail {

struct endpoint_block; // one endpoint's control state (src/control)
struct prepared_chain; // a chain built off ae-ctl (context_state.h)

// What the endpoint getters read: a copy kept up to date by the control thread.
struct endpoint_summary {
    endpoint_state state = endpoint_state::created;
    frame_format format{};
    std::uint32_t frames_per_packet = 0;
    std::uint64_t buffer_frames = 0;
    hns period{0};
    hns latency{0};
    std::uint32_t epoch = 0;
    std::string device; // the actual route
    route_stage stage = route_stage::routed;
    std::uint32_t attempt = 0; // reopening: which attempt
};

class control_actor final : public std::enable_shared_from_this<control_actor>,
                            private device_registry_owner,
                            private router_owner,
                            private rt_drain_owner {
public:
    struct bridge_entry;   // a bridge's endpoints and pump
    explicit control_actor(context_options options);
    ~control_actor();
    control_actor(const control_actor&) = delete;
    control_actor& operator=(const control_actor&) = delete;

    void start_thread();
    void stop_thread();
    // Stepped contexts only (context_options::stepped); the control thread.
    std::size_t poll();
    std::size_t step_devices();
    void tear_down(); // on the control thread: stops and frees everything

    [[nodiscard]] asio::any_io_executor executor() const;
    [[nodiscard]] bool on_control_thread() const noexcept;

    // Runs `fn` on the control thread and waits for its result. `wrong_thread` when called there.
    template <typename Fn>
    auto call(Fn fn) -> decltype(fn()) {
        using result = decltype(fn());
        if (on_control_thread()) return result(std::unexpected(make_error_code(errc::wrong_thread)));
        std::promise<result> done;
        auto future = done.get_future();
        asio::post(executor(), [&done, &fn] { done.set_value(fn()); });
        return future.get();
    }
    template <typename Fn>
    std::error_code call_ec(Fn fn) {
        if (on_control_thread()) return make_error_code(errc::wrong_thread);
        std::promise<std::error_code> done;
        auto future = done.get_future();
        asio::post(executor(), [&done, &fn] { done.set_value(fn()); });
        return future.get();
    }

    // Control thread only.
    // Completes `done` with the endpoint, or the error and (for a device that would not open) the
    // device's own words. The device is opened off ae-ctl, bounded by open_timeout.
    using create_done = std::function<void(std::expected<std::shared_ptr<endpoint_block>, std::error_code>, const std::string& why)>;
    void create(endpoint_direction direction, const endpoint_config& config, create_done done);
    // Bridges (bridge.h, bridges.cpp): both endpoints made, joined and started, then `done`.
    using bridge_done = std::function<void(std::expected<bridge_status, std::error_code>, const std::string& why)>;
    void create_bridge(const bridge_config& config, bridge_done done);
    // Destroys the bridge of that name and its two endpoints; false when there is none.
    bool destroy_bridge(const std::string& name);
    [[nodiscard]] std::vector<bridge_status> bridges() const;
    // RDP sessions' desktop audio (desktop_audio.cpp): a bridge per session's device, made and removed with it.
    void watch_rdp_desktop_audio();
    std::error_code enable_rdp_desktop_audio(const rdp_desktop_audio_options& options);
    void on_rdp_desktop_device(bool added, const std::string& spec, bool render);
    std::error_code destroy(const std::string& name);
    // Completes `done` once the endpoint's ring is made and its chain (built off ae-ctl) is on the
    // device thread. `busy` while a chain for it is being built.
    void set_buffer(endpoint_block& e, hns max_period, std::uint32_t latency_coefficient, std::function<void(std::error_code)> done);
    std::error_code set_stream_flags(endpoint_block& e, stream_flags flags);
    std::error_code set_event_handle(endpoint_block& e, int eventfd);
    std::error_code start(endpoint_block& e);
    std::error_code stop(endpoint_block& e);
    // Completes once every unprocessed frame is discarded: a render endpoint's device thread
    // has dropped its queue (the RT view's padding is 0), a capture endpoint's engine side drops
    // its own at its next call. `timeout` when a device thread does not answer within 2 s.
    void reset(endpoint_block& e, std::function<void(std::error_code)> done);
    // Completes `done` once the new format is posted (a new rate: once its chain, built off
    // ae-ctl, is on the device thread). `busy` while another rate change is being prepared.
    void set_format(endpoint_block& e, const frame_format& format, std::function<void(std::error_code)> done);
    std::error_code set_period(endpoint_block& e, hns period);
    // Completes `done` once the endpoint plays on `device` (or could not be moved).
    void move_to(endpoint_block& e, const std::string& device, std::function<void(std::error_code)> done);
    [[nodiscard]] std::shared_ptr<endpoint_block> find(const std::string& name) const;
    [[nodiscard]] std::vector<std::shared_ptr<endpoint_block>> endpoints() const;
    [[nodiscard]] std::vector<device_info> devices() const;
    // The device an endpoint gets when its config names none (context_options::default_device).
    [[nodiscard]] std::string default_device() const;
    // A fault for the endpoint's device (faulty devices only). `message` says why on failure.
    std::error_code inject(endpoint_block& e, const std::string& fault, std::string& message);
    [[nodiscard]] std::expected<endpoint_stats, std::error_code> stats(const endpoint_block& e) const;

    // The JSON-lines logger (control thread only: services built on the context log through it).
    [[nodiscard]] spdlog::logger& logger() const noexcept;
    // Logs a refused control request (component "control", event "request_refused", warn);
    // identical refusals within the repeat window fold into one line with a count, like events
    // — a client sending garbage in a loop cannot flood the log.
    void log_refused(const std::string& op, const std::string& code, const std::string& message);
    // Runs `work` on a helper thread named `name`; the function it returns runs on ae-ctl (always,
    // also while the context stops). For bounded work (a file read, a resampler's priming): the
    // context's shutdown waits for it.
    void off_thread(const char* name, std::function<std::function<void()>()> work) override;
    // options.watch_devices: starts the hotplug watch (the caller's thread, bounded).
    void watch_devices();

    // Any thread.
    [[nodiscard]] static endpoint_summary summary(const endpoint_block& e);
    [[nodiscard]] static const std::string& name(const endpoint_block& e) noexcept;
    [[nodiscard]] static endpoint_direction direction(const endpoint_block& e) noexcept;
    [[nodiscard]] static routing_policy routing(const endpoint_block& e) noexcept;
    [[nodiscard]] static render_endpoint_rt* render_rt(endpoint_block& e) noexcept;
    [[nodiscard]] static capture_endpoint_rt* capture_rt(endpoint_block& e) noexcept;

    // Events: `fn` runs on the control thread for every event from now on.
    std::uint64_t subscribe(std::function<void(const event&)> fn);
    void unsubscribe(std::uint64_t id);

    struct impl;

private:
    void emit(event e) override;
    // A pass over the endpoints (statistics, retired segments) and the device loops' events.
    void drain() override;
    // The control inbox: every endpoint's glitch records, into stats and events.
    void drain_inbox() override;
    void note_glitch(endpoint_block& e, const glitch_record& r) override;
    // Frames a device dropped itself: a `dropped` glitch for each endpoint on it, and a log line.
    void on_device_dropped(device_entry& entry, std::uint64_t device_frames, hns time);
    void publish(endpoint_block& e) override;
    void state_changed(endpoint_block& e, endpoint_state state) override;
    // Emits latency_changed when the published latency differs from `before`.
    void latency_changed_since(endpoint_block& e, hns before) override;
    void wait_detached(std::shared_ptr<endpoint_block> e, device_entry* entry, std::function<void()> then) override;
    std::expected<void, pipeline::device_error> attach_prepared(endpoint_block& e, device_entry& entry,
                                                                const std::shared_ptr<prepared_chain>& chain) override;
    // The device is lost: `auto`'s default falls back, the router takes its endpoints through the stages.
    void on_device_lost(device_entry& entry, const char* why, hns when);
    // The device changed its rate under its chains and is still there: its endpoints move to it opened again.
    void on_device_reshaped(device_entry& entry, hns when);
    [[nodiscard]] std::shared_ptr<void> keep_alive() override;
    // `auto` and sound servers: a PipeWire server (with a sink) or the default JACK server starting
    // becomes the default device when `auto` found nothing but null; it stopping makes `auto`'s
    // first choice the default again.
    void on_server_default(bool added, const pipeline::available_device& device);
    // A new default device: follow_default endpoints on the old one (that asked for the default)
    // move to it.
    void change_default(const std::string& device, const std::string& why);
    [[nodiscard]] bridge_status bridge_status_of(const bridge_entry& bridge) const;
    // A bridge's render side starts after the pump's first pass (or the open timeout).
    void check_bridge_starts() override;
    void start_bridge_render(const std::string& name, bool timed_out);
    [[nodiscard]] static std::uint64_t minimum_buffer(const frame_format& format, const device_entry& device);
    // A device's buffer grown to what `entry`'s period needs, through the barrier (a new epoch the
    // engine takes at its next pass); never shrunk. True when it grew.
    bool grow_buffer_for(endpoint_block& e, const device_entry& entry) override;
    // A self-driven device's period changed while it runs (a JACK buffer size, a PipeWire quantum):
    // the loop took it as it came; its endpoints' buffers grow if they must.
    void on_device_period_changed(device_entry& entry, std::uint32_t frames);
    // The device's own latency moved: its endpoints' published latency follows, with events.
    void on_device_latency_changed(device_entry& entry);
    std::error_code reconfigure(endpoint_block& e, const frame_format& format, const std::shared_ptr<prepared_chain>& successor);
    // Builds `e`'s chain for `format` and the device of `plan` on an "ae-build" helper; `then`
    // gets it on ae-ctl.
    void build_off_thread(const std::shared_ptr<endpoint_block>& e, const pipeline::chain_plan& plan,
                          const frame_format& format, std::function<void(const std::shared_ptr<prepared_chain>&)> then) override;
    // set_buffer's work on ae-ctl. `chain`: one built off ae-ctl for the endpoint's format (null
    // or unusable now: built here).
    std::error_code apply_buffer(endpoint_block& e, hns max_period, std::uint32_t latency_coefficient,
                                 const std::shared_ptr<prepared_chain>& chain);

    std::unique_ptr<impl> impl_;
};

} // namespace ae::detail
