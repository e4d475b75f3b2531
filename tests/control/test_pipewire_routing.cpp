// `auto` and a PipeWire server that starts after the context: the context's watch finds the
// server's socket, tells of its nodes and of `pipewire` (its default sink and source), makes it the
// default device, and the follow_default endpoints move to it; when the server stops they come back
// to null.
#include "pipewire_server.h"
#include "stepped_rig.h"
#include "test_engine.h"

#include <openae/control/context.h>

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

TEST_CASE("pipewire via the control API: auto found only null - a PipeWire server starts later and follow_default endpoints move to it - it stops and they come back to null") {
    // Where the server will be (pipewire_server's directory), looked at before it exists.
    const std::string tag = "late";
    const std::string dir = "/tmp/openae-pw-" + tag + "-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    ::setenv("XDG_RUNTIME_DIR", dir.c_str(), 1);
    ::setenv("PIPEWIRE_RUNTIME_DIR", dir.c_str(), 1);
    ::unsetenv("OPENAE_DEFAULT_DEVICE");
    ::setenv("JACK_DEFAULT_SERVER", "openae-no-such-jack", 1);
    ::setenv("JACK_NO_START_SERVER", "1", 1);
    ae::test::event_recorder rec;
    ae::test::event_fd wake;
    ae::context_options options;
    options.default_device = "auto";
    options.watch_devices = true;
    options.log_level = "warn";
    ae::context ctx(options);
    ctx.subscribe(std::ref(rec));
    REQUIRE(ctx.default_device() == "null"); // no PipeWire yet, no JACK, no sound card
    ae::endpoint_config config;
    config.name = "follows";
    config.period = ae::hns{100'000};
    config.routing = ae::routing_policy::follow_default;
    auto ep = ctx.create_render_endpoint(config);
    REQUIRE(ep);
    REQUIRE_FALSE(ep->set_event_handle(wake.get()));
    REQUIRE_FALSE(ep->start());
    std::uint64_t written = 0;
    // One engine pass (a constant), then its wait for the next period (bounded).
    auto pass = [&] {
        (void)ae::test::render_pass(ep->rt(), written, ~std::uint64_t{0}, [](std::uint64_t, float* f) { f[0] = f[1] = 0.25f; });
        return wake.wait(100);
    };
    auto told = [&](ae::event_kind kind, const std::string& device) {
        for (const auto& e : rec.of(kind)) {
            if (e.device == device) return true;
        }
        return false;
    };
    {
        ae::test::pipewire_server server(tag);
        // The watch looks for the socket every 500 ms; the move follows.
        for (int passes = 0; passes < 500 && ep->device() != "pipewire"; ++passes) (void)pass();
        REQUIRE(ep->device() == "pipewire");
        CHECK(ctx.default_device() == "pipewire");
        CHECK(told(ae::event_kind::device_added, "pipewire"));
        CHECK(told(ae::event_kind::device_added, "pipewire:openae_test_sink"));
        int woken = 0;
        for (int passes = 0; passes < 200 && woken < 20; ++passes) woken += pass() ? 1 : 0;
        CHECK(woken == 20); // PipeWire's data thread consumes it
        CHECK(rec.of(ae::event_kind::device_lost).empty());
    }
    // Stopped: its devices go, and the endpoint is back on null, the default again.
    for (int passes = 0; passes < 500 && ep->device() != "null"; ++passes) (void)pass();
    CHECK(ep->device() == "null");
    CHECK(ctx.default_device() == "null");
    CHECK(told(ae::event_kind::device_removed, "pipewire"));
    CHECK(told(ae::event_kind::device_removed, "pipewire:openae_test_sink"));
    const std::uint64_t written_on_null = written;
    for (int passes = 0; passes < 10; ++passes) (void)pass();
    CHECK(written > written_on_null);
    MESSAGE("stages ", rec.stages());
    ::setenv("OPENAE_DEFAULT_DEVICE", "null", 1);
    ::unsetenv("JACK_DEFAULT_SERVER");
}
