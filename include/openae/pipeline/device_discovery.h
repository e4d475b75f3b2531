// openae — discovery: the devices a spec can name now, across the backends.
//
// A probe asks each backend what is there — ALSA's PCM hints, the default JACK server's physical
// ports, a PipeWire server's sinks, sources and sink monitors — and answers one list of specs a
// host can hand to create() as they are. It connects to sound servers (never starts one) and is
// bounded by `timeout` per server: call it off real-time threads and off ae-ctl.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ae::pipeline {

struct available_device {
    std::string spec;        // a device spec that opens it ("alsa:default", "pipewire:NODE", "jack?server=default&connect=auto")
    std::string kind;        // null, alsa, jack, pipewire, rdp
    std::string description; // for people ("Built-in Audio Analog Stereo", "Monitor of openae_test_sink")
    bool render = false;     // it plays (a render endpoint can be created on it)
    bool capture = false;    // it records
    std::uint32_t sample_rate = 0; // native rate where the backend says it; 0: unknown
    std::uint16_t channels = 0;    // native channels where the backend says it; 0: unknown
    bool backend_default = false;  // its backend's default (ALSA `default`, PipeWire's default sink/source, JACK's default server)
};

struct discovery_options {
    std::chrono::milliseconds timeout{2000}; // per sound server
    bool alsa = true;
    bool jack = true;
    bool pipewire = true;
};

// `null` first, then what each backend has now (RDP sessions last). Never fails: a backend that is absent or does
// not answer in time adds nothing.
[[nodiscard]] std::vector<available_device> discover_devices(const discovery_options& options = {});

// The device `auto` stands for: OPENAE_DEFAULT_DEVICE if set, else PipeWire if a server answers
// with a sink, else the default JACK server if one runs, else ALSA's `default` if it opens, else
// `null` — and why (for the log). Bounded like discover_devices().
struct default_choice {
    std::string spec;
    std::string reason;
};
[[nodiscard]] default_choice choose_default_device(const discovery_options& options = {});

// Hotplug: a watch on a sound server that says when a device comes or goes. `changed(added,
// device)` runs on one of the watch's own threads for each spec a node brings or takes away (a
// sink's monitor too); what was there when the watch started is not news. Destroying the watch
// stops it: no callback runs after the destructor returns.
class device_watch {
public:
    using callback = std::function<void(bool added, const available_device& device)>;
    virtual ~device_watch() = default;
    // The PipeWire server's audio nodes, and the server itself: a server that starts later (its
    // socket looked for every 500 ms) is news with all it has, one that stops takes all it had
    // away. The spec `pipewire` (the server's default sink and source, as `auto` names it) comes
    // with the server's first sink and goes with its last. Each connection bounded by `timeout`.
    [[nodiscard]] static std::unique_ptr<device_watch> watch_pipewire(callback changed, std::chrono::milliseconds timeout);
    // JACK servers of this user starting and stopping (polled every `interval`): each one's
    // physical playback and capture ports, as discover_jack_devices() lists them.
    [[nodiscard]] static std::unique_ptr<device_watch> watch_jack(callback changed, std::chrono::milliseconds interval);
    // ALSA cards plugged in and out: their nodes appearing in and leaving `directory` (udev's
    // /dev/snd; watched with inotify, or its parent until it exists), then ALSA's PCMs listed
    // again as discover_alsa_devices() lists them — what a card brought or took away.
    [[nodiscard]] static std::unique_ptr<device_watch> watch_alsa(callback changed, const std::string& directory = "/dev/snd");
};

// Per backend (discover_devices() calls them in this order).
[[nodiscard]] std::vector<available_device> discover_alsa_devices();
[[nodiscard]] std::vector<available_device> discover_jack_devices(); // every JACK server of this user that runs
[[nodiscard]] std::vector<available_device> discover_pipewire_devices(std::chrono::milliseconds timeout);
// Makes node NODE the PipeWire server's configured default sink (or source), as `pactl
// set-default-sink` does; the session manager then makes it the default. Blocks, bounded by
// `timeout` per round trip: never on an RT thread or ae-ctl. False when no server took it.
[[nodiscard]] bool set_pipewire_default(const std::string& node, bool sink, std::chrono::milliseconds timeout);
// The RDP sessions' speakers and microphones (rdp.h), `rdp:ID` each.
[[nodiscard]] std::vector<available_device> discover_rdp_devices();

} // namespace ae::pipeline

#pragma GCC visibility pop
