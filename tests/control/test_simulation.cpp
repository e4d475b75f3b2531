// Deterministic simulation: one thread drives the whole engine — the virtual time, every device's
// periods, the engine's passes and the control actor — from a seed. A scenario (an endpoint
// playing, a rate change through the barrier, a device loss and reroute, a capture) run twice from
// the same seed gives the same event log, byte for byte, and the same samples on every device;
// another seed gives other samples. Nothing here waits on the wall clock.
#include <openae/control/context.h>
#include <openae/pipeline/devices.h>
#include <openae/pipeline/virtual_clock.h>
#include <openae/rt/virtual_time.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

namespace {

constexpr std::uint32_t tap_period = 480; // 10 ms at 48 kHz, every device's period
constexpr ae::hns period{100'000};

// What a tap device saw (render) or made (capture): kept by the test, so it outlives the device.
struct tap_record {
    std::vector<float> played;
    bool gone = false; // the test unplugs the device by setting it (the same thread steps it)
};

// A device of the test's own, made by the context's device factory: a seeded virtual clock with
// jitter (so positions depend on the seed), render frames kept, capture frames seeded noise.
class tap_device final : public ae::pipeline::device {
public:
    tap_device(std::string spec, ae::endpoint_direction direction, std::uint32_t seed, std::shared_ptr<tap_record> record)
        : device(std::move(spec), direction, {48000, 2, ae::sample_type::f32}, tap_period, true),
          clock_({.rate = 48000, .period_frames = tap_period, .jitter_us = 300, .seed = seed}), noise_(seed * 2654435761u + 1),
          record_(std::move(record)) {}

    std::expected<void, ae::pipeline::device_error> start() override {
        clock_.start(ae::monotonic_now());
        return {};
    }
    ae::pipeline::device_status wait_period() noexcept override {
        if (record_->gone) return ae::pipeline::device_status::lost;
        timing_ = clock_.wait_next();
        return ae::pipeline::device_status::ok;
    }
    ae::pipeline::device_status play(const std::byte* data, std::uint32_t frames) noexcept override {
        if (record_->gone) return ae::pipeline::device_status::lost;
        const auto* samples = reinterpret_cast<const float*>(data);
        record_->played.insert(record_->played.end(), samples, samples + std::size_t{frames} * 2);
        return ae::pipeline::device_status::ok;
    }
    ae::pipeline::device_status record(std::byte* data, std::uint32_t frames) noexcept override {
        if (record_->gone) return ae::pipeline::device_status::lost;
        auto* samples = reinterpret_cast<float*>(data);
        for (std::size_t i = 0; i < std::size_t{frames} * 2; ++i) {
            noise_ ^= noise_ << 13;
            noise_ ^= noise_ >> 17;
            noise_ ^= noise_ << 5;
            samples[i] = static_cast<float>(noise_) / 4294967296.0f * 0.2f - 0.1f;
        }
        last_record_frames_ = frames;
        return ae::pipeline::device_status::ok;
    }
    ae::pipeline::device_timing timing() const noexcept override { return timing_; }

private:
    ae::pipeline::virtual_clock clock_;
    ae::pipeline::device_timing timing_{};
    std::uint32_t noise_;
    std::shared_ptr<tap_record> record_;
};

// What one run produced.
struct outcome {
    std::vector<std::string> events; // every event, as the wire protocol's JSON line
    std::map<std::string, std::vector<float>> played; // by device spec
    std::vector<float> captured;
    std::vector<ae::position> positions; // what every render pass was told
    std::uint64_t rendered_frames = 0; // what the engine wrote (endpoint frames)
    std::uint64_t captured_frames = 0;
    int format_done_step = -1;
    std::uint32_t music_epoch = 0;
    std::string music_device;
    ae::route_stage music_stage = ae::route_stage::routed;
};

// The test's engine: tops the render endpoint up with a 440 Hz sine at whatever rate its format
// says (phase continuous across the rate change), drains the capture endpoint.
struct engine_state {
    double phase = 0;
    std::uint64_t rendered = 0;
    std::uint64_t captured = 0;
    std::vector<float> captured_samples;
    std::vector<ae::position> positions;
};

void render_pass(ae::render_endpoint_rt& rt, engine_state& s) {
    ae::position at;
    const std::uint64_t padding = rt.current_padding(&at);
    s.positions.push_back(at);
    std::uint64_t room = rt.buffer_frames() - std::min(padding, rt.buffer_frames());
    while (room > 0) {
        const auto frames = static_cast<std::uint32_t>(std::min<std::uint64_t>(room, rt.frames_per_packet()));
        auto span = rt.output_data_pointer(frames);
        REQUIRE(span);
        const ae::frame_format f = rt.format();
        REQUIRE(f.sample == ae::sample_type::f32);
        auto* out = reinterpret_cast<float*>(*span);
        const double step = 2 * std::numbers::pi * 440 / f.sample_rate;
        for (std::uint32_t i = 0; i < frames; ++i) {
            const auto v = static_cast<float>(0.25 * std::sin(s.phase));
            for (std::uint32_t c = 0; c < f.channels; ++c) out[std::size_t{i} * f.channels + c] = v;
            s.phase = std::fmod(s.phase + step, 2 * std::numbers::pi);
        }
        rt.release_output_data_pointer({*span, frames, ae::buffer_flags::valid});
        s.rendered += frames;
        room -= frames;
    }
    rt.processing_complete();
}

void capture_pass(ae::capture_endpoint_rt& rt, engine_state& s) {
    for (int packets = 0; packets < 16 && rt.current_padding() > 0; ++packets) {
        ae::connection_property p{nullptr, rt.frames_per_packet(), ae::buffer_flags::invalid};
        REQUIRE(rt.input_data_pointer(p) == ae::errc{});
        const auto* in = reinterpret_cast<const float*>(p.buffer);
        s.captured_samples.insert(s.captured_samples.end(), in, in + std::size_t{p.valid_frames} * 2);
        s.captured += p.valid_frames;
        rt.release_input_data_pointer(p.valid_frames, p.buffer);
    }
    rt.processing_complete();
}

outcome run_scenario(std::uint32_t seed) {
    ae::virtual_time time(ae::hns{1'000'000'000}); // 100 s: far from the real clock, so no sleep could pass unseen
    std::map<std::string, std::shared_ptr<tap_record>> taps;
    ae::context_options options;
    options.log_level = "off";
    options.stepped = true;
    options.default_device = "tap:fallback";
    std::uint32_t next_seed = seed;
    options.device_factory = [&](const std::string& spec, ae::endpoint_direction direction)
        -> std::expected<std::unique_ptr<ae::pipeline::device>, ae::pipeline::device_error> {
        const auto d = direction == ae::endpoint_direction::render ? ae::endpoint_direction::render
                                                                   : ae::endpoint_direction::capture;
        if (spec.rfind("tap:", 0) != 0) return ae::pipeline::make_device(spec, d);
        auto& record = taps[spec];
        record = std::make_shared<tap_record>();
        return std::make_unique<tap_device>(spec, d, next_seed++, record);
    };
    outcome out;
    {
        ae::context ctx(options);
        ctx.subscribe([&](const ae::event& e) { out.events.push_back(ae::to_json(e)); });

        std::optional<ae::render_endpoint> music;
        std::optional<ae::capture_endpoint> mic;
        ae::endpoint_config config;
        config.name = "music";
        config.device = "tap:main";
        config.period = period;
        config.latency_coefficient = 4;
        ctx.async_create_render_endpoint(config, [&](std::error_code ec, std::optional<ae::render_endpoint> made) {
            REQUIRE_FALSE(ec);
            music = std::move(made);
        });
        config.name = "mic";
        config.device = "tap:mic";
        ctx.async_create_capture_endpoint(config, [&](std::error_code ec, std::optional<ae::capture_endpoint> made) {
            REQUIRE_FALSE(ec);
            mic = std::move(made);
        });
        ctx.poll();
        REQUIRE(music);
        REQUIRE(mic);
        // Blocking calls cannot work here (nothing else runs the control side): refused, typed.
        CHECK(music->start() == ae::errc::wrong_thread);

        engine_state engine;
        render_pass(music->rt(), engine); // pre-filled before start: the first period plays it
        int started = 0;
        music->async_start([&](std::error_code ec) { started += ec ? 0 : 1; });
        mic->async_start([&](std::error_code ec) { started += ec ? 0 : 1; });
        ctx.poll();
        REQUIRE(started == 2);

        for (int step = 1; step <= 120; ++step) {
            if (step == 30) {
                music->async_set_format({44100, 2, ae::sample_type::f32}, [&, step](std::error_code ec) {
                    REQUIRE_FALSE(ec);
                    out.format_done_step = step;
                });
            }
            if (step == 60) taps.at("tap:main")->gone = true;
            time.advance(period);
            ctx.step_devices();
            ctx.poll();
            render_pass(music->rt(), engine);
            capture_pass(mic->rt(), engine);
            ctx.poll();
        }
        out.music_epoch = music->epoch();
        out.music_device = music->device();
        out.music_stage = music->route_stage();
        out.rendered_frames = engine.rendered;
        out.captured_frames = engine.captured;
        out.captured = std::move(engine.captured_samples);
        out.positions = std::move(engine.positions);
        music.reset();
        mic.reset();
    }
    for (const auto& [spec, record] : taps) out.played[spec] = record->played;
    return out;
}

// The value of `"key":"` in each event line that has one, space separated.
std::string field_of(const std::vector<std::string>& events, const std::string& key) {
    std::string out;
    const std::string marker = "\"" + key + "\":\"";
    for (const auto& line : events) {
        const auto found = line.find(marker);
        if (found == std::string::npos) continue;
        const auto at = found + marker.size();
        out += (out.empty() ? "" : " ") + line.substr(at, line.find('"', at) - at);
    }
    return out;
}

std::string stages_of(const std::vector<std::string>& events) {
    std::string out;
    for (const auto& line : events) {
        if (line.find("\"event\":\"route_stage\"") == std::string::npos) continue;
        const auto at = line.find("\"stage\":\"") + 9;
        out += (out.empty() ? "" : " ") + line.substr(at, line.find('"', at) - at);
    }
    return out;
}

} // namespace

TEST_CASE("simulation: one scenario (play, rate change, device loss and reroute, capture) replays exactly from its seed") {
    const outcome first = run_scenario(7);
    const outcome again = run_scenario(7);
    const outcome other = run_scenario(8);

    // What happened, exactly.
    CHECK(first.format_done_step == 30); // the barrier completes within the pass it was asked in
    CHECK(first.music_epoch == 2);
    CHECK(first.music_device == "tap:fallback");
    CHECK(first.music_stage == ae::route_stage::rerouted);
    CHECK(stages_of(first.events) == "lost reopening switching rerouted");
    // Every event, in order — and no glitch among them: the rate change and the reroute lost no
    // frame and starved no period (the frames queued when the device went are played by the fallback).
    CHECK(field_of(first.events, "event") ==
          "state_changed state_changed state_changed state_changed latency_changed format_changed device_lost "
          "route_stage route_stage route_stage rerouted route_stage");
    REQUIRE(first.played.contains("tap:main"));
    REQUIRE(first.played.contains("tap:fallback"));
    // The main device played every period up to the one that found it gone (59 of them), the
    // fallback every period from the one after the reroute on.
    CHECK(first.played.at("tap:main").size() == std::size_t{59} * tap_period * 2);
    CHECK(first.played.at("tap:fallback").size() > 0);
    // And on the devices: the largest step between two frames of a 440 Hz sine of amplitude 0.25
    // at 48 kHz is 0.0144; the resampler's ripple after the rate seam gets a little room.
    auto largest_step = [](const std::vector<float>& frames, std::size_t from) {
        float largest = 0;
        for (std::size_t i = from * 2 + 2; i < frames.size(); i += 2) largest = std::max(largest, std::abs(frames[i] - frames[i - 2]));
        return largest;
    };
    const auto& main_heard = first.played.at("tap:main");
    const auto& fallback_heard = first.played.at("tap:fallback");
    // Through the rate seam, unbroken but for the render seam's known ripple (docs/contract.md: its
    // SNR is below the goal) — a step of 0.034 at frame 16,320 here.
    CHECK(largest_step(main_heard, 0) < 0.04f);
    CHECK(largest_step(std::vector<float>(main_heard.begin(), main_heard.begin() + 16'000 * 2), 0) < 0.0165f);
    // The fallback was opened one period before the lost device let go of the endpoint: its first
    // period is its own silence. Then the endpoint's new chain starts with a fresh resampler,
    // whose first output rises from zero (its filter's start) — a seam a reroute does not smooth
    // yet (what its old chain held is not carried over): measured, not hidden.
    CHECK(std::all_of(fallback_heard.begin(), fallback_heard.begin() + std::ptrdiff_t{tap_period} * 2, [](float v) { return v == 0; }));
    std::size_t settled = tap_period;
    while (settled < fallback_heard.size() / 2 && largest_step(fallback_heard, settled) >= 0.0165f) ++settled;
    MESSAGE("the fallback's chain settles ", settled - tap_period, " frames after it starts");
    CHECK(settled - tap_period < 1024);
    // The capture device never went away: every period it recorded reached the engine, in order.
    CHECK(first.captured_frames >= std::uint64_t{118} * tap_period);
    MESSAGE("events: ", first.events.size(), ", rendered ", first.rendered_frames, " frames, captured ", first.captured_frames,
            ", played on main ", first.played.at("tap:main").size() / 2, ", on the fallback ", first.played.at("tap:fallback").size() / 2);

    // The same seed: the same run.
    CHECK(again.events == first.events);
    CHECK(again.played == first.played);
    CHECK(again.captured == first.captured);
    CHECK(again.rendered_frames == first.rendered_frames);
    CHECK(again.positions == first.positions);
    // Another seed reaches the samples and the device timing (the comparisons above can fail);
    // the script's events do not depend on it.
    CHECK(other.captured != first.captured);
    CHECK(other.positions != first.positions);
    CHECK(other.events == first.events);

}
