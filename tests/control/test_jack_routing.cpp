// A render endpoint on a JACK device through the control API: jackd killed under it (the endpoint
// is rerouted by its policy — follow_default → the context's default, null — and plays on), and
// the server's buffer size changed under it (the endpoint stays; its buffer grows).
#include <openae/control/context.h>

#include "auto_follow_rig.h"
#include "jack_peer.h"
#include "jack_server.h"
#include "sine_fit.h"
#include "stepped_rig.h"
#include "test_engine.h"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <optional>
#include <numbers>
#include <string>

namespace {
// One pass of an engine that keeps the endpoint full of a constant, then its wait for the next
// period (bounded): true when the device woke it.
bool engine_pass(ae::render_endpoint& ep, std::uint64_t& written, ae::test::event_fd& wake) {
    (void)ae::test::render_pass(ep.rt(), written, ~std::uint64_t{0}, [](std::uint64_t, float* f) { f[0] = f[1] = 0.25f; });
    return wake.wait(100);
}
// A context (default device null) with a recorder of its events, and one started render endpoint
// on `device`: 10 ms packets, follow_default, woken through `wake`.
struct jack_scene {
    ae::test::event_recorder rec;
    ae::test::event_fd wake; // outlives the context: its device threads signal it
    ae::context ctx{null_default()};
    ae::endpoint_config config;
    std::optional<ae::render_endpoint> ep;
    explicit jack_scene(const std::string& device) {
        ctx.subscribe(std::ref(rec));
        config.name = "on-jack";
        config.device = device;
        config.period = ae::hns{100'000};
        config.routing = ae::routing_policy::follow_default;
        auto made = ctx.create_render_endpoint(config);
        REQUIRE(made);
        ep.emplace(std::move(*made));
        REQUIRE_FALSE(ep->set_event_handle(wake.get()));
        REQUIRE_FALSE(ep->start());
    }
    static ae::context_options null_default() {
        ae::context_options options;
        options.default_device = "null";
        return options;
    }
};
} // namespace

TEST_CASE("jack via the control API: jackd killed, the endpoint follows the default device and plays on") {
    ae::test::jack_server server("jack-route");
    jack_scene scene("jack:ae_route?server=" + server.name);
    auto& rec = scene.rec;
    auto& wake = scene.wake;
    auto& config = scene.config;
    auto& ep = scene.ep;
    CHECK(ep->device() == config.device);

    std::uint64_t written = 0;
    auto pass = [&] { return engine_pass(*ep, written, wake); };
    // JACK's callback consumes: the engine is woken and refills, pass after pass.
    int woken = 0;
    for (int passes = 0; passes < 200 && woken < 40; ++passes) woken += pass() ? 1 : 0;
    REQUIRE(woken == 40);
    const std::uint64_t written_on_jack = written;

    server.stop();
    // The rerouted event and the route's last stage are two events from ae-ctl: wait for both.
    auto done = [&] { return !rec.of(ae::event_kind::rerouted).empty() && rec.stages().ends_with("rerouted"); };
    for (int passes = 0; passes < 400 && !done(); ++passes) (void)pass();
    const auto rerouted = rec.of(ae::event_kind::rerouted);
    REQUIRE(rerouted.size() == 1);
    CHECK(rerouted[0].device == config.device);
    CHECK(rerouted[0].to == "null");
    CHECK(ep->device() == "null");
    CHECK(rec.stages().starts_with("lost"));
    CHECK(rec.stages().ends_with("rerouted"));
    REQUIRE(rec.of(ae::event_kind::device_lost).size() == 1);

    // On null now: the endpoint keeps being consumed.
    const std::uint64_t written_at_reroute = written;
    for (int passes = 0; passes < 20; ++passes) (void)pass();
    CHECK(written > written_at_reroute);
    auto stats = ep->stats();
    REQUIRE(stats);
    MESSAGE("written on jack ", written_on_jack, " frames; device_lost frames ", rec.glitch_frames(ae::glitch_kind::device_lost),
            "; underrun frames ", rec.glitch_frames(ae::glitch_kind::underrun), "; stages ", rec.stages());
    CHECK(stats->glitch_overflows == 0);
}

TEST_CASE("jack via the control API: the server's buffer size grows live (256 -> 1024): the endpoint stays, its buffer grows through the barrier") {
    ae::test::jack_server server("jack-grow");
    jack_scene scene("jack:ae_grow?server=" + server.name); // a 960-frame buffer: too small for 1024-frame cycles
    auto& rec = scene.rec;
    auto& wake = scene.wake;
    auto& ctx = scene.ctx;
    auto& config = scene.config;
    auto& ep = scene.ep;
    const std::uint32_t epoch_before = ep->epoch();
    const ae::hns latency_before = ep->latency();

    std::uint64_t written = 0;
    auto pass = [&] { return engine_pass(*ep, written, wake); };
    int woken = 0;
    for (int passes = 0; passes < 200 && woken < 20; ++passes) woken += pass() ? 1 : 0;
    REQUIRE(woken == 20);
    const pid_t bufsize = ae::test::spawn({"jack_bufsize", "1024"}); // the engine goes on meanwhile
    REQUIRE(bufsize > 0);
    // Done when the endpoint's new epoch is out and the engine has been woken on it since.
    int after = 0;
    for (int passes = 0; passes < 400 && after < 20; ++passes) {
        const bool was = pass();
        if (ep->epoch() > epoch_before && was) ++after;
    }
    CHECK(ae::test::wait_exit(bufsize) == 0);
    CHECK(ep->epoch() == epoch_before + 1);
    CHECK(ep->device() == config.device);
    CHECK(ep->route_stage() == ae::route_stage::routed);
    CHECK(rec.of(ae::event_kind::device_lost).empty());
    CHECK(rec.stages().empty());
    const auto latency = rec.of(ae::event_kind::latency_changed);
    REQUIRE_FALSE(latency.empty());
    CHECK(latency.back().latency > latency_before);
    const auto devices = ctx.devices();
    REQUIRE(devices.size() == 1);
    CHECK(devices[0].period_frames == 1024);
    MESSAGE("latency ", latency_before.count() / 10'000.0, " ms -> ", latency.back().latency.count() / 10'000.0, " ms; underrun frames ",
            rec.glitch_frames(ae::glitch_kind::underrun), "; device_lost frames ", rec.glitch_frames(ae::glitch_kind::device_lost));
    CHECK(rec.glitch_frames(ae::glitch_kind::device_lost) == 0);
    // The first longer cycles come before the buffer has grown (the control side learns of the
    // change from them): they may find less than a cycle queued — at most a cycle's shortfall each.
    CHECK(rec.glitch_frames(ae::glitch_kind::underrun) <= 2 * 1024);
}

TEST_CASE("jack via the control API: auto found only null - the default JACK server starts and follow_default endpoints move to it - it stops and they come back to null") {
    const std::string empty = "/tmp/openae-no-pw-follow-" + std::to_string(::getpid());
    std::filesystem::create_directories(empty);
    ::setenv("PIPEWIRE_RUNTIME_DIR", empty.c_str(), 1);
    ::unsetenv("OPENAE_DEFAULT_DEVICE");
    // The name the server will have (jack_server's), the default one from before the context.
    const std::string name = "openae-jack-follow";
    ::setenv("JACK_DEFAULT_SERVER", name.c_str(), 1);
    ::setenv("JACK_NO_START_SERVER", "1", 1);
    ae::test::auto_follow_rig rig;
    // No PipeWire, no JACK, no sound card here: auto chose null.
    REQUIRE(rig.ctx.default_device() == "null");
    CHECK(rig.ep->device() == "null");
    const std::string jack_spec = "jack?server=" + name + "&connect=auto";
    {
        ae::test::jack_server server("jack-follow");
        REQUIRE(server.name == name);
        REQUIRE(rig.follows_to(jack_spec));
        CHECK(rig.ctx.default_device() == jack_spec);
        CHECK(rig.woken_passes(20) == 20); // JACK's callback consumes it
        CHECK(rig.rec.of(ae::event_kind::device_lost).empty());
    }
    // Stopped: lost, and rerouted to the default, null again.
    CHECK(rig.follows_to("null"));
    CHECK(rig.ctx.default_device() == "null");
    const std::uint64_t written_on_null = rig.written;
    for (int passes = 0; passes < 10; ++passes) (void)rig.pass();
    CHECK(rig.written > written_on_null);
    MESSAGE("stages ", rig.rec.stages());
    ::setenv("OPENAE_DEFAULT_DEVICE", "null", 1);
    ::unsetenv("JACK_DEFAULT_SERVER");
    std::filesystem::remove_all(empty);
}

TEST_CASE("jack via the control API: the server's sample rate changes live (48 -> 44.1 kHz, jackdbus): the endpoint moves to the device at its new rate and plays on") {
    ae::test::jack_dbus_server server("jack-rate", 48000, 256);
    ae::test::jack_peer recorder(server.name, "rec", true, 12 * 48000);
    jack_scene scene("jack:ae_rate?server=" + server.name + "&ports=rec:in_1,rec:in_2"); // follow_default, and yet it stays: the device was not lost
    auto& rec = scene.rec;
    auto& wake = scene.wake;
    auto& ctx = scene.ctx;
    auto& config = scene.config;
    auto& ep = scene.ep;
    // A 1 kHz sine of amplitude 0.25 at the endpoint's 48 kHz, the same before and after.
    std::uint64_t written = 0;
    auto pass = [&] {
        (void)ae::test::render_pass(ep->rt(), written, ~std::uint64_t{0}, [](std::uint64_t n, float* f) {
            f[0] = f[1] = static_cast<float>(0.25 * std::sin(2 * std::numbers::pi * 1000.0 * static_cast<double>(n) / 48000.0));
        });
        return wake.wait(100);
    };
    auto device_rate = [&] {
        const auto devices = ctx.devices();
        return devices.size() == 1 ? devices[0].format.sample_rate : 0u;
    };
    int woken = 0;
    for (int passes = 0; passes < 200 && woken < 40; ++passes) woken += pass() ? 1 : 0;
    REQUIRE(woken == 40);
    REQUIRE(device_rate() == 48000);
    const std::size_t recorded_at_48k = recorder.count();
    const pid_t switcher = server.set_rate(44100); // the engine goes on meanwhile
    REQUIRE(switcher > 0);
    int after = 0;
    for (int passes = 0; passes < 600 && after < 100; ++passes) {
        const bool was = pass();
        if (device_rate() == 44100 && rec.stages().ends_with("routed") && was) ++after;
    }
    CHECK(ae::test::wait_exit(switcher) == 0);
    REQUIRE(after == 100);
    const std::size_t recorded = recorder.count();

    // Not a loss: the same device, opened again at its new rate, whatever the routing policy.
    CHECK(ep->device() == config.device);
    CHECK(rec.stages() == "reopening:1 switching routed");
    CHECK(rec.of(ae::event_kind::device_lost).empty());
    const auto devices = ctx.devices();
    REQUIRE(devices.size() == 1);
    CHECK(devices[0].format.sample_rate == 44100);
    CHECK_FALSE(devices[0].lost);
    // What the endpoint's frames take to be heard is told again (the device's periods are longer in time).
    CHECK_FALSE(rec.of(ae::event_kind::latency_changed).empty());
    // While the device opened again the endpoint's frames were held, not drained (for up to 0.5 s:
    // past that they would be drained and counted): none lost, none short.
    const auto stage_events = rec.of(ae::event_kind::route_stage);
    const auto rerouted = rec.of(ae::event_kind::rerouted);
    REQUIRE_FALSE(stage_events.empty());
    REQUIRE(rerouted.size() == 1);
    const double reopen_ms = static_cast<double>((rerouted[0].time - stage_events[0].time).count()) / 1e4;
    const std::uint64_t lost_frames = rec.glitch_frames(ae::glitch_kind::device_lost);
    if (reopen_ms < 450) {
        CHECK(lost_frames == 0);
        CHECK(rec.glitch_frames(ae::glitch_kind::underrun) == 0);
    } else {
        CHECK(lost_frames > 0); // a slow open: the hold ran out and what was drained is counted
    }

    // The recording: the sine at 48 kHz before, at 44.1 kHz after — the same 1 kHz, amplitude and purity.
    auto figures = [&](std::size_t begin, std::size_t end, double rate) {
        const auto f = ae::test::fit(recorder.frames(), 2, begin, end, 2 * std::numbers::pi * 1000.0 / rate);
        return std::pair{f.amplitude, 20 * std::log10(f.amplitude / std::sqrt(2.0) / std::max(f.residual_rms, 1e-12))};
    };
    const auto [amplitude_48k, snr_48k] = figures(recorded_at_48k - 4800, recorded_at_48k, 48000);
    const auto [amplitude_44k, snr_44k] = figures(recorded - 11025, recorded, 44100);
    MESSAGE("48 kHz: amplitude ", amplitude_48k, ", SNR ", snr_48k, " dB; 44.1 kHz: amplitude ", amplitude_44k, ", SNR ", snr_44k,
            " dB; opened again in ", reopen_ms, " ms; device_lost frames ", lost_frames, "; recorder missed ", recorder.missed(), " frames");
    CHECK(std::abs(amplitude_48k - 0.25) < 0.0025);
    CHECK(std::abs(amplitude_44k - 0.25) < 0.0025);
    CHECK(snr_48k > 70);
    CHECK(snr_44k > 70);
}
