// The PipeWire device's spec (pipewire_device.cpp): what `pipewire[:TARGET]?...` asks for. Internal.
#pragma once

#include <openae/pipeline/device_error.h>
#include <openae/pipeline/device_spec.h>
#include <openae/rt/errc.h>
#include <openae/rt/types.h>

#include <cstdint>
#include <expected>
#include <string>

namespace ae::pipeline {

struct pw_settings {
    std::string target;
    std::string node_name;
    std::string remote;
    std::uint32_t latency_frames = 256;
    std::uint32_t latency_rate = 0; // 0: the device's rate
    std::uint32_t rate = 48000;
    std::uint32_t channels = 2;
    bool monitor = false;
    std::string node_class;  // "Audio/Sink" or "Audio/Source": a virtual node; empty: a stream
    std::string description; // the node's description (a virtual node's; default: its name)
};

// A typed error naming the device.
[[nodiscard]] device_error pw_error(const std::string& spec, errc code, const std::string& what);

// Reads (and finishes) `spec` for a device of `direction`; ranges and combinations checked.
[[nodiscard]] std::expected<pw_settings, device_error> parse_pipewire_spec(device_spec& spec, endpoint_direction direction);

// PipeWire's own largest quantum (clock.max-quantum's ceiling): a longer one is refused.
inline constexpr std::uint32_t max_quantum_frames = 8192;

} // namespace ae::pipeline
