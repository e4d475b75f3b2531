// Discovery on a PipeWire server, and setting its default sink or source: one registry walk each
// (pipewire_registry.h).
#include "pipewire_registry.h"

#include <openae/pipeline/device_discovery.h>

#include <string>

namespace ae::pipeline {

bool set_pipewire_default(const std::string& node, bool sink, std::chrono::milliseconds timeout) {
    ensure_pipewire_initialised();
    registry_walk walk;
    bool answered = false;
    (void)walk.run(timeout, &answered);
    return answered && walk.set_default(sink ? "default.configured.audio.sink" : "default.configured.audio.source", node, timeout);
}

std::vector<available_device> discover_pipewire_devices(std::chrono::milliseconds timeout) {
    ensure_pipewire_initialised();
    registry_walk walk;
    return walk.run(timeout);
}

} // namespace ae::pipeline
