// The PipeWire device: `pipewire[:TARGET]?latency=FRAMES[/RATE]&rate=R&channels=N&monitor=0|1&name=NODE&remote=NAME
// &node=sink|source&description=TEXT`.
//
// One pw_stream per device (playback for render, capture for capture), F32 interleaved at the
// device's rate and channels. The stream runs with PW_STREAM_FLAG_RT_PROCESS: its process
// callback comes on PipeWire's data thread, which steps the device loop — the same step openae's
// own device threads run, under the same rules. openae's device thread only stands by and carries
// the loop on when PipeWire stops calling (the stream errored or was unlinked, the server died,
// the quantum changed under the chains), on its virtual clock, so the endpoints never stall.
//
// The device's period is the graph's quantum, read from the first cycle at open (the node asks for
// `latency`; the graph may run another quantum). Positions come from pw_stream_get_time_n: the
// graph's ticks, the delay to the device's edge, and what the stream still queues. TARGET (a node
// name or serial) is linked to by the session manager (target.object); `monitor=1` records a
// sink's output (stream.capture.sink).
//
// `node=sink` (capture) and `node=source` (render) make openae a node of the graph instead of a
// stream into one: a virtual sink (media.class Audio/Sink) that applications play into — openae
// records what they play — or a virtual source (Audio/Source) that applications record — openae
// plays into it. Named NODE (`pactl`, `pw-cli` and a desktop's sound settings show it by its
// description), it runs even when nothing is linked to it (node.always-process), so a bridge fed by
// it keeps its clock.
#include "callback_driver.h"
#include "pipewire_settings.h"
#include "pipewire_init.h"

#include <openae/pipeline/device_loop.h>
#include <openae/pipeline/devices.h>

#include <openae/rt/errc.h>
#include <openae/rt/monotonic_clock.h>
#include <openae/rt/thread_name.h>

#include <pipewire/pipewire.h>
#include <spa/param/audio/format-utils.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>
#include <ctime>
#include <string>

namespace ae::pipeline {
namespace {

// How long an open waits for the stream's first cycle (the session manager links it first).
constexpr std::int64_t first_cycle_timeout_ns = 10'000'000'000;

void set_positions(spa_audio_info_raw& info) {
    static constexpr std::uint32_t surround[max_channels] = {SPA_AUDIO_CHANNEL_FL, SPA_AUDIO_CHANNEL_FR, SPA_AUDIO_CHANNEL_FC,
                                                             SPA_AUDIO_CHANNEL_LFE, SPA_AUDIO_CHANNEL_RL, SPA_AUDIO_CHANNEL_RR,
                                                             SPA_AUDIO_CHANNEL_SL, SPA_AUDIO_CHANNEL_SR};
    if (info.channels == 1) {
        info.position[0] = SPA_AUDIO_CHANNEL_MONO;
        return;
    }
    for (std::uint32_t ch = 0; ch < info.channels && ch < max_channels; ++ch) {
        info.position[ch] = info.channels == 2 || info.channels >= 6 ? surround[ch] : SPA_AUDIO_CHANNEL_AUX0 + ch;
    }
}

// The thread loop's lock for a scope (control side).
struct loop_lock {
    explicit loop_lock(pw_thread_loop* loop) : loop_(loop) { pw_thread_loop_lock(loop_); }
    ~loop_lock() { pw_thread_loop_unlock(loop_); }
    loop_lock(const loop_lock&) = delete;
    loop_lock& operator=(const loop_lock&) = delete;
    pw_thread_loop* loop_;
};

class pipewire_device final : public callback_device {
public:
    pipewire_device(std::string spec, endpoint_direction direction, pw_settings settings)
        : callback_device(std::move(spec), direction, frame_format{settings.rate, static_cast<std::uint16_t>(settings.channels), sample_type::f32},
                 settings.latency_frames, true),
          settings_(std::move(settings)) {}

    ~pipewire_device() override {
        if (thread_loop_ == nullptr) return;
        pw_thread_loop_lock(thread_loop_);
        if (stream_ != nullptr) pw_stream_destroy(stream_);
        if (core_ != nullptr) pw_core_disconnect(core_);
        pw_thread_loop_unlock(thread_loop_);
        pw_thread_loop_stop(thread_loop_);
        destroy_pipewire(context_, thread_loop_);
    }

