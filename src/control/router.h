// openae — the router: which device each endpoint plays on, and what happens when that device goes.
//
// A device's loss runs through named stages, each published for the getters and `status` and told
// as a route_stage event:
//
//   lost → held_down (a storm: losses within storm_window) → reopening(n) → switching → rerouted
//                                                                                     ↘ failed
//
// A device that changed its rate under its chains (JACK's sample rate) is not lost: its endpoints
// go reopening(1) → switching → routed onto a new instance of the same device.
//
// `routed` is a move the host asked for (switching → routed). Reopening retries with exponential
// backoff (retry_first, doubled, capped at retry_max); routing=fail stops at `failed`. The router
// owns each endpoint's route_state — nothing else writes it — and runs on ae-ctl only. What it needs
// of the endpoints' other state (publishing, buffers, the chain attach, the detach handshake) it
// asks of its owner, the control actor.
#pragma once

#include "control_clock.h"
#include "device_registry.h"
#include "event_log.h"

#include <openae/control/config.h>
#include <openae/control/event.h>
#include <openae/pipeline/device_thread.h>

#include <asio/io_context.hpp>

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ae::detail {

struct endpoint_block;
struct prepared_chain;

// One endpoint's route, as the router keeps it.
struct route_state {
    route_stage stage = route_stage::routed;
    std::uint32_t attempt = 0; // reopening: which attempt
    bool recovering = false;   // lost and not yet on a device again: the next route ends in `rerouted`
    bool moving = false;       // a move or reroute is under way: no second one, no destroy of the route under it
    std::vector<hns> recent_losses;           // storm detection (monotonic_now: a simulation's virtual time)
    std::shared_ptr<control_timer> hold_down; // storm debounce: the reroute waits for it
};

// What the router asks of the actor that owns the endpoints.
class router_owner {
public:
    virtual void emit(event e) = 0;
    // The getters' copy of the endpoint, brought up to date.
    virtual void publish(endpoint_block& e) = 0;
    virtual void state_changed(endpoint_block& e, endpoint_state state) = 0;
    virtual void latency_changed_since(endpoint_block& e, hns before) = 0;
    // A device with longer periods needs a bigger buffer (through the barrier).
    virtual bool grow_buffer_for(endpoint_block& e, const device_entry& entry) = 0;
    // Counts what the RT sides reported so far (a detached device's device_lost frames).
    virtual void drain_inbox() = 0;
    // Builds the endpoint's chain for the device of `plan` off ae-ctl; `then` gets it on ae-ctl.
    virtual void build_off_thread(const std::shared_ptr<endpoint_block>& e, const pipeline::chain_plan& plan, const frame_format& format,
                                  std::function<void(const std::shared_ptr<prepared_chain>&)> then) = 0;
    virtual std::expected<void, pipeline::device_error> attach_prepared(endpoint_block& e, device_entry& entry,
                                                                        const std::shared_ptr<prepared_chain>& chain) = 0;
    // `then` runs once `entry`'s device thread has let go of the endpoint.
    virtual void wait_detached(std::shared_ptr<endpoint_block> e, device_entry* entry, std::function<void()> then) = 0;
    // Keeps the owner (and the router in it) alive while a timer waits.
    virtual std::shared_ptr<void> keep_alive() = 0;

protected:
    ~router_owner() = default;
};

class router {
public:
    router(asio::io_context& io, const context_options& options, event_log& log, device_registry& registry, router_owner& owner);
    router(const router&) = delete;
    router& operator=(const router&) = delete;

    // Moves `e` to `device` (a move the host asked for: it ends a hold-down). `done` once it plays
    // there, or why not: `busy` while another move runs.
    void move_to(const std::shared_ptr<endpoint_block>& e, const std::string& device, std::function<void(std::error_code)> done);
    // `entry` was lost: each of `affected` (the endpoints on it) goes through the stages.
    void on_device_lost(const device_entry& entry, const std::vector<std::shared_ptr<endpoint_block>>& affected, const char* why,
                        hns when);
    // `entry` changed its rate (or a period its chains cannot take) and is still there: each of
    // `affected` moves to a new instance of the same device, whatever its policy (reopening(1) →
    // switching → routed); one that cannot goes through on_device_lost.
    void on_device_reshaped(const device_entry& entry, const std::vector<std::shared_ptr<endpoint_block>>& affected, hns when);
    // The context stops: no reroute from now on; hold-downs are cancelled.
    void begin_stopping(const std::vector<std::shared_ptr<endpoint_block>>& endpoints);

private:
    void route_to(const std::shared_ptr<endpoint_block>& e, device_entry* entry, std::function<void(std::error_code)> done);
    // route_to's second half, once the new chain is built: the old device lets go, the new one takes over.
    void switch_route(const std::shared_ptr<endpoint_block>& e, device_entry* entry, std::shared_ptr<prepared_chain> chain,
                      std::function<void(std::error_code)> done);
    void reroute(const std::shared_ptr<endpoint_block>& e, int attempt);
    // Enters `stage` (attempt: reopening's count; device: the one concerned).
    void enter_stage(endpoint_block& e, route_stage stage, std::uint32_t attempt, const std::string& device);

    asio::io_context& io_;
    const context_options& options_;
    event_log& log_;
    device_registry& registry_;
    router_owner& owner_;
    bool stopping_ = false;
};

} // namespace ae::detail
