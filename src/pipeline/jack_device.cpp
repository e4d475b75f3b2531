// The JACK device: `jack[:CLIENT]?server=NAME&ports=PORT,PORT&connect=auto&channels=N`.
//
// openae is one JACK client per device, with one port per channel; every endpoint on the device
// is mixed by the device loop into those ports (N endpoints, one client). JACK owns the period:
// its process thread runs the loop's step() once a cycle, in a cycle loop of openae's own
// (jack_cycle_wait, the step, jack_cycle_signal, then the engines woken), the same step openae's
// own device threads run, under the same rules. openae's device thread only stands by
// (wait_driven) and carries the loop on when JACK stops calling — the server shut down, or the
// period changed under the chains — on its virtual clock, so the endpoints never stall.
//
// Positions come from jack_get_cycle_times (JACK's own DLL): at the cycle's start, render has
// played what it wrote minus the ports' playback latency; capture has the cycle's frames. The
// client never starts a server (JackNoStartServer).
#include "callback_driver.h"

#include <openae/pipeline/device_loop.h>
#include <openae/pipeline/devices.h>

#include <openae/rt/errc.h>
#include <openae/rt/event_signal.h>
#include <openae/rt/monotonic_clock.h>
#include <openae/rt/thread_name.h>

#include <jack/jack.h>

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

// ThreadSanitizer cannot see how JACK hands a port's buffer from one client's process thread to
// the next (futexes in JACK's shared memory, inside an uninstrumented libjack): each cycle takes
// the buffers over (acquire) and hands them on (release), which is what JACK's graph does.
#if defined(__SANITIZE_THREAD__)
#define AE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define AE_TSAN 1
#endif
#endif
#ifdef AE_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace ae::pipeline {
namespace {

inline void take_over_buffer([[maybe_unused]] void* buffer) noexcept { // rt-safe: wait-free
#ifdef AE_TSAN
    __tsan_acquire(buffer);
#endif
}
inline void hand_on_buffer([[maybe_unused]] void* buffer) noexcept { // rt-safe: wait-free
#ifdef AE_TSAN
    __tsan_release(buffer);
#endif
}

device_error jack_error(const std::string& spec, errc code, const std::string& what) {
    return device_error{make_error_code(code), "jack device '" + spec + "': " + what};
}

std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> out;
    std::size_t from = 0;
    while (from <= text.size() && !text.empty()) {
        const std::size_t comma = text.find(',', from);
        out.push_back(text.substr(from, comma == std::string::npos ? std::string::npos : comma - from));
        if (comma == std::string::npos) break;
        from = comma + 1;
    }
    return out;
}

struct jack_settings {
    std::string client_name;
    std::string server; // "" : the default server
    std::vector<std::string> connect_to;
    bool connect_auto = false;
    std::uint32_t channels = 2;
};

class jack_device final : public callback_device {
public:
    jack_device(std::string spec, endpoint_direction direction, jack_client_t* client, jack_settings settings)
        : callback_device(std::move(spec), direction,
                 frame_format{jack_get_sample_rate(client), static_cast<std::uint16_t>(settings.channels), sample_type::f32},
                 jack_get_buffer_size(client), true),
          client_(client), settings_(std::move(settings)) {
        buffers_.assign(settings_.channels, nullptr);
    }
    ~jack_device() override {
        if (client_ != nullptr) jack_client_close(client_);
    }