    // Control side: connects, links and waits for the first cycle, which says the quantum.
    std::expected<void, device_error> open() {
        if (!driver_.ok()) return std::unexpected(pw_error(spec_, errc::io_error, "cannot create an eventfd"));
        thread_loop_ = new_pipewire_loop("ae-pw-loop");
        if (thread_loop_ == nullptr) return std::unexpected(pw_error(spec_, errc::io_error, "cannot create a PipeWire loop"));
        context_ = new_pipewire_context(pw_thread_loop_get_loop(thread_loop_), true);
        if (context_ == nullptr) return std::unexpected(pw_error(spec_, errc::io_error, "cannot create a PipeWire context"));
        if (pw_thread_loop_start(thread_loop_) != 0) return std::unexpected(pw_error(spec_, errc::io_error, "cannot start the PipeWire loop"));

        const std::string server = settings_.remote.empty() ? "PipeWire server" : "PipeWire server '" + settings_.remote + "'";
        const loop_lock locked(thread_loop_);
        pw_properties* core_props = settings_.remote.empty() ? nullptr : pw_properties_new(PW_KEY_REMOTE_NAME, settings_.remote.c_str(), nullptr);
        core_ = connect_pipewire(context_, core_props);
        if (core_ == nullptr) return std::unexpected(pw_error(spec_, errc::device_unavailable, "no " + server + " answers"));
        static const pw_core_events core_events = [] {
            pw_core_events e{};
            e.version = PW_VERSION_CORE_EVENTS;
            e.error = [](void* self, std::uint32_t id, int, int, const char*) {
                // The connection itself failed (the server died): the device is gone.
                if (id == PW_ID_CORE) static_cast<pipewire_device*>(self)->driver_.gone();
            };
            return e;
        }();
        pw_core_add_listener(core_, &core_listener_, &core_events, this);

        const bool render = direction_ == endpoint_direction::render;
        const std::string latency =
            std::to_string(settings_.latency_frames) + "/" + std::to_string(settings_.latency_rate != 0 ? settings_.latency_rate : settings_.rate);
        pw_properties* props = pw_properties_new(PW_KEY_MEDIA_TYPE, "Audio", PW_KEY_MEDIA_CATEGORY, render ? "Playback" : "Capture",
                                                 PW_KEY_MEDIA_ROLE, "Music", PW_KEY_APP_NAME, "openae", PW_KEY_NODE_NAME,
                                                 settings_.node_name.c_str(), PW_KEY_NODE_LATENCY, latency.c_str(), nullptr);
        if (!settings_.target.empty()) pw_properties_set(props, PW_KEY_TARGET_OBJECT, settings_.target.c_str());
        if (!settings_.node_class.empty()) {
            pw_properties_set(props, PW_KEY_MEDIA_CLASS, settings_.node_class.c_str());
            pw_properties_set(props, PW_KEY_NODE_DESCRIPTION, settings_.description.c_str());
            pw_properties_set(props, PW_KEY_NODE_ALWAYS_PROCESS, "true");
            pw_properties_set(props, PW_KEY_NODE_VIRTUAL, "true");
        }
        if (settings_.monitor) pw_properties_set(props, PW_KEY_STREAM_CAPTURE_SINK, "true");
        stream_ = pw_stream_new(core_, settings_.node_name.c_str(), props);
        if (stream_ == nullptr) return std::unexpected(pw_error(spec_, errc::io_error, "cannot create a stream"));
        static const pw_stream_events stream_events = [] {
            pw_stream_events e{};
            e.version = PW_VERSION_STREAM_EVENTS;
            e.state_changed = [](void* self, pw_stream_state, pw_stream_state state, const char*) {
                static_cast<pipewire_device*>(self)->on_state(state);
            };
            e.process = [](void* self) { static_cast<pipewire_device*>(self)->process(); };
            return e;
        }();
        pw_stream_add_listener(stream_, &stream_listener_, &stream_events, this);

        std::uint8_t pod_memory[1024];
        spa_pod_builder builder{};
        spa_pod_builder_init(&builder, pod_memory, sizeof pod_memory);
        spa_audio_info_raw info{};
        info.format = SPA_AUDIO_FORMAT_F32;
        info.rate = settings_.rate;
        info.channels = settings_.channels;
        set_positions(info);
        const spa_pod* params[1] = {spa_format_audio_raw_build(&builder, SPA_PARAM_EnumFormat, &info)};
        const auto flags = static_cast<pw_stream_flags>(PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS | PW_STREAM_FLAG_RT_PROCESS);
        if (pw_stream_connect(stream_, render ? PW_DIRECTION_OUTPUT : PW_DIRECTION_INPUT, PW_ID_ANY, flags, params, 1) != 0) {
            return std::unexpected(pw_error(spec_, errc::device_unavailable, "cannot connect a stream to " + server));
        }
        // The session manager links the stream, then the graph runs it: its first cycle says the
        // quantum. Bounded; the loop thread wakes this wait at every state change.
        timespec deadline{};
        pw_thread_loop_get_time(thread_loop_, &deadline, first_cycle_timeout_ns);
        while (first_cycle_frames_.load(std::memory_order_acquire) == 0 && !driver_.is_gone()) {
            timespec step{};
            pw_thread_loop_get_time(thread_loop_, &step, 20'000'000);
            if (step.tv_sec > deadline.tv_sec || (step.tv_sec == deadline.tv_sec && step.tv_nsec >= deadline.tv_nsec)) break;
            (void)pw_thread_loop_timed_wait_full(thread_loop_, &step);
        }
        if (driver_.is_gone()) {
            return std::unexpected(pw_error(spec_, errc::device_unavailable,
                                            settings_.target.empty() ? "the stream failed" : "the stream failed (is there a node '" + settings_.target + "'?)"));
        }
        const std::uint32_t quantum = first_cycle_frames_.load(std::memory_order_acquire);
        if (quantum == 0) {
            return std::unexpected(pw_error(spec_, errc::device_unavailable,
                                            "the stream was not linked within 10 s" +
                                                (settings_.target.empty() ? std::string{} : " (is there a node '" + settings_.target + "'?)")));
        }
        if (quantum > max_quantum_frames) {
            return std::unexpected(pw_error(spec_, errc::unsupported_format, "the graph runs " + std::to_string(quantum) + "-frame cycles"));
        }
        period_frames_ = quantum;
        return {};
    }


