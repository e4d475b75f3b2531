// Discovery per backend: ALSA's PCM hints and the `null` device that is always there; the choice
// of the default device. PipeWire's registry walk is in pipewire_discovery.cpp, JACK's servers in
// jack_discovery.cpp.
#include <openae/pipeline/device_discovery.h>
#include <openae/pipeline/rdp.h>

#include "jack_discovery.h"

#include <openae/rt/types.h>

#include <alsa/asoundlib.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace ae::pipeline {

namespace {
// alsa-lib prints its errors to stderr (an open of "default" on a machine without a card prints
// eight lines): while openae probes, they are nobody's business — the probe's result says it.
// The handler is process-wide; it goes back to alsa-lib's own afterwards.
void alsa_quiet(const char*, int, const char*, int, const char*, ...) {}
struct alsa_quiet_scope {
    alsa_quiet_scope() { snd_lib_error_set_handler(alsa_quiet); }
    ~alsa_quiet_scope() { snd_lib_error_set_handler(nullptr); }
    alsa_quiet_scope(const alsa_quiet_scope&) = delete;
    alsa_quiet_scope& operator=(const alsa_quiet_scope&) = delete;
};
} // namespace

std::vector<available_device> discover_alsa_devices() {
    const alsa_quiet_scope quiet;
    std::vector<available_device> found;
    void** hints = nullptr;
    if (snd_device_name_hint(-1, "pcm", &hints) != 0 || hints == nullptr) return found;
    for (void** hint = hints; *hint != nullptr; ++hint) {
        char* name = snd_device_name_get_hint(*hint, "NAME");
        char* description = snd_device_name_get_hint(*hint, "DESC");
        char* direction = snd_device_name_get_hint(*hint, "IOID"); // null: both
        if (name != nullptr) {
            available_device d;
            d.kind = "alsa";
            d.spec = std::string("alsa:") + name;
            d.description = description != nullptr ? description : "";
            std::replace(d.description.begin(), d.description.end(), '\n', ' ');
            d.render = direction == nullptr || std::string(direction) == "Output";
            d.capture = direction == nullptr || std::string(direction) == "Input";
            d.backend_default = std::string(name) == "default";
            found.push_back(std::move(d));
        }
        std::free(name);
        std::free(description);
        std::free(direction);
    }
    snd_device_name_free_hint(hints);
    return found;
}

default_choice choose_default_device(const discovery_options& options) {
    if (const char* pinned = std::getenv("OPENAE_DEFAULT_DEVICE"); pinned != nullptr && *pinned != '\0') {
        return {pinned, "OPENAE_DEFAULT_DEVICE"};
    }
    if (options.pipewire) {
        const auto nodes = discover_pipewire_devices(options.timeout);
        if (std::any_of(nodes.begin(), nodes.end(), [](const available_device& d) { return d.render; })) {
            return {"pipewire", "a PipeWire server answers with a sink"};
        }
    }
    if (options.jack) {
        if (!discover_jack_server(default_jack_server()).empty()) return {"jack?server=" + default_jack_server() + "&connect=auto", "a JACK server runs"};
    }
    if (options.alsa) {
        const alsa_quiet_scope quiet;
        snd_pcm_t* pcm = nullptr;
        if (snd_pcm_open(&pcm, "default", SND_PCM_STREAM_PLAYBACK, SND_PCM_NONBLOCK) == 0) {
            snd_pcm_close(pcm);
            return {"alsa:default", "ALSA's default PCM opens"};
        }
    }
    return {"null", "no sound server answers and ALSA's default PCM does not open"};
}

std::vector<available_device> discover_devices(const discovery_options& options) {
    std::vector<available_device> found;
    found.push_back({"null", "null", "a virtual clock (no sound; openae's default device)", true, true, 48000, 2, false});
    auto append = [&](std::vector<available_device> more) {
        found.insert(found.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    };
    if (options.pipewire) append(discover_pipewire_devices(options.timeout));
    if (options.jack) append(discover_jack_devices());
    if (options.alsa) append(discover_alsa_devices());
    append(discover_rdp_devices());
    return found;
}

std::vector<available_device> discover_rdp_devices() {
    std::vector<available_device> found;
    for (const auto& s : rdp_sessions()) {
        if (!s.speakers && !s.microphone) continue;
        available_device d;
        d.spec = "rdp:" + s.id;
        d.kind = "rdp";
        d.description = "RDP client " + s.client + " (session " + s.id + ")";
        d.render = s.speakers;
        d.capture = s.microphone;
        d.sample_rate = s.speakers ? s.speakers_rate : s.microphone_rate;
        d.channels = s.speakers ? s.speakers_channels : s.microphone_channels;
        found.push_back(std::move(d));
    }
    return found;
}

} // namespace ae::pipeline