    // Control side, before start(): ports and callbacks (JACK calls nothing until activation).
    std::expected<void, device_error> register_ports() {
        if (!driver_.ok()) return std::unexpected(jack_error(spec_, errc::io_error, "cannot create an eventfd"));
        const bool render = direction_ == endpoint_direction::render;
        for (std::uint32_t ch = 0; ch < settings_.channels; ++ch) {
            const std::string name = (render ? "out_" : "in_") + std::to_string(ch + 1);
            jack_port_t* port = jack_port_register(client_, name.c_str(), JACK_DEFAULT_AUDIO_TYPE, render ? JackPortIsOutput : JackPortIsInput, 0);
            if (port == nullptr) return std::unexpected(jack_error(spec_, errc::device_unavailable, "cannot register port " + name));
            ports_.push_back(port);
        }
        jack_set_thread_init_callback(client_, [](void*) { set_current_thread_name("ae-rt-dev-jack"); }, nullptr);
        jack_set_process_thread(client_, [](void* self) -> void* { static_cast<jack_device*>(self)->run_cycles(); }, this);
        jack_on_info_shutdown(client_, [](jack_status_t, const char*, void* self) { static_cast<jack_device*>(self)->on_shutdown(); }, this);
        jack_set_xrun_callback(client_, [](void* self) { return static_cast<jack_device*>(self)->on_xrun(); }, this);
        jack_set_buffer_size_callback(client_, [](jack_nframes_t n, void* self) { return static_cast<jack_device*>(self)->on_buffer_size(n); }, this);
        jack_set_sample_rate_callback(client_, [](jack_nframes_t n, void* self) { return static_cast<jack_device*>(self)->on_sample_rate(n); }, this);
        jack_set_latency_callback(client_, [](jack_latency_callback_mode_t, void* self) { static_cast<jack_device*>(self)->update_latency(); }, this);
        return {};
    }


    std::expected<void, device_error> start() override {
        driver_.allow();
        if (int err = jack_activate(client_); err != 0) return std::unexpected(jack_error(spec_, errc::device_unavailable, "cannot activate the client"));
        active_ = true;
        const bool render = direction_ == endpoint_direction::render;
        std::vector<std::string> targets = settings_.connect_to;
        if (settings_.connect_auto) {
            const char** physical = jack_get_ports(client_, nullptr, JACK_DEFAULT_AUDIO_TYPE,
                                                   JackPortIsPhysical | (render ? JackPortIsInput : JackPortIsOutput));
            for (std::size_t i = 0; physical != nullptr && physical[i] != nullptr; ++i) targets.emplace_back(physical[i]);
            jack_free(physical);
        }
        for (std::size_t ch = 0; ch < targets.size() && ch < ports_.size(); ++ch) {
            const char* ours = jack_port_name(ports_[ch]);
            const int err = render ? jack_connect(client_, ours, targets[ch].c_str()) : jack_connect(client_, targets[ch].c_str(), ours);
            if (err != 0 && err != EEXIST) {
                // The client is active: JACK would go on calling it with a loop that is about to
                // be freed. Deactivated, it is called no more (jack_deactivate waits for the cycle).
                (void)jack_deactivate(client_);
                active_ = false;
                return std::unexpected(jack_error(spec_, errc::device_unavailable, std::string("cannot connect ") + ours + " and " + targets[ch]));
            }
        }
        update_latency();
        return {};
    }
    void stop() noexcept override {
        // A dead server is not asked: its client is closed with the device.
        if (active_ && !driver_.is_gone()) (void)jack_deactivate(client_);
        active_ = false;
    }



    device_status play(const std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: bounded
        const auto* in = reinterpret_cast<const float*>(data);
        const std::uint32_t n = std::min(frames, cycle_frames_);
        for (std::size_t ch = 0; ch < buffers_.size(); ++ch) {
            float* out = buffers_[ch];
            for (std::uint32_t i = 0; i < n; ++i) out[i] = in[std::size_t{i} * buffers_.size() + ch];
        }
        written_ += n;
        return device_status::ok;
    }
    device_status record(std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: bounded
        auto* out = reinterpret_cast<float*>(data);
        const std::uint32_t n = std::min(frames, cycle_frames_);
        for (std::size_t ch = 0; ch < buffers_.size(); ++ch) {
            const float* in = buffers_[ch];
            for (std::uint32_t i = 0; i < n; ++i) out[std::size_t{i} * buffers_.size() + ch] = in[i];
        }
        if (n < frames) std::fill(out + std::size_t{n} * buffers_.size(), out + std::size_t{frames} * buffers_.size(), 0.0f);
        read_ += n;
        last_record_frames_ = frames;
        return device_status::ok;
    }
    device_timing timing() const noexcept override { return timing_; } // rt-safe: wait-free
    std::uint64_t latency_generation() const noexcept override { return latency_generation_.load(std::memory_order_relaxed); } // rt-safe: wait-free
    hns latency() const noexcept override {
        return hns{static_cast<std::int64_t>(1e7 * latency_frames_.load(std::memory_order_relaxed) / format_.sample_rate)};
    }
    std::uint64_t device_dropped_frames() const noexcept override { return dropped_.load(std::memory_order_relaxed); }

private:
    // JACK's process thread, running openae's own cycle loop (jack_set_process_thread) rather than
    // a process callback, so that each cycle is handed back to the server (jack_cycle_signal)
    // before the engines are woken: the wake-up is a write that wakes a thread on another CPU
    // (about 10 of the 12 us a callback took on a VM, BENCHMARKS.md), and the graph's cycle need
    // not wait for it.
    // Not noexcept, and cancellation held off inside a cycle: JACK ends this thread by cancelling
    // it (asynchronously) when the client deactivates, which unwinds through this frame; through
    // a noexcept one it would terminate the process. Between cycles it waits in jack_cycle_wait.
    [[noreturn]] void run_cycles() {
        for (;;) {
            const jack_nframes_t frames = jack_cycle_wait(client_);
            int cancel_state = 0;
            (void)::pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
            cycle(frames);
            (void)::pthread_setcancelstate(cancel_state, &cancel_state);
        }
    }

