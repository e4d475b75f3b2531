// A device thread opened for a test, and an endpoint's glitch records tallied by kind: what the
// device-thread tests in real time share (test_realtime.cpp, test_faulty_devices.cpp).
#pragma once

#include <openae/pipeline/device_thread.h>
#include <openae/pipeline/devices.h>
#include <openae/rt/endpoint_core.h>
#include <openae/rt/glitch.h>

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

namespace ae::test {

inline std::unique_ptr<pipeline::device_thread> open_thread(const std::string& spec, endpoint_direction direction,
                                                           const pipeline::device_thread_options& options = {.realtime_priority = 0}) {
    auto dev = pipeline::make_device(spec, direction);
    REQUIRE(dev);
    auto thread = pipeline::device_thread::create(std::move(*dev), options);
    REQUIRE(thread);
    return std::move(*thread);
}

// `endpoint` (48 kHz stereo f32, 240-frame packets, `buffer_frames` of buffer, woken through
// `wake_fd`) attached to a new device thread on `spec`, in the endpoint's direction; neither started.
template <typename EndpointCore>
std::unique_ptr<pipeline::device_thread> attach_on_thread(EndpointCore& endpoint, int wake_fd, const std::string& spec,
                                                          std::uint32_t buffer_frames) {
    REQUIRE_FALSE(endpoint.set_buffer({48000, 2, sample_type::f32}, 240, buffer_frames));
    REQUIRE_FALSE(endpoint.set_event_handle(wake_fd));
    constexpr bool render = std::is_same_v<EndpointCore, render_endpoint_core>;
    auto thread = open_thread(spec, render ? endpoint_direction::render : endpoint_direction::capture);
    REQUIRE(thread->control().attach(endpoint));
    return thread;
}

// Records and frames by glitch kind.
struct glitch_tally {
    std::array<std::uint64_t, glitch_kind_count + 1> records{};
    std::array<std::uint64_t, glitch_kind_count + 1> frames{};
    void add(const glitch_record& r) {
        ++records[static_cast<int>(r.kind)];
        frames[static_cast<int>(r.kind)] += r.frames;
    }
    [[nodiscard]] std::uint64_t count(glitch_kind kind) const { return records[static_cast<int>(kind)]; }
    [[nodiscard]] std::uint64_t frames_of(glitch_kind kind) const { return frames[static_cast<int>(kind)]; }
};

} // namespace ae::test
