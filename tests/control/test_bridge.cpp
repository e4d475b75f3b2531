// Bridges through the control API: a paced WAV source (1,024-frame periods) feeding a paced WAV
// sink (20 ms periods) through the pump on the source's device thread, under the RT harness; and
// a bridge's life: names, refusals, destruction with its endpoints.
#include "served.h"
#include "socket_client.h"
#include "test_engine.h"
#include "timing_checks.h"

#include <openae/control/context.h>
#include <openae/rt/monotonic_clock.h>

#include <doctest/doctest.h>
#include <sndfile.h>

#include <cmath>
#include <cstdio>
#include <numbers>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

constexpr int rate = 48'000;
constexpr double tone_hz = 1000;
constexpr double amplitude = 0.5;

bool write_tone(const std::string& path, double seconds) {
    SF_INFO info{};
    info.samplerate = rate;
    info.channels = 2;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
    if (!file) return false;
    const auto frames = static_cast<std::size_t>(seconds * rate);
    std::vector<float> x(frames * 2);
    for (std::size_t i = 0; i < frames; ++i) {
        x[2 * i] = x[2 * i + 1] = static_cast<float>(amplitude * std::sin(2 * std::numbers::pi * tone_hz * static_cast<double>(i) / rate));
    }
    const bool ok = sf_writef_float(file, x.data(), static_cast<sf_count_t>(frames)) == static_cast<sf_count_t>(frames);
    sf_close(file);
    return ok;
}

std::vector<float> read_left(const std::string& path) {
    SF_INFO info{};
    SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
    if (!file) return {};
    std::vector<float> x(static_cast<std::size_t>(info.frames) * static_cast<std::size_t>(info.channels));
    sf_readf_float(file, x.data(), info.frames);
    sf_close(file);
    std::vector<float> left(static_cast<std::size_t>(info.frames));
    for (std::size_t i = 0; i < left.size(); ++i) left[i] = x[i * static_cast<std::size_t>(info.channels)];
    return left;
}

// Waits (bounded) until the device `spec` has run `frames` frames.
bool wait_device_frames(ae::context& ctx, const std::string& spec, std::uint64_t frames) {
    const ae::hns deadline = ae::monotonic_now() + ae::hns{300'000'000};
    while (ae::monotonic_now() < deadline) {
        for (const auto& d : ctx.devices()) {
            if (d.spec == spec && d.frames >= frames) return true;
        }
        std::this_thread::yield();
    }
    return false;
}

ae::bridge_config bridge(const std::string& name, const std::string& from, const std::string& to) {
    ae::bridge_config config;
    config.name = name;
    config.from = from;
    config.to = to;
    return config;
}

} // namespace