    void cycle(jack_nframes_t frames) noexcept { // rt-safe: bounded
        if (hooks_.callback_begin) hooks_.callback_begin(hooks_.context);
        cycle_frames_ = frames;
        for (std::size_t ch = 0; ch < ports_.size(); ++ch) {
            buffers_[ch] = static_cast<float*>(jack_port_get_buffer(ports_[ch], frames));
            take_over_buffer(buffers_[ch]);
        }
        // Silence unless the loop plays: JACK's output buffers hold whatever was there.
        if (direction_ == endpoint_direction::render) {
            for (float* out : buffers_) std::fill_n(out, frames, 0.0f);
        }
        const bool stepping = driver_.begin_cycle() && loop_ != nullptr;
        if (stepping) run_period(frames);
        for (float* buffer : buffers_) hand_on_buffer(buffer);
        if (hooks_.callback_end) hooks_.callback_end(hooks_.context);
        jack_cycle_signal(client_, 0);
        // Still this thread's loop (end_cycle() has not handed it to the standby thread).
        if (stepping) loop_->wake_deferred_engines();
        driver_.end_cycle();
    }

    void run_period(jack_nframes_t frames) noexcept { // rt-safe: bounded
        device_period period;
        if (rate_changed_.load(std::memory_order_acquire)) {
            period.status = device_status::period_changed; // a new rate: the chains are rebuilt
        } else {
            // A new buffer size is the loop's to take (up to max_period_frames()).
            sample_timing(frames);
            period.timing = timing_;
            period.frames = frames;
        }
        period.defer_engine_wake = true; // woken once the cycle is JACK's again (cycle())
        driver_.step(*loop_, period);
    }

    void sample_timing(jack_nframes_t frames) noexcept { // rt-safe: bounded
        jack_nframes_t current_frames = 0;
        jack_time_t current_usecs = 0;
        jack_time_t next_usecs = 0;
        float period_usecs = 0;
        hns at = monotonic_now();
        bool discontinuity = false;
        if (jack_get_cycle_times(client_, &current_frames, &current_usecs, &next_usecs, &period_usecs) == 0) {
            at = hns{static_cast<std::int64_t>(current_usecs) * 10};
            // Cycles JACK ran without calling us (it found the client late): their frames
            // never reached (or came from) the device. JACK's frame time wraps: unsigned arithmetic.
            if (have_cycle_ && current_frames != next_cycle_frames_) {
                const auto skipped = static_cast<std::int32_t>(current_frames - next_cycle_frames_);
                if (skipped > 0) dropped_.fetch_add(static_cast<std::uint64_t>(skipped), std::memory_order_relaxed);
                discontinuity = true;
            }
            have_cycle_ = true;
            next_cycle_frames_ = current_frames + frames;
        }
        const std::uint64_t latency = latency_frames_.load(std::memory_order_relaxed);
        std::uint64_t position = 0;
        if (direction_ == endpoint_direction::render) {
            position = written_ > latency ? written_ - latency : 0;
        } else {
            position = read_ + frames;
        }
        timing_ = {position, at, discontinuity};
    }

