// openae — ae::engine: an audio engine thread that plays sources into render endpoints and records
// capture endpoints into sinks, through the RT contract only (what a host's own engine does): it
// sees an endpoint's RT view and nothing else of openae's control plane.
//
// ae-host drives every endpoint it makes (from its command line, its config file, or `create` over
// the control socket) with one engine. One thread, "ae-rt-engine", serves them all: woken by the
// device threads' period events on one eventfd (every endpoint's event handle), it tops each render
// endpoint up and drains each capture endpoint, then waits again. It never allocates, locks or does
// file I/O: wav sources are read into memory when added, wav sinks are written by an I/O thread
// behind a ring. Endpoints are added and removed while it runs through SPSC queues; a removed slot
// comes back on a retire queue and is freed on the control side.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/engine/sink.h>
#include <openae/engine/source.h>
#include <openae/pipeline/device_hooks.h>
#include <openae/rt/capture_endpoint_rt.h>
#include <openae/rt/render_endpoint_rt.h>
#include <openae/rt/spsc_queue.h>

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ae {

// An endpoint for the engine to drive: its name, its RT view, and what keeps that view alive
// until the engine has retired it (the host's endpoint handle, shared).
template <class RtView>
struct engine_endpoint {
    std::string name;
    RtView* rt = nullptr;
    std::shared_ptr<const void> owner;
};

// What the engine counts per endpoint (written on the engine thread, read anywhere).
struct engine_slot_stats {
    std::uint64_t frames = 0;   // rendered or captured
    std::uint64_t passes = 0;
    std::uint64_t errors = 0;   // RT calls that failed (other than not_running)
    std::uint64_t padding_min = 0;
    std::uint64_t padding_max = 0;
    double padding_avg = 0;
    bool have_position = false;
    position last_position{};   // the record of the engine's last pass
};

struct engine_options {
    std::size_t max_endpoints = 1024;
    int realtime_priority = 60;           // SCHED_FIFO priority when allowed; 0: do not ask
    pipeline::device_thread_hooks hooks{}; // called on the engine thread (test harnesses)
};

class engine {
public:
    [[nodiscard]] static std::expected<std::unique_ptr<engine>, engine_error> create(engine_options options = {});
    ~engine();
    engine(const engine&) = delete;
    engine& operator=(const engine&) = delete;

    // The eventfd endpoints signal: give it to set_event_handle.
    [[nodiscard]] int event_fd() const noexcept { return wake_fd_; }
    // An eventfd the engine signals each time it lets go of removed endpoints: a control thread
    // watches it (a dup() of it: the engine closes its own after its thread ended) and calls
    // take_retired() then, instead of polling.
    [[nodiscard]] int release_fd() const noexcept { return release_fd_; }

    // Control side (one thread at a time). The endpoint must have its buffer (set_buffer) and
    // this engine's event handle; the engine drives it from its next pass.
    [[nodiscard]] std::expected<void, engine_error> add_render(engine_endpoint<render_endpoint_rt> endpoint, engine_source source);
    // `sink`: opened for the endpoint's format as created (engine_sink::open).
    [[nodiscard]] std::expected<void, engine_error> add_capture(engine_endpoint<capture_endpoint_rt> endpoint, engine_sink sink);
    // The engine lets go of the endpoint at its next pass; false if it does not drive it.
    bool remove(const std::string& name);
    // Frees slots the engine retired. A wav sink is flushed and closed by the sink closer when
    // one is set (a control service hands it to a helper thread), here otherwise.
    void collect();
    void set_sink_closer(std::function<void(std::unique_ptr<pipeline::device>)> closer) { sink_closer_ = std::move(closer); }
    // After remove(name): nullopt while the engine still drives it; then its sink (null for a
    // `null` sink, or when collect() has already closed it), for the caller to stop — flush and
    // close the file — off the control thread. The slot itself is freed.
    [[nodiscard]] std::optional<std::unique_ptr<pipeline::device>> take_retired(const std::string& name);

    [[nodiscard]] bool drives(const std::string& name) const;
    [[nodiscard]] std::string source_or_sink(const std::string& name) const;
    [[nodiscard]] std::expected<engine_slot_stats, std::error_code> stats(const std::string& name) const;
    [[nodiscard]] std::uint64_t passes() const noexcept { return passes_.load(std::memory_order_relaxed); }

    struct slot;

private:
    explicit engine(engine_options options);
    void run() noexcept;
    void take_retired();
    void apply_commands() noexcept;
    [[nodiscard]] std::expected<void, engine_error> add(std::unique_ptr<slot> s);

    struct command {
        slot* add = nullptr;
        slot* remove = nullptr;
    };

    engine_options options_;
    int wake_fd_ = -1;
    int release_fd_ = -1;
    std::map<std::string, std::unique_ptr<slot>> slots_;   // control side owns every slot
    std::vector<std::unique_ptr<slot>> leaving_;           // removed, until the engine lets go
    std::unique_ptr<spsc_queue<command>> commands_;
    std::unique_ptr<spsc_queue<slot*>> retired_;
    std::vector<slot*> active_;                            // engine thread only; reserved up front
    // order: relaxed — a statistic.
    std::atomic<std::uint64_t> passes_{0};
    // order: release/acquire — the destructor's last word before it joins the thread.
    std::atomic<bool> stop_{false};
    std::function<void(std::unique_ptr<pipeline::device>)> sink_closer_;
    std::thread thread_;
};

} // namespace ae

#pragma GCC visibility pop
