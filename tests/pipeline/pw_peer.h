// A PipeWire stream of a test's own (48 kHz stereo f32), on PipeWire's data thread: a recorder of
// a sink's output or a source node's, or a player of a marker and a sine into a sink.
#pragma once

#include "signal_rig.h"

#include <openae/rt/event_signal.h>

#include <pipewire/pipewire.h>
#include <spa/param/audio/format-utils.h>

#include <doctest/doctest.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <vector>

namespace ae::test {

// The null sink of tests/data/pipewire/peer.sh.
inline constexpr const char* test_sink = "openae_test_sink";

// A stream of the test's own on the test sink, 48 kHz stereo F32: a recorder of the sink's output
// (keeps what arrives) or a player into it (marker/sine from frame 0 on). Its process callback runs on PipeWire's
// data thread; each cycle signals an eventfd the test waits on.
class pw_peer {
public:
    // A recorder records a sink's output (its monitor), or with `from_source` a source node's.
    pw_peer(bool records, std::size_t capacity_frames, const char* target = test_sink, bool from_source = false)
        : records_(records), frames_(2 * capacity_frames) {
        pw_init(nullptr, nullptr);
        loop_ = pw_thread_loop_new("test-peer", nullptr);
        REQUIRE(loop_ != nullptr);
        pw_thread_loop_lock(loop_);
        pw_properties* props = pw_properties_new(PW_KEY_MEDIA_TYPE, "Audio", PW_KEY_MEDIA_CATEGORY, records ? "Capture" : "Playback",
                                                 PW_KEY_NODE_NAME, records ? "test-recorder" : "test-player", PW_KEY_TARGET_OBJECT,
                                                 target, PW_KEY_NODE_LATENCY, "256/48000", nullptr);
        if (records && !from_source) pw_properties_set(props, PW_KEY_STREAM_CAPTURE_SINK, "true");
        events_.version = PW_VERSION_STREAM_EVENTS;
        events_.process = [](void* self) { static_cast<pw_peer*>(self)->process(); };
        // client-rt.conf: its data thread at SCHED_FIFO where allowed, as a real client's (and
        // openae's) — at normal priority it missed cycles whenever the machine was busy.
        context_ = pw_context_new(pw_thread_loop_get_loop(loop_), pw_properties_new(PW_KEY_CONFIG_NAME, "client-rt.conf", nullptr), 0);
        REQUIRE(context_ != nullptr);
        core_ = pw_context_connect(context_, nullptr, 0);
        REQUIRE(core_ != nullptr);
        stream_ = pw_stream_new(core_, records ? "test-recorder" : "test-player", props);
        REQUIRE(stream_ != nullptr);
        pw_stream_add_listener(stream_, &listener_, &events_, this);
        std::uint8_t memory[512];
        spa_pod_builder builder{};
        spa_pod_builder_init(&builder, memory, sizeof memory);
        spa_audio_info_raw info{};
        info.format = SPA_AUDIO_FORMAT_F32;
        info.rate = 48000;
        info.channels = 2;
        info.position[0] = SPA_AUDIO_CHANNEL_FL;
        info.position[1] = SPA_AUDIO_CHANNEL_FR;
        const spa_pod* params[1] = {spa_format_audio_raw_build(&builder, SPA_PARAM_EnumFormat, &info)};
        // On PipeWire's data thread, as openae's device: a peer on its loop thread misses cycles under load.
        const auto flags = static_cast<pw_stream_flags>(PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS | PW_STREAM_FLAG_RT_PROCESS);
        REQUIRE(pw_stream_connect(stream_, records ? PW_DIRECTION_INPUT : PW_DIRECTION_OUTPUT, PW_ID_ANY, flags, params, 1) == 0);
        pw_thread_loop_unlock(loop_);
        REQUIRE(pw_thread_loop_start(loop_) == 0);
    }
    ~pw_peer() {
        pw_thread_loop_lock(loop_);
        pw_stream_destroy(stream_);
        pw_core_disconnect(core_);
        pw_thread_loop_unlock(loop_);
        pw_thread_loop_stop(loop_);
        pw_context_destroy(context_);
        pw_thread_loop_destroy(loop_);
        ::close(cycle_fd_);
    }
    pw_peer(const pw_peer&) = delete;
    pw_peer& operator=(const pw_peer&) = delete;

    // Frames recorded or played so far (a recorder's are interleaved in frames()).
    [[nodiscard]] std::size_t count() const noexcept { return count_.load(std::memory_order_acquire); }
    [[nodiscard]] const std::vector<float>& frames() const noexcept { return frames_; }
    // Frames of the graph's cycles this stream was not called for.
    [[nodiscard]] std::size_t missed() const noexcept { return missed_.load(std::memory_order_relaxed); }
    // Waits for cycles until count() reaches `frames` (bounded: `turns` waits of 100 ms without a cycle).
    bool wait_for(std::size_t frames, int turns = 100) const {
        while (count() < frames) {
            pollfd p{cycle_fd_, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0 && --turns <= 0) return false;
            std::uint64_t n = 0;
            [[maybe_unused]] const auto got = ::read(cycle_fd_, &n, sizeof n);
        }
        return true;
    }

private:
    void process() {
        pw_buffer* buffer = pw_stream_dequeue_buffer(stream_);
        if (buffer == nullptr) return;
        spa_data& data = buffer->buffer->datas[0];
        pw_time time{};
        if (pw_stream_get_time_n(stream_, &time, sizeof time) == 0 && time.rate.denom != 0) {
            if (have_ticks_ && time.ticks > next_ticks_) missed_.fetch_add(time.ticks - next_ticks_, std::memory_order_relaxed);
            have_ticks_ = true;
        }
        std::size_t at = count_.load(std::memory_order_relaxed);
        auto* samples = static_cast<float*>(data.data);
        std::uint32_t n = 0;
        if (records_) {
            const std::uint32_t offset = std::min(data.chunk->offset, data.maxsize);
            n = std::min(data.chunk->size, data.maxsize - offset) / 8;
            samples += offset / sizeof(float);
            const auto take = std::min<std::size_t>(n, frames_.size() / 2 - std::min(frames_.size() / 2, at));
            std::copy_n(samples, 2 * take, frames_.data() + 2 * at);
            at += take;
        } else {
            n = std::min<std::uint32_t>(data.maxsize / 8, buffer->requested != 0 ? static_cast<std::uint32_t>(buffer->requested) : 256);
            for (std::uint32_t i = 0; i < n; ++i, ++at) {
                samples[2 * i] = signal::marker(at);
                samples[2 * i + 1] = signal::sine(at % 65536, 48000); // periodic with the marker: a frame says where it is
            }
            data.chunk->offset = 0;
            data.chunk->stride = 8;
            data.chunk->size = n * 8;
        }
        next_ticks_ = time.ticks + n;
        count_.store(at, std::memory_order_release);
        pw_stream_queue_buffer(stream_, buffer);
        ae::signal_eventfd(cycle_fd_);
    }

    bool records_;
    pw_thread_loop* loop_ = nullptr;
    pw_context* context_ = nullptr;
    pw_core* core_ = nullptr;
    pw_stream* stream_ = nullptr;
    spa_hook listener_{};
    pw_stream_events events_{};
    std::vector<float> frames_;
    int cycle_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    // order: release/acquire — the frames are in frames_ before the count says so.
    std::atomic<std::size_t> count_{0};
    // order: relaxed — a statistic.
    std::atomic<std::size_t> missed_{0};
    bool have_ticks_ = false;
    std::uint64_t next_ticks_ = 0;
};


} // namespace ae::test