    void on_shutdown() noexcept { driver_.gone(); } // JACK's thread: the server is gone
    int on_xrun() noexcept {
        // JACK does not say how much was lost: a period, at least.
        dropped_.fetch_add(period_frames_, std::memory_order_relaxed);
        return 0;
    }
    int on_buffer_size(jack_nframes_t frames) noexcept {
        // The next cycle() sees the new size and reports it (its frames, not this call, decide).
        (void)frames;
        return 0;
    }
    int on_sample_rate(jack_nframes_t rate) noexcept {
        if (rate != format_.sample_rate) rate_changed_.store(true, std::memory_order_release);
        return 0;
    }
    void update_latency() noexcept {
        const auto mode = direction_ == endpoint_direction::render ? JackPlaybackLatency : JackCaptureLatency;
        std::uint64_t most = 0;
        for (jack_port_t* port : ports_) {
            jack_latency_range_t range{};
            jack_port_get_latency_range(port, mode, &range);
            most = std::max<std::uint64_t>(most, range.max);
        }
        if (latency_frames_.exchange(most, std::memory_order_relaxed) != most) latency_generation_.fetch_add(1, std::memory_order_relaxed);
    }

    jack_client_t* client_;
    jack_settings settings_;
    std::vector<jack_port_t*> ports_;
    std::vector<float*> buffers_; // this cycle's port buffers (JACK's thread)
    bool active_ = false;
    jack_nframes_t cycle_frames_ = 0;
    bool have_cycle_ = false;
    jack_nframes_t next_cycle_frames_ = 0; // JACK's frame time of the cycle after this one
    std::uint64_t written_ = 0;
    std::uint64_t read_ = 0;
    device_timing timing_{};

    // order: release/acquire — set by JACK's thread, seen by the next cycle.
    std::atomic<bool> rate_changed_{false};
    // order: relaxed — statistics and a latency figure, each complete in itself.
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> latency_frames_{0};
    std::atomic<std::uint64_t> latency_generation_{0};
};

} // namespace

std::expected<std::unique_ptr<device>, device_error> make_jack_device(device_spec spec, endpoint_direction direction) {
    jack_settings settings;
    settings.client_name = spec.target().empty() ? "openae" : spec.target();
    settings.server = spec.take_text("server");
    settings.connect_to = split_list(spec.take_text("ports"));
    const std::string connect = spec.take_text("connect");
    if (!connect.empty() && connect != "auto" && connect != "none") {
        return std::unexpected(jack_error(spec.text(), errc::bad_argument, "connect is 'auto' or 'none', not '" + connect + "'"));
    }
    settings.connect_auto = connect == "auto";
    if (settings.connect_auto && !settings.connect_to.empty()) {
        return std::unexpected(jack_error(spec.text(), errc::bad_argument, "ports and connect=auto both say where to connect"));
    }
    const auto fallback_channels = settings.connect_to.empty() ? 2U : static_cast<std::uint32_t>(settings.connect_to.size());
    const auto channels = spec.take_count("channels", std::min<std::uint32_t>(fallback_channels, max_channels), 1, max_channels);
    if (!channels) return std::unexpected(channels.error());
    settings.channels = *channels;
    if (auto done = spec.finish(); !done) return std::unexpected(done.error());

    jack_status_t status{};
    const auto options = static_cast<jack_options_t>(JackNoStartServer | (settings.server.empty() ? 0 : JackServerName));
    jack_client_t* client = settings.server.empty() ? jack_client_open(settings.client_name.c_str(), options, &status)
                                                    : jack_client_open(settings.client_name.c_str(), options, &status, settings.server.c_str());
    if (client == nullptr) {
        const std::string server = settings.server.empty() ? "the default JACK server" : "JACK server '" + settings.server + "'";
        return std::unexpected(jack_error(spec.text(), errc::device_unavailable,
                                          (status & JackServerFailed) != 0 ? "no " + server + " is running" : "cannot open a client of " + server));
    }
    const std::uint32_t rate = jack_get_sample_rate(client);
    if (!is_valid(frame_format{rate, static_cast<std::uint16_t>(settings.channels), sample_type::f32})) {
        jack_client_close(client);
        return std::unexpected(jack_error(spec.text(), errc::unsupported_format, "the server runs at " + std::to_string(rate) + " Hz"));
    }
    auto dev = std::make_unique<jack_device>(spec.text(), direction, client, std::move(settings));
    if (auto ok = dev->register_ports(); !ok) return std::unexpected(ok.error());
    return dev;
}

} // namespace ae::pipeline
