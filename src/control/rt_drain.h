// openae — the RT drain: what comes back to ae-ctl from the RT side, and when ae-ctl looks.
//
// It owns the paths in: the control inbox (every endpoint's glitch records, one many-to-one queue
// whose eventfd Asio watches), the control wake eventfd (a device loop's event, a reset or detach
// applied: acted on at once), and the drain timer (statistics only). It owns what waits on the
// device loops: resets until their discard is acknowledged, detaches until the device loop let go.
// It lives on ae-ctl; the control actor owns it and is told, through rt_drain_owner, when to pass
// over its endpoints and devices and which endpoint a glitch record is for.
#pragma once

#include "control_clock.h"
#include "control_inbox.h"
#include "event_log.h"

#include <openae/control/config.h>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <system_error>
#include <vector>

namespace ae::detail {

struct endpoint_block;
struct device_entry;

// What the drain asks of the actor that owns the endpoints.
class rt_drain_owner {
public:
    // The actor's own pass: statistics, retired segments, the device loops' events.
    virtual void drain() = 0;
    // A glitch record for `e`, into its statistics and events.
    virtual void note_glitch(endpoint_block& e, const glitch_record& r) = 0;
    // Bridges waiting for their pump's first pass (woken by the pump).
    virtual void check_bridge_starts() = 0;
    // Keeps the owner (and the drain in it) alive while a wait is armed.
    virtual std::shared_ptr<void> keep_alive() = 0;

protected:
    ~rt_drain_owner() = default;
};

class rt_drain {
public:
    rt_drain(asio::io_context& io, const context_options& options, event_log& log, rt_drain_owner& owner);
    ~rt_drain();
    rt_drain(const rt_drain&) = delete;
    rt_drain& operator=(const rt_drain&) = delete;

    // The eventfd device loops and render endpoints signal (non-blocking writes from RT threads);
    // -1 when none could be made (then the drain timer does it all, later).
    [[nodiscard]] int wake_fd() const noexcept { return wake_fd_; }
    // An endpoint's glitch records reach note_glitch from now on; its sides post through
    // producers made here (off the RT threads).
    [[nodiscard]] std::unique_ptr<control_inbox::producer> make_producer() { return inbox_.make_producer(); }
    void add_endpoint(std::uint32_t id, endpoint_block& e) { by_id_.emplace(id, &e); }
    void remove_endpoint(std::uint32_t id) { by_id_.erase(id); }

    // The timer and the two watches (not in a stepped context: poll_once() instead).
    void start();
    // The context stops: waits cancelled, pending resets answered `unknown_endpoint`.
    void stop();
    // After the device loops stopped: what waited for a detach is freed (it holds endpoints a
    // device loop may have touched until then).
    void forget_detaches() { detaches_.clear(); }
    void clear_endpoints() { by_id_.clear(); }

    // Every queued glitch record, to note_glitch (records of endpoints gone are dropped).
    void drain_inbox();
    // `then` runs once `entry`'s device loop applied every command sent so far (a detach).
    void wait_detached(std::shared_ptr<endpoint_block> e, device_entry* entry, std::function<void()> then);
    void check_detached();
    // `done` once the reading side acknowledged reset `generation` (2 s at most: `timeout`).
    void wait_reset(std::shared_ptr<endpoint_block> e, std::uint32_t generation, std::function<void(std::error_code)> done);
    void check_resets();

private:
    struct pending_detach {
        std::shared_ptr<endpoint_block> endpoint; // kept alive: the device thread may still touch it
        device_entry* entry = nullptr;
        std::uint64_t target = 0;
        std::function<void()> then;
    };
    struct pending_reset {
        std::shared_ptr<endpoint_block> endpoint;
        std::uint32_t generation = 0;
        std::function<void(std::error_code)> done;
        control_clock::time_point deadline;
    };
    void schedule_timer();
    void watch_wake();
    void watch_inbox();

    const context_options& options_;
    event_log& log_;
    rt_drain_owner& owner_;
    control_timer timer_;
    int wake_fd_ = -1;
    asio::posix::stream_descriptor wake_;
    // Every endpoint's glitch records, from every RT thread, in one queue; and which endpoint an
    // id names (the records carry ids).
    control_inbox inbox_;
    asio::posix::stream_descriptor inbox_watch_;
    std::map<std::uint32_t, endpoint_block*> by_id_;
    std::vector<pending_reset> resets_;
    std::vector<pending_detach> detaches_;
    bool stopping_ = false;
};

} // namespace ae::detail
