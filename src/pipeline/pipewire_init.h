// libpipewire's one-time initialisation, for every PipeWire user in the pipeline (devices, discovery).
#pragma once

#include <pipewire/pipewire.h>

#include <mutex>

namespace ae::pipeline {

inline void ensure_pipewire_initialised() {
    static std::once_flag initialised;
    std::call_once(initialised, [] { pw_init(nullptr, nullptr); });
}

// Making a context and connecting it: libpipewire fills the client's properties with getpwuid(),
// which is not thread-safe (TSan caught two openae threads at it at once: discovery probing
// while a helper set the default sink). One at a time, process-wide; control-side threads only.
inline std::mutex& pipewire_setup_mutex() {
    static std::mutex setting_up;
    return setting_up;
}
// `realtime`: PipeWire's client-rt.conf, whose module-rt gives the data thread SCHED_FIFO where
// allowed. With the default client.conf a stream's data thread — where openae's device loop runs —
// stayed at normal priority, and any busier thread could make it miss the graph's cycle.
[[nodiscard]] inline pw_context* new_pipewire_context(pw_loop* loop, bool realtime = false) {
    const std::lock_guard lock(pipewire_setup_mutex());
    return pw_context_new(loop, realtime ? pw_properties_new(PW_KEY_CONFIG_NAME, "client-rt.conf", nullptr) : nullptr, 0);
}
[[nodiscard]] inline pw_core* connect_pipewire(pw_context* context, pw_properties* properties) {
    const std::lock_guard lock(pipewire_setup_mutex());
    return pw_context_connect(context, properties, 0);
}
// Loops and contexts load and unload SPA plugins (dlopen, dlclose): one at a time too. ld.so's own
// lock is invisible to TSan, which reported dlclose's frees on two openae threads as a race (the
// hotplug watch's connection attempts against a discovery probe).
[[nodiscard]] inline pw_thread_loop* new_pipewire_loop(const char* name) {
    const std::lock_guard lock(pipewire_setup_mutex());
    return pw_thread_loop_new(name, nullptr);
}
// After pw_thread_loop_stop(): the context (may be null), then the loop.
inline void destroy_pipewire(pw_context* context, pw_thread_loop* loop) {
    const std::lock_guard lock(pipewire_setup_mutex());
    if (context != nullptr) pw_context_destroy(context);
    if (loop != nullptr) pw_thread_loop_destroy(loop);
}

} // namespace ae::pipeline