    std::expected<void, device_error> start() override {
        driver_.allow();
        return {};
    }
    void stop() noexcept override {
        // After wait_driven(): no cycle steps the loop any more. The stream is destroyed with the device.
        if (thread_loop_ == nullptr || stream_ == nullptr) return;
        pw_thread_loop_lock(thread_loop_);
        (void)pw_stream_set_active(stream_, false);
        pw_thread_loop_unlock(thread_loop_);
    }


    device_status play(const std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: bounded
        const std::uint32_t n = std::min(frames, cycle_frames_);
        std::memcpy(cycle_data_, data, std::size_t{n} * stride());
        written_ += n;
        return device_status::ok;
    }
    device_status record(std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: bounded
        const std::uint32_t n = std::min(frames, cycle_frames_);
        std::memcpy(data, cycle_data_, std::size_t{n} * stride());
        if (n < frames) std::memset(data + std::size_t{n} * stride(), 0, std::size_t{frames - n} * stride());
        read_ += n;
        last_record_frames_ = frames;
        return device_status::ok;
    }
    device_timing timing() const noexcept override { return timing_; } // rt-safe: wait-free
    hns latency() const noexcept override {
        return hns{static_cast<std::int64_t>(1e7 * static_cast<double>(latency_frames_.load(std::memory_order_relaxed)) / format_.sample_rate)};
    }
    std::uint64_t device_dropped_frames() const noexcept override { return dropped_.load(std::memory_order_relaxed); }

private:
    [[nodiscard]] std::uint32_t stride() const noexcept { return static_cast<std::uint32_t>(sizeof(float)) * format_.channels; } // rt-safe: wait-free

    // The loop thread: the stream's state. An error, or unlinked after it ran: gone.
    void on_state(pw_stream_state state) noexcept {
        if (state == PW_STREAM_STATE_ERROR || (state == PW_STREAM_STATE_UNCONNECTED && connected_)) driver_.gone();
        if (state == PW_STREAM_STATE_STREAMING || state == PW_STREAM_STATE_PAUSED) connected_ = true;
        pw_thread_loop_signal(thread_loop_, false);
    }

    void process() noexcept { // rt-safe: bounded
        if (!thread_named_) {
            set_current_thread_name("ae-rt-dev-pipewire");
            thread_named_ = true;
        }
        // Cycles run from the connection on; only those after start() step the loop (and see
        // the loop and hooks drive() set: begin_cycle() acquires them).
        const bool stepping = driver_.begin_cycle() && loop_ != nullptr;
        if (stepping && hooks_.callback_begin) hooks_.callback_begin(hooks_.context);
        pw_buffer* buffer = pw_stream_dequeue_buffer(stream_);
        std::uint32_t frames = 0;
        const bool render = direction_ == endpoint_direction::render;
        if (buffer != nullptr && buffer->buffer->datas[0].data != nullptr) {
            spa_data& data = buffer->buffer->datas[0];
            if (render) {
                const std::uint32_t room = data.maxsize / stride();
                frames = std::min<std::uint32_t>(room, buffer->requested != 0 ? static_cast<std::uint32_t>(buffer->requested) : period_frames_);
                cycle_data_ = static_cast<std::byte*>(data.data);
                std::memset(cycle_data_, 0, std::size_t{frames} * stride()); // silence unless the loop plays
            } else {
                const std::uint32_t offset = std::min(data.chunk->offset, data.maxsize);
                frames = std::min(data.chunk->size, data.maxsize - offset) / stride();
                cycle_data_ = static_cast<std::byte*>(data.data) + offset;
            }
        } else if (stepping) {
            // No buffer this cycle (the graph went on without us): the cycle's frames are missed.
            dropped_.fetch_add(period_frames_, std::memory_order_relaxed);
        }
        cycle_frames_ = frames;
        if (first_cycle_frames_.load(std::memory_order_relaxed) == 0 && frames != 0) {
            // release: the open's waiter reads the quantum with it.
            first_cycle_frames_.store(frames, std::memory_order_release);
        }
        if (stepping && frames != 0) run_period(frames);
        driver_.end_cycle();
        if (buffer != nullptr) {
            if (render) {
                spa_chunk& chunk = *buffer->buffer->datas[0].chunk;
                chunk.offset = 0;
                chunk.stride = static_cast<std::int32_t>(stride());
                chunk.size = frames * stride();
                buffer->size = frames;
            }
            (void)pw_stream_queue_buffer(stream_, buffer);
        }
        if (stepping && hooks_.callback_end) hooks_.callback_end(hooks_.context);
    }

