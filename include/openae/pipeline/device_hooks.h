// openae — device_thread_hooks: calls a device's (or an engine's) RT thread makes at fixed
// points, for test harnesses and profilers.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

namespace ae::pipeline {

// Function pointers: calling them never allocates.
struct device_thread_hooks {
    void* context = nullptr;
    void (*started)(void* context) = nullptr;   // first thing on the thread, after naming it
    void (*stopping)(void* context) = nullptr;  // last thing on the thread
    void (*wait_begin)(void* context) = nullptr; // around the one wait point
    void (*wait_end)(void* context) = nullptr;
    // Around each callback a backend's own real-time thread makes into openae (JACK's process
    // callback): that thread is openae's only between the two.
    void (*callback_begin)(void* context) = nullptr;
    void (*callback_end)(void* context) = nullptr;
};

} // namespace ae::pipeline

#pragma GCC visibility pop
