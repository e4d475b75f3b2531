// openae — what the control side is configured with: endpoints, routing, the context.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/device_error.h>
#include <openae/pipeline/device_hooks.h>
#include <openae/rt/types.h>

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ae::pipeline {
class device;
} // namespace ae::pipeline

namespace ae {

// What an endpoint does when its device goes away.
enum class routing_policy : std::uint8_t {
    follow_default, // move to the context's default device
    pinned,         // keep retrying the same device, with exponential backoff
    fail,           // stay on the virtual clock and report the endpoint in error
};
[[nodiscard]] const char* to_string(routing_policy policy) noexcept;
[[nodiscard]] std::optional<routing_policy> parse_routing_policy(std::string_view text) noexcept;

[[nodiscard]] const char* to_string(endpoint_direction direction) noexcept;

// created: no buffer yet (set_buffer, or a period in the config, makes it `stopped`).
// error: its device is lost and routing=fail keeps it there (the engine's passes still run, on the
// virtual clock); `move_to` a device brings it back to running, `stop` to stopped.
enum class endpoint_state : std::uint8_t { created, stopped, running, error };
[[nodiscard]] const char* to_string(endpoint_state state) noexcept;

// Where an endpoint's route is (docs/DESIGN.md, "Device loss"). After a loss:
// lost → [held_down] → reopening(n) → switching → rerouted | failed; a move asked for goes
// switching → routed. `routed`: on its device and never lost since it last moved.
enum class route_stage : std::uint8_t { routed, lost, held_down, reopening, switching, rerouted, failed };
[[nodiscard]] const char* to_string(route_stage stage) noexcept;

struct endpoint_config {
    std::string name;                // unique within a context
    std::string device;              // a device spec; empty: the context's default device
    frame_format format{48'000, 2, sample_type::f32};
    hns period{0};                   // non-zero: set_buffer(period, latency_coefficient) at creation
    std::uint32_t latency_coefficient = 2; // the buffer, in periods (1..64)
    routing_policy routing = routing_policy::follow_default;
};

// How log records are written: JSON lines (for machines), or one readable line each (for people:
// time, level, component, endpoint, event, then the fields as key=value, coloured on a terminal).
// `automatic`: readable on a terminal (stderr is a tty and no log file), JSON everywhere else.
enum class log_format : std::uint8_t { automatic, json, text };

// Desktop audio for RDP sessions: for every session that connects (to ae-host's server or one
// attached with rdp_attach_session), a virtual PipeWire sink `PREFIX-ID` bridged to the session's
// speakers and a virtual source `PREFIX-ID-mic` bridged from its microphone (bridge.h; the bridges
// have those names too), removed when the session ends. Desktop applications play into the sink
// and record the source like any other.
struct rdp_desktop_audio_options {
    bool enabled = false;
    std::string prefix = "openae-rdp";
    bool make_default = false; // make them the PipeWire server's default sink and source
    std::string pipewire_remote; // the PipeWire server's socket name (empty: the default one)
    // The bridges' (bridge_config::margin): 10 ms — a 10-minute run against xfreerdp at 4 ms had
    // 8 render underruns (the RDP speakers' pace swinging to its limit as the client's queue moved).
    hns margin{100'000};
};

struct context_options {
    std::string log_level = "info";    // trace, debug, info, warn, error, critical, off
    std::string log_file;              // empty: stderr; otherwise a rotating file
    ae::log_format log_format = ae::log_format::automatic;
    std::size_t log_file_max_bytes = 10u << 20;
    std::size_t log_file_count = 3;
    // The device of an endpoint whose config names none, and where follow_default reroutes.
    // "auto": chosen when the context is made — OPENAE_DEFAULT_DEVICE if set, else PipeWire if a
    // server answers with a sink, else a running JACK server, else ALSA's default, else null
    // (context::default_device() and the `started` log record say which, and why).
    std::string default_device = "auto";
    hns drain_interval{200'000};       // how often RT event queues are drained (20 ms)
    // Room reserved in the control inbox, the one queue every RT thread's glitch records go
    // through (40 bytes each: 2.6 MB). An endpoint side that has reported keeps 8 records of it.
    std::size_t glitch_inbox_records = 65'536;
    hns repeat_window{10'000'000};     // identical events within it are logged once, with a count
    hns open_timeout{20'000'000};      // a device open taking longer is `device_unresponsive` (2 s)
    hns retry_first{500'000};          // pinned routing: first retry after 50 ms...
    hns retry_max{50'000'000};         // ...doubling up to 5 s
    // Storms: an endpoint whose device was lost `storm_losses` times within `storm_window` waits
    // before its next reroute (hold_down, doubling with every further loss, up to retry_max) so a
    // flapping device settles into one stable route instead of a reopen per flap.
    std::uint32_t storm_losses = 3;
    hns storm_window{10'000'000};      // 1 s
    hns storm_hold_down{1'000'000};    // 100 ms
    // Offline devices (wav:PATH?realtime=0) stop after this much audio (0: never): an exact render.
    hns offline_stop_after{0};
    // Called on every device thread the context opens (test harnesses, profilers).
    pipeline::device_thread_hooks device_hooks{};
    // Called first on every helper thread that does slow control work off ae-ctl ("ae-build": a
    // rate change's chain, "ae-load": a wav source), with its name: test harnesses hold it there
    // to prove the control thread answers meanwhile.
    std::function<void(const char* helper)> helper_started{};
    // Makes every device the context opens, instead of pipeline::make_device (which it may call
    // for the kinds openae ships): a host's own device kinds, a test's instrumented devices.
    // Called off ae-ctl (on "ae-open"; inline when stepped). Empty: pipeline::make_device.
    std::function<std::expected<std::unique_ptr<pipeline::device>, pipeline::device_error>(const std::string& spec,
                                                                                         endpoint_direction direction)>
        device_factory{};
    // Deterministic simulation: no thread of openae's own. The thread that makes the context is
    // its control thread — context::poll() runs the control work that is ready, drains what the
    // RT side reported and settles what waited for it; context::step_devices() runs one period of
    // every open device on it; slow work (device opens, chain builds) runs inline, and the drain
    // timer is off. With an ae::virtual_time installed, every timestamp is the test's and a run
    // from the same seed replays exactly. The blocking forms of the API answer `wrong_thread`
    // (nothing would run the control side while they wait): use the async_* forms and poll().
    // Timers (pinned retries, storm hold-downs, open timeouts, reset deadlines) run on the
    // installed virtual time too: poll() fires those whose time the test has passed.
    bool stepped = false;
    // Hotplug: watch the PipeWire server (when one answers as the context starts) and emit
    // device_added / device_removed events as its sinks and sources come and go. Not with stepped.
    bool watch_devices = false;
    // RDP sessions' desktop audio (above). Not with stepped.
    rdp_desktop_audio_options rdp_desktop_audio{};
};

} // namespace ae

#pragma GCC visibility pop
