// openae — the control actor's private state, shared by control_actor's files (internal).
#pragma once

#include "control_actor.h"

#include "control_inbox.h"
#include "device_registry.h"
#include "router.h"
#include "rt_drain.h"
#include "event_log.h"
#include "event_json.h"
#include "json_log.h"

#include <openae/pipeline/bridge_pump.h>
#include <openae/pipeline/device_discovery.h>
#include <openae/pipeline/device_thread.h>
#include <openae/pipeline/devices.h>
#include <openae/pipeline/rdp.h>
#include <openae/rt/endpoint_core.h>
#include <openae/rt/event_signal.h>
#include <openae/rt/monotonic_clock.h>
#include <openae/rt/thread_name.h>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include "control_clock.h"

#include <sys/eventfd.h>

#include <array>
#include <bit>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <mutex>
#include <thread>

namespace ae::detail {

struct endpoint_block {
    std::string name;
    endpoint_direction direction = endpoint_direction::render;
    endpoint_config config;
    std::uint32_t id = 0;
    std::unique_ptr<render_endpoint_core> render;
    std::unique_ptr<capture_endpoint_core> capture;
    std::string device;                           // the actual route (a device spec)
    device_entry* entry = nullptr;  // its device thread (registry-owned)
    route_state route; // written by the router only
    endpoint_state state = endpoint_state::created;
    frame_format format{};
    std::uint32_t frames_per_packet = 0;
    std::uint64_t buffer_frames = 0;
    std::uint32_t latency_coefficient = 2;
    hns period{0};
    bool attached = false;
    bool destroyed = false;
    bool building = false; // a chain for it is being built off ae-ctl (set_buffer, a rate change)
    // Its two sides' ends of the control inbox (the RT view's, the device port's): glitch records.
    std::unique_ptr<control_inbox::producer> rt_post;
    std::unique_ptr<control_inbox::producer> device_post;
    endpoint_stats stats;

    mutable std::mutex summary_mutex; // the getters' copy (control side only, never RT)
    endpoint_summary published;

    [[nodiscard]] endpoint_core& core() noexcept {
        return render ? static_cast<endpoint_core&>(*render) : static_cast<endpoint_core&>(*capture);
    }
    [[nodiscard]] const endpoint_core& core() const noexcept {
        return render ? static_cast<const endpoint_core&>(*render) : static_cast<const endpoint_core&>(*capture);
    }
};

// A successor chain built off ae-ctl for a rate change (one of the two, by direction).
struct prepared_chain {
    std::expected<std::unique_ptr<pipeline::render_chain>, pipeline::device_error> render{nullptr};
    std::expected<std::unique_ptr<pipeline::capture_chain>, pipeline::device_error> capture{nullptr};
};

struct control_actor::bridge_entry {
    bridge_config config;
    std::shared_ptr<endpoint_block> capture;
    std::shared_ptr<endpoint_block> render;
    std::shared_ptr<pipeline::bridge_pump> pump;
    // Until the pump's first pass: the render endpoint waits (so its device never finds the
    // queue empty because the capture device was slow to begin), and so does `done`.
    bool render_started = false;
    control_actor::bridge_done done;
    std::shared_ptr<control_timer> first_pass_deadline;
};

struct __attribute__((visibility("hidden"))) control_actor::impl {
    impl(context_options opts, device_registry_owner& registry_owner, router_owner& route_owner, rt_drain_owner& drain_owner)
        : options(std::move(opts)), log(control_detail::make_logger(options), options.repeat_window), drain(io, options, log, drain_owner),
          registry(io, options, log, drain.wake_fd(), registry_owner), routes(io, options, log, registry, route_owner) {}

    context_options options;
    std::string default_device_reason; // why `auto` chose options.default_device ("" when not auto)
    bool default_auto = false;         // options.default_device was `auto`: a sound server starting may become it
    std::string auto_choice;           // what `auto` chose when the context was made
    mutable std::mutex default_mutex;  // options.default_device: written on ae-ctl, read by default_device() anywhere
    std::unique_ptr<pipeline::device_watch> device_watch; // options.watch_devices: hotplug, posted to ae-ctl
    std::unique_ptr<pipeline::device_watch> jack_watch;   // the same for JACK servers
    std::unique_ptr<pipeline::device_watch> alsa_watch;   // and ALSA cards
    std::unique_ptr<pipeline::rdp_session_watch> rdp_watch; // the same for RDP sessions' speakers and microphones
    std::unique_ptr<pipeline::rdp_session_watch> rdp_desktop_watch; // options.rdp_desktop_audio: bridges per session
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::thread thread;
    // order: release/acquire — set once by ae-ctl before it runs anything.
    std::atomic<std::thread::id> control_thread_id{};
    event_log log; // subscribers and the JSON-lines log
    std::map<std::string, std::shared_ptr<endpoint_block>> endpoints;
    std::map<std::string, bridge_entry> bridges;
    std::uint32_t next_endpoint_id = 1;
    rt_drain drain;           // what comes back from the RT side: the inbox, the wake eventfd, resets and detaches
    device_registry registry; // the device threads; lost ones stay until their endpoints left
    router routes;            // where each endpoint plays, and its route's stages
    bool stopping = false;
};

// Helpers the actor's files share.
// An event about endpoint `e` of `kind`, stamped with the epoch it has asked for.
inline event endpoint_event(endpoint_block& e, event_kind kind) {
    event ev;
    ev.kind = kind;
    ev.endpoint = e.name;
    ev.epoch = e.core().requested_epoch();
    return ev;
}

inline std::uint32_t frames_in(hns duration, std::uint32_t rate) noexcept {
    return static_cast<std::uint32_t>(std::max<long long>(1, std::llround(static_cast<double>(duration.count()) * rate / 1e7)));
}

inline hns duration_of(std::uint64_t frames, std::uint32_t rate) noexcept {
    return hns{static_cast<std::int64_t>(std::llround(static_cast<double>(frames) * 1e7 / rate))};
}

} // namespace ae::detail
