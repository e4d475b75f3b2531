// libpipewire's one-time initialisation, for every PipeWire user in the pipeline (devices, discovery).
#pragma once

#include <pipewire/pipewire.h>

#include <mutex>

namespace ae::pipeline {

inline void ensure_pipewire_initialised() {
    static std::once_flag initialised;
    std::call_once(initialised, [] { pw_init(nullptr, nullptr); });
}

} // namespace ae::pipeline