TEST_CASE("bridge: a tone from a paced WAV source reaches a paced WAV sink whole - the pump runs on the source's device thread") {
    const std::string dir = "/tmp/openae-bridge-" + std::to_string(::getpid());
    const std::string in = dir + "-in.wav", out = dir + "-out.wav";
    REQUIRE(write_tone(in, 4));
    std::remove(out.c_str());
    ae::test::rt_guard device_guard;
    ae::bridge_status status;
    {
        ae::context_options options;
        options.log_level = "off";
        options.default_device = "null";
        options.device_hooks = ae::test::armed_hooks(device_guard);
        ae::context ctx(options);
        const std::string to = "wav:" + out + "?realtime=1&sample=f32&period=20";
        auto config = bridge("desk", "wav:" + in + "?realtime=1&period=21.3333", to);
        // A device thread late by tens of ms (sanitizers, a loaded machine) must not break the
        // tone the test checks: a wide margin.
        config.margin = ae::hns{300'000};
        auto made = ctx.create_bridge(config);
        REQUIRE(made);
        CHECK(made->name == "desk");
        CHECK(made->format == ae::frame_format{48'000, 2, ae::sample_type::f32});
        // 3 s of the 4 s source: the source still plays when the figures are read.
        REQUIRE(wait_device_frames(ctx, to, 3 * rate));
        const auto list = ctx.bridges();
        REQUIRE(list.size() == 1);
        status = list[0];
    }
    MESSAGE("in " << status.frames_in << " out " << status.frames_out << " queue " << status.average_ms << " ms (target "
                  << status.target_ms << "), drift " << status.drift_ppm << " ppm, latency " << status.latency.count() / 1e4
                  << " ms, raises " << status.raises);
    CHECK(status.frames_in >= 2 * rate);
    CHECK(status.frames_out >= 2 * rate);
    CHECK(status.dropped_frames == 0);
    CHECK(status.target_ms > 0);
    // Both devices pace on the same clock: drift control has nothing to correct beyond settling.
    AE_CHECK_TIMING(std::abs(status.drift_ppm) < 200);
    // No glitch on the way: the render side never found the queue empty while the source played.
    AE_CHECK_TIMING(status.render.glitch_count[static_cast<std::size_t>(ae::glitch_kind::underrun)] == 0);
    AE_CHECK_TIMING(status.capture.glitch_count[static_cast<std::size_t>(ae::glitch_kind::overrun)] == 0);
    CHECK(device_guard.violations() == 0);

    const std::vector<float> left = read_left(out);
    REQUIRE(left.size() >= 3 * rate);
    std::size_t onset = 0;
    while (onset < left.size() && left[onset] == 0.0f) ++onset;
    MESSAGE("the tone starts at frame " << onset << " of the sink");
    REQUIRE(onset + 2 * rate + rate / 10 < left.size());
    // Two seconds from 0.1 s after the onset (the resampler's filter rings at a sudden start).
    const std::size_t from = onset + rate / 10, to_frame = from + 2 * rate;
    double largest_step = 0, power = 0;
    int crossings = 0;
    for (std::size_t i = from; i < to_frame; ++i) {
        largest_step = std::max(largest_step, static_cast<double>(std::abs(left[i] - left[i - 1])));
        power += static_cast<double>(left[i]) * left[i];
        if ((left[i - 1] < 0) != (left[i] < 0)) ++crossings;
    }
    const double rms = std::sqrt(power / static_cast<double>(to_frame - from));
    MESSAGE("largest step " << largest_step << ", rms " << rms << ", zero crossings " << crossings);
    // A 1 kHz tone at 0.5 moves at most 0.0654 between samples: more is a break.
    AE_CHECK_TIMING(largest_step < 0.068);
    AE_CHECK_TIMING(rms == doctest::Approx(amplitude / std::numbers::sqrt2).epsilon(0.01));
    AE_CHECK_TIMING(crossings >= 3998);
    AE_CHECK_TIMING(crossings <= 4002);
    std::remove(in.c_str());
    std::remove(out.c_str());
}

TEST_CASE("bridge: names, refusals, and destruction with both endpoints") {
    ae::context_options options;
    options.log_level = "off";
    options.default_device = "null";
    ae::context ctx(options);
    auto made = ctx.create_bridge(bridge("b", "null?period=5", "null?period=20"));
    REQUIRE(made);
    CHECK(made->from == "null?period=5");
    CHECK(made->to == "null?period=20");
    CHECK(ctx.create_bridge(bridge("b", "null", "null")).error() == ae::make_error_code(ae::errc::already_initialized));
    // A bridge's endpoint goes with its bridge, not alone.
    CHECK(ctx.destroy("b.capture") == ae::make_error_code(ae::errc::busy));
    CHECK(ctx.destroy("b.render") == ae::make_error_code(ae::errc::busy));
    // A device that cannot open fails the bridge and leaves nothing behind.
    auto bad = ctx.create_bridge(bridge("c", "null", "nosuchkind:x"));
    REQUIRE_FALSE(bad);
    CHECK(ctx.destroy("c.capture") == ae::make_error_code(ae::errc::unknown_endpoint));
    auto bad_format = ae::bridge_config{};
    bad_format.name = "d";
    bad_format.channels = 0;
    CHECK(ctx.create_bridge(bad_format).error() == ae::make_error_code(ae::errc::unsupported_format));
    CHECK(ctx.bridges().size() == 1);
    CHECK_FALSE(ctx.destroy("b"));
    CHECK(ctx.bridges().empty());
    CHECK(ctx.destroy("b.capture") == ae::make_error_code(ae::errc::unknown_endpoint));
    CHECK(ctx.destroy("b.render") == ae::make_error_code(ae::errc::unknown_endpoint));
    // The name is free again.
    CHECK(ctx.create_bridge(bridge("b", "null", "null")));
}

TEST_CASE("bridge: over the socket - bridge, bridges, destroy, and the error code of each way to get it wrong") {
    using ae::test::code_of;
    ae::test::served s;
    ae::test::socket_client c(s.path());
    REQUIRE(c.connected());
    auto made = c.call({{"op", "bridge"}, {"bridge", "room"}, {"from", "null?period=5"}, {"to", "null"}, {"period_ms", 5}, {"drift", false}});
    REQUIRE(code_of(made) == "ok");
    CHECK(made["bridge"]["bridge"] == "room");
    CHECK(made["bridge"]["from"] == "null?period=5");
    CHECK(made["bridge"]["drift_control"] == false);
    CHECK(made["bridge"]["format"]["sample_rate"] == 48000);
    // Its endpoints are listed like any other, and belong to it.
    const auto status = c.call({{"op", "status"}, {"endpoint", "room.render"}});
    REQUIRE(code_of(status) == "ok");
    CHECK(status["endpoints"][0]["state"] == "running");
    CHECK(code_of(c.call({{"op", "destroy"}, {"endpoint", "room.capture"}})) == "busy");
    auto list = c.call({{"op", "bridges"}});
    REQUIRE(code_of(list) == "ok");
    REQUIRE(list["bridges"].size() == 1);
    CHECK(list["bridges"][0].contains("queue_ms"));
    CHECK(list["bridges"][0].contains("latency_ms"));
    CHECK(code_of(c.call({{"op", "bridge"}, {"bridge", "room"}})) == "already_initialized");
    CHECK(code_of(c.call({{"op", "bridge"}})) == "bad_request");
    CHECK(code_of(c.call({{"op", "bridge"}, {"bridge", "x"}, {"rate", 7}})) == "bad_request");
    CHECK(code_of(c.call({{"op", "bridge"}, {"bridge", "x"}, {"channels", 0}})) == "bad_request");
    CHECK(code_of(c.call({{"op", "bridge"}, {"bridge", "x"}, {"period_ms", 500}})) == "bad_request");
    CHECK(code_of(c.call({{"op", "bridge"}, {"bridge", "x"}, {"speed", 2}})) == "bad_request");
    CHECK(code_of(c.call({{"op", "bridge"}, {"bridge", "x"}, {"to", "nosuchkind"}})) != "ok");
    CHECK(code_of(c.call({{"op", "bridges"}, {"extra", 1}})) == "bad_request");
    CHECK(code_of(c.call({{"op", "destroy"}, {"bridge", "nobody"}})) == "unknown_endpoint");
    CHECK(code_of(c.call({{"op", "destroy"}, {"bridge", "room"}})) == "ok");
    CHECK(c.call({{"op", "bridges"}})["bridges"].empty());
    CHECK(code_of(c.call({{"op", "status"}, {"endpoint", "room.render"}})) == "unknown_endpoint");
}
