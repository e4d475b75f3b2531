// openae — naming and prioritising the threads openae runs.
// RT threads are named `ae-rt-<what>`, the control thread `ae-ctl`, so tools (top -H, perf, the
// RT-safety harness) can tell them apart. Linux limits a thread name to 15 characters.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

namespace ae {

// Names the calling thread (truncated to 15 characters). Call before entering the RT loop.
void set_current_thread_name(const char* name) noexcept;

// Asks for SCHED_FIFO at `priority` for the calling thread. False (and nothing changed) when the
// system does not allow it; the caller decides how loudly to say so.
[[nodiscard]] bool try_set_realtime_priority(int priority) noexcept;

} // namespace ae

#pragma GCC visibility pop