    void run_period(std::uint32_t frames) noexcept { // rt-safe: bounded
        // A new quantum is the loop's to take (up to max_period_frames()).
        device_period period;
        sample_timing(frames);
        period.timing = timing_;
        period.frames = frames;
        driver_.step(*loop_, period);
    }

    void sample_timing(std::uint32_t frames) noexcept { // rt-safe: bounded
        pw_time time{};
        hns at = monotonic_now();
        bool discontinuity = false;
        std::uint64_t delay_frames = 0;
        std::uint64_t queued_frames = 0;
        if (pw_stream_get_time_n(stream_, &time, sizeof time) == 0 && time.rate.denom != 0 && time.now != 0) {
            at = hns{time.now / 100};
            // Graph time (ticks, delay) is in the graph's rate; this device's frames in its own.
            const double to_device = static_cast<double>(format_.sample_rate) * time.rate.num / time.rate.denom;
            delay_frames = time.delay > 0 ? static_cast<std::uint64_t>(static_cast<double>(time.delay) * to_device) : 0;
            queued_frames = time.queued + time.buffered;
            // Cycles the graph ran without calling us: their frames never reached (or came from) the device.
            if (have_ticks_ && time.ticks != next_ticks_) {
                if (time.ticks > next_ticks_) {
                    dropped_.fetch_add(static_cast<std::uint64_t>(static_cast<double>(time.ticks - next_ticks_) * to_device), std::memory_order_relaxed);
                }
                discontinuity = true;
            }
            have_ticks_ = true;
            next_ticks_ = time.ticks + static_cast<std::uint64_t>(static_cast<double>(frames) / to_device + 0.5);
            latency_frames_.store(delay_frames, std::memory_order_relaxed);
        }
        std::uint64_t position = 0;
        if (direction_ == endpoint_direction::render) {
            const std::uint64_t held = delay_frames + queued_frames;
            position = written_ > held ? written_ - held : 0;
        } else {
            position = read_ + frames;
        }
        timing_ = {position, at, discontinuity};
    }

    pw_settings settings_;
    pw_thread_loop* thread_loop_ = nullptr;
    pw_context* context_ = nullptr;
    pw_core* core_ = nullptr;
    pw_stream* stream_ = nullptr;
    spa_hook core_listener_{};
    spa_hook stream_listener_{};
    bool connected_ = false; // the loop thread's

    // The data thread's.
    bool thread_named_ = false;
    std::byte* cycle_data_ = nullptr;
    std::uint32_t cycle_frames_ = 0;
    bool have_ticks_ = false;
    std::uint64_t next_ticks_ = 0;
    std::uint64_t written_ = 0;
    std::uint64_t read_ = 0;
    device_timing timing_{};

    // order: release/acquire — the first cycle's frame count, read by the open that waits for it.
    std::atomic<std::uint32_t> first_cycle_frames_{0};
    // order: relaxed — statistics and a latency figure, each complete in itself.
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> latency_frames_{0};
};

} // namespace

std::expected<std::unique_ptr<device>, device_error> make_pipewire_device(device_spec spec, endpoint_direction direction) {
    auto settings = parse_pipewire_spec(spec, direction);
    if (!settings) return std::unexpected(settings.error());
    ensure_pipewire_initialised();
    auto dev = std::make_unique<pipewire_device>(spec.text(), direction, std::move(*settings));
    if (auto ok = dev->open(); !ok) return std::unexpected(ok.error());
    return dev;
}

} // namespace ae::pipeline
