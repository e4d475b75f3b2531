// A render endpoint on a JACK device through the control API; jackd killed under it: the endpoint
// is rerouted by its policy (follow_default → the context's default, null) and plays on.
#include <openae/control/context.h>

#include "jack_server.h"
#include "stepped_rig.h"
#include "test_engine.h"

#include <doctest/doctest.h>

#include <string>

TEST_CASE("jack via the control API: jackd killed, the endpoint follows the default device and plays on") {
    ae::test::jack_server server("jack-route");
    ae::test::event_recorder rec;
    ae::test::event_fd wake; // outlives the context: its device threads signal it
    ae::context_options options;
    options.default_device = "null";
    ae::context ctx(options);
    ctx.subscribe(std::ref(rec));
    ae::endpoint_config config;
    config.name = "on-jack";
    config.device = "jack:ae_route?server=" + server.name;
    config.period = ae::hns{100'000}; // 10 ms packets
    config.routing = ae::routing_policy::follow_default;
    auto ep = ctx.create_render_endpoint(config);
    REQUIRE(ep);
    REQUIRE_FALSE(ep->set_event_handle(wake.get()));
    REQUIRE_FALSE(ep->start());
    CHECK(ep->device() == config.device);

    std::uint64_t written = 0;
    auto pass = [&] {
        (void)ae::test::render_pass(ep->rt(), written, ~std::uint64_t{0}, [](std::uint64_t, float* f) { f[0] = f[1] = 0.25f; });
        return wake.wait(100);
    };
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
