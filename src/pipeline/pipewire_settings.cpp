// The PipeWire device's spec (pipewire_settings.h).
#include "pipewire_settings.h"

#include <charconv>

namespace ae::pipeline {

device_error pw_error(const std::string& spec, errc code, const std::string& what) {
    return device_error{make_error_code(code), "pipewire device '" + spec + "': " + what};
}

namespace {

std::expected<std::pair<std::uint32_t, std::uint32_t>, device_error> parse_latency(const device_spec& spec, const std::string& text) {
    std::uint32_t frames = 0;
    std::uint32_t rate = 0;
    const char* end = text.data() + text.size();
    auto [after_frames, frames_error] = std::from_chars(text.data(), end, frames);
    bool ok = frames_error == std::errc{} && frames >= 16 && frames <= max_quantum_frames;
    if (ok && after_frames != end) {
        auto [after_rate, rate_error] = std::from_chars(after_frames + 1, end, rate);
        ok = *after_frames == '/' && rate_error == std::errc{} && after_rate == end && rate >= min_sample_rate && rate <= max_sample_rate;
    }
    if (!ok) {
        return std::unexpected(pw_error(spec.text(), errc::bad_argument,
                                        "latency is FRAMES or FRAMES/RATE (16 to " + std::to_string(max_quantum_frames) + " frames), not '" + text + "'"));
    }
    return std::pair{frames, rate};
}

} // namespace

std::expected<pw_settings, device_error> parse_pipewire_spec(device_spec& spec, endpoint_direction direction) {
    pw_settings settings;
    settings.target = spec.target();
    const bool render = direction == endpoint_direction::render;
    settings.node_name = spec.take_text("name");
    const bool named = !settings.node_name.empty();
    if (!named) settings.node_name = render ? "openae-render" : "openae-capture";
    settings.remote = spec.take_text("remote");
    if (const std::string latency = spec.take_text("latency"); !latency.empty()) {
        const auto parsed = parse_latency(spec, latency);
        if (!parsed) return std::unexpected(parsed.error());
        settings.latency_frames = parsed->first;
        settings.latency_rate = parsed->second;
    }
    const auto rate = spec.take_count("rate", 48000, min_sample_rate, max_sample_rate);
    if (!rate) return std::unexpected(rate.error());
    settings.rate = *rate;
    const auto channels = spec.take_count("channels", 2, 1, max_channels);
    if (!channels) return std::unexpected(channels.error());
    settings.channels = *channels;
    const auto monitor = spec.take_flag("monitor", false);
    if (!monitor) return std::unexpected(monitor.error());
    if (*monitor && render) return std::unexpected(pw_error(spec.text(), errc::bad_argument, "monitor=1 is for capture (a sink's output)"));
    settings.monitor = *monitor;
    if (const std::string node = spec.take_text("node"); !node.empty()) {
        if (node != "sink" && node != "source") {
            return std::unexpected(pw_error(spec.text(), errc::bad_argument, "node is sink or source, not '" + node + "'"));
        }
        // A sink is what applications play into: openae records it. A source, the other way.
        if ((node == "sink") == render) {
            return std::unexpected(pw_error(spec.text(), errc::bad_argument,
                                            node == "sink" ? "node=sink is for capture (openae records what is played into it)"
                                                           : "node=source is for render (openae plays what is recorded from it)"));
        }
        if (!settings.target.empty() || settings.monitor) {
            return std::unexpected(pw_error(spec.text(), errc::bad_argument, "node=" + node + " makes a node: no target, no monitor"));
        }
        settings.node_class = node == "sink" ? "Audio/Sink" : "Audio/Source";
        if (!named) settings.node_name = node == "sink" ? "openae-sink" : "openae-source";
    }
    settings.description = spec.take_text("description");
    if (settings.description.empty()) settings.description = settings.node_name;
    if (auto done = spec.finish(); !done) return std::unexpected(done.error());
    return settings;
}

} // namespace ae::pipeline
