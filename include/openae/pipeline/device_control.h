// openae — device_control: a device's control side, the other end of its device_loop's queues.
//
// Builds chains and sends them (attach, successor at a rate change), sends detaches, keeps the list
// of attached chains for gain and levels, pops the loop's events and frees the chains it retired.
// It lives on one control thread (ae-ctl in a context; the test's thread in a test) and takes no
// lock: the loop is reached only through queues and a few atomics. build_chain() alone may run on
// any thread (it touches nothing of the device's).
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/device_loop.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ae::pipeline {

// What a chain for a device is built for — its format, period and the gain to start from.
struct chain_plan {
    frame_format device_format{};
    std::uint32_t max_device_frames = 0; // the longest period the chains are asked for (device::max_period_frames)
    float gain = 1.0f;
    std::string device_spec;
    bool realtime = true;
};

// The control side's queue ends, and what it reads of the loop.
struct device_control_ends {
    spsc_producer<device_command> commands;
    spsc_consumer<retired_chain> retired;
    spsc_consumer<device_event> events;
    int command_fd = -1;       // signalled with each command while the device is lost
    int engine_wake_fd = -1;   // offline devices: handed to each endpoint at attach
    std::shared_ptr<const void> engine_wake_fd_owner; // held by each endpoint given the fd
};

class device_control {
public:
    device_control(device& dev, const device_loop& loop, std::uint32_t max_endpoints, device_control_ends ends);
    device_control(const device_control&) = delete;
    device_control& operator=(const device_control&) = delete;

    [[nodiscard]] chain_plan plan() const;
    // Any thread (no lock; the endpoint must outlive it): a resampler's priming costs
    // milliseconds, which a control thread should not spend on itself.
    [[nodiscard]] static std::expected<std::unique_ptr<render_chain>, device_error>
    build_chain(render_endpoint_core& endpoint, const chain_plan& plan, const chain_options& options = {});
    [[nodiscard]] static std::expected<std::unique_ptr<capture_chain>, device_error>
    build_chain(capture_endpoint_core& endpoint, const chain_plan& plan, const chain_options& options = {});

    // Attach an endpoint (set_buffer done; its direction must be the device's): builds its chain
    // here, or takes one built by build_chain() (refused when the device's format changed
    // meanwhile). It runs from the loop's next period.
    [[nodiscard]] std::expected<void, device_error> attach(render_endpoint_core& endpoint, const chain_options& options = {});
    [[nodiscard]] std::expected<void, device_error> attach(capture_endpoint_core& endpoint, const chain_options& options = {});
    [[nodiscard]] std::expected<void, device_error> attach(render_endpoint_core& endpoint, std::unique_ptr<render_chain> chain);
    [[nodiscard]] std::expected<void, device_error> attach(capture_endpoint_core& endpoint, std::unique_ptr<capture_chain> chain);
    // The endpoint leaves at the next period; its chain comes back through collect_retired().
    [[nodiscard]] std::error_code detach(std::uint32_t endpoint_id);

    // An attached endpoint is about to change its rate to `format`'s: a chain built for it is
    // sent now and takes over at the seam, in the period the new ring's first frames arrive.
    // Send it before posting the new ring (endpoint_core::reconfigure).
    [[nodiscard]] std::expected<void, device_error> reconfigure(render_endpoint_core& endpoint, const frame_format& format);
    [[nodiscard]] std::expected<void, device_error> reconfigure(capture_endpoint_core& endpoint, const frame_format& format);
    // reconfigure in its three steps, as attach: plan_successor() (the device's plan with the
    // endpoint's gain now), build_chain(endpoint, plan, {gain, endpoint_format}) (any thread),
    // send_successor() (refused when the endpoint left).
    [[nodiscard]] std::expected<chain_plan, device_error> plan_successor(std::uint32_t endpoint_id) const;
    [[nodiscard]] std::expected<void, device_error> send_successor(render_endpoint_core& endpoint, std::unique_ptr<render_chain> chain);
    [[nodiscard]] std::expected<void, device_error> send_successor(capture_endpoint_core& endpoint, std::unique_ptr<capture_chain> chain);

    // An attached endpoint's gain target; setting it ramps on the loop.
    [[nodiscard]] std::expected<float, std::error_code> gain(std::uint32_t endpoint_id) const;
    [[nodiscard]] std::error_code set_gain(std::uint32_t endpoint_id, float gain);
    // An attached endpoint's level after gain.
    [[nodiscard]] std::expected<meter_reading, std::error_code> endpoint_levels(std::uint32_t endpoint_id) const;
    [[nodiscard]] std::size_t attached() const noexcept { return attached_.size(); }

    [[nodiscard]] bool try_pop_event(device_event& out) noexcept { return ends_.events.try_pop(out); }
    // Commands sent (attach, detach, successor) and commands the loop has applied: once applied
    // reaches the value sent had after a detach, the loop no longer touches that endpoint.
    [[nodiscard]] std::uint64_t commands_sent() const noexcept { return sent_; }
    [[nodiscard]] std::uint64_t commands_applied() const noexcept { return loop_->commands_applied(); }
    // Frees the chains the loop retired. Returns how many.
    std::size_t collect_retired();

private:
    template <typename Chain, typename Endpoint>
    static std::expected<std::unique_ptr<Chain>, device_error> build(Endpoint& endpoint, const chain_plan& plan, chain_options options);
    template <typename Endpoint, typename Chain>
    std::expected<void, device_error> attach_built(Endpoint& endpoint, std::unique_ptr<Chain> chain);
    template <typename Endpoint>
    std::expected<void, device_error> reconfigure_of(Endpoint& endpoint, const frame_format& format);
    template <typename Endpoint, typename Chain>
    std::expected<void, device_error> send_built_successor(Endpoint& endpoint, std::unique_ptr<Chain> chain);
    [[nodiscard]] std::expected<void, device_error> send(device_command&& c);
    [[nodiscard]] std::vector<chain_base*>::const_iterator find(std::uint32_t endpoint_id) const noexcept;

    device* device_;
    const device_loop* loop_;
    std::uint32_t max_endpoints_;
    device_control_ends ends_;
    std::uint64_t sent_ = 0;
    // The chains the loop runs, as far as this side knows (for gain and levels; a successor
    // replaces its predecessor here when sent).
    std::vector<chain_base*> attached_;
};

} // namespace ae::pipeline

#pragma GCC visibility pop
