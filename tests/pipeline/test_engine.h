// Test helpers for pipeline tests: an eventfd, device-thread hooks that arm the RT-safety
// harness, and engine passes that write or read a whole buffer's worth.
#pragma once

#include <openae/openae.hpp>
#include <openae/pipeline/device_thread.h>

#include "rt_guard.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>

namespace ae::test {

class event_fd {
public:
    event_fd() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
    ~event_fd() { ::close(fd_); }
    event_fd(const event_fd&) = delete;
    event_fd& operator=(const event_fd&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }
    // Waits up to `timeout_ms` for a signal (the engine's one wait point); false on timeout.
    bool wait(int timeout_ms) noexcept {
        rt_guard::wait_scope waiting;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) return false;
        std::uint64_t count = 0;
        [[maybe_unused]] const auto got = ::read(fd_, &count, sizeof count);
        return true;
    }

private:
    int fd_;
};

// Hooks that arm `guard` on the device thread and open a wait scope around its wait point.
inline pipeline::device_thread_hooks armed_hooks(rt_guard& guard) noexcept {
    pipeline::device_thread_hooks hooks;
    hooks.context = &guard;
    hooks.started = [](void* g) { static_cast<rt_guard*>(g)->arm_current_thread(); };
    hooks.stopping = [](void*) { rt_guard::disarm_current_thread(); };
    hooks.wait_begin = [](void*) { rt_guard::begin_wait(); };
    hooks.wait_end = [](void*) { rt_guard::end_wait(); };
    hooks.callback_begin = [](void* g) { static_cast<rt_guard*>(g)->arm_current_thread(); };
    hooks.callback_end = [](void*) { rt_guard::disarm_current_thread(); };
    return hooks;
}

// One render pass: fills the free space packet by packet with `fill(frame_index, frame_ptr)` for
// f32 frames, up to `limit` frames in total. Returns false if an RT call failed.
// rt-safe (when `fill` is)
template <typename Fill>
bool render_pass(render_endpoint_rt& rt, std::uint64_t& written, std::uint64_t limit, Fill&& fill) noexcept {
    const std::uint64_t padding = rt.current_padding();
    // After a rate change the old ring may still hold more than the new one's size.
    std::uint64_t free = rt.buffer_frames() > padding ? rt.buffer_frames() - padding : 0;
    bool ok = true;
    while (free > 0 && written < limit) {
        const auto frames = static_cast<std::uint32_t>(std::min<std::uint64_t>({rt.frames_per_packet(), free, limit - written}));
        auto span = rt.output_data_pointer(frames);
        if (!span) {
            ok = false;
            break;
        }
        const std::uint32_t channels = rt.format().channels;
        auto* samples = reinterpret_cast<float*>(*span);
        for (std::uint32_t i = 0; i < frames; ++i) fill(written + i, samples + std::size_t{i} * channels);
        rt.release_output_data_pointer({*span, frames, buffer_flags::valid});
        written += frames;
        free -= frames;
    }
    rt.processing_complete();
    return ok;
}

// One capture pass: reads every ready frame, packet by packet, handing f32 frames to
// `take(frame_index, frame_ptr)`. Returns false if an RT call failed.
template <typename Take>
bool capture_pass(capture_endpoint_rt& rt, std::uint64_t& read, Take&& take) noexcept {
    bool ok = true;
    for (int packets = 0; packets < 64; ++packets) {
        const std::uint64_t ready = rt.current_padding();
        if (ready == 0) break;
        connection_property p{nullptr, static_cast<std::uint32_t>(std::min<std::uint64_t>(ready, rt.frames_per_packet())),
                              buffer_flags::invalid};
        if (rt.input_data_pointer(p) != errc{}) {
            ok = false;
            break;
        }
        const std::uint32_t channels = rt.format().channels;
        const auto* samples = reinterpret_cast<const float*>(p.buffer);
        for (std::uint32_t i = 0; i < p.valid_frames; ++i) take(read + i, samples + std::size_t{i} * channels);
        rt.release_input_data_pointer(p.valid_frames, p.buffer);
        read += p.valid_frames;
    }
    rt.processing_complete();
    return ok;
}

} // namespace ae::test
