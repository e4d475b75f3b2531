// openae — events the control side reports.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/control/config.h>
#include <openae/rt/glitch.h>
#include <openae/rt/types.h>

#include <array>
#include <cstdint>
#include <string>

namespace ae {

enum class event_kind : std::uint8_t {
    glitch,
    state_changed,
    format_changed,
    latency_changed,
    device_lost,
    rerouted,
    device_unresponsive,
    route_stage, // the endpoint's route entered a stage (`stage`, `attempt`, `device`)
    device_added,   // a device appeared (`device`: a spec that opens it); context_options::watch_devices
    device_removed, // a device went away (`device`)
};
[[nodiscard]] const char* to_string(event_kind kind) noexcept;

struct event {
    event_kind kind = event_kind::glitch;
    std::string endpoint;              // empty for device-wide events
    std::uint32_t epoch = 0;
    hns time{0};                       // CLOCK_MONOTONIC
    // glitch
    glitch_kind glitch = glitch_kind::underrun;
    std::uint64_t stream_position = 0;
    std::uint64_t frames = 0;
    // state_changed / format_changed / latency_changed
    endpoint_state state = endpoint_state::created;
    frame_format format{};
    hns latency{0};
    // device_lost / rerouted / device_unresponsive / device_added / device_removed
    std::string device;                // the device concerned (rerouted: `from`)
    std::string to;                    // rerouted: the new device
    std::string message;
    // route_stage
    ae::route_stage stage = ae::route_stage::routed;
    std::uint32_t attempt = 0;         // reopening: 1, 2, ... (0 otherwise)
};

// What the control thread has counted for one endpoint since it was created.
struct endpoint_stats {
    std::array<std::uint64_t, glitch_kind_count + 1> glitch_count{};  // by glitch_kind value
    std::array<std::uint64_t, glitch_kind_count + 1> glitch_frames{};
    hns last_glitch{0};                                                // CLOCK_MONOTONIC, 0: none
    // The engine's padding, sampled at every drain: bucket 0 counts 0 frames, bucket i
    // (1..15) counts [2^(i-1), 2^i) frames, the last bucket everything above.
    static constexpr int padding_buckets = 17;
    std::array<std::uint64_t, padding_buckets> padding_histogram{};
    std::uint64_t padding_samples = 0;
    std::uint64_t padding_min = 0;
    std::uint64_t padding_max = 0;
    // Frames reset() discarded (what the host asked for: not a glitch).
    std::uint64_t discarded_frames = 0;
    // Glitch records the RT side could not queue (the control inbox full): counted, never waited for.
    std::uint64_t glitch_overflows = 0;
};

// A device in the registry, as the control thread sees it.
struct device_info {
    std::string spec;
    endpoint_direction direction = endpoint_direction::render;
    frame_format format{};
    std::uint32_t period_frames = 0;
    hns latency{0};
    bool realtime = true;
    bool lost = false;
    bool finished = false;
    std::size_t users = 0; // endpoints on it
    std::uint64_t frames = 0;
    std::uint64_t periods = 0;
    // How busy its device loop is: the time its steps took, and how many (a load is the busy time
    // between two readings over the periods' time between them).
    std::uint64_t busy_ns = 0;
    std::uint64_t busy_steps = 0;
};

// One JSON object (no newline): {"event":"glitch","endpoint":...,...} — the wire protocol's and
// the logs' shape.
[[nodiscard]] std::string to_json(const event& e);

} // namespace ae

#pragma GCC visibility pop
