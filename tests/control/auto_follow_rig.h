// `auto` following a sound server that starts and stops after the context (test_jack_routing.cpp,
// test_pipewire_routing.cpp): a context on `auto` that watches devices, and one follow_default
// render endpoint that the test's engine keeps full of a constant. The environment (which servers
// `auto` can find) is the test's to set before making the rig.
#pragma once

#include "stepped_rig.h" // event_recorder
#include "test_engine.h"

#include <openae/control/context.h>

#include <doctest/doctest.h>

#include <optional>
#include <string>

namespace ae::test {

struct auto_follow_rig {
    event_recorder rec;
    event_fd wake;
    context ctx{options()};
    std::optional<render_endpoint> ep;
    std::uint64_t written = 0;

    auto_follow_rig() {
        ctx.subscribe(std::ref(rec));
        endpoint_config config;
        config.name = "follows";
        config.period = hns{100'000};
        config.routing = routing_policy::follow_default;
        auto made = ctx.create_render_endpoint(config);
        REQUIRE(made);
        ep.emplace(std::move(*made));
        REQUIRE_FALSE(ep->set_event_handle(wake.get()));
        REQUIRE_FALSE(ep->start());
    }

    // One engine pass, then its wait for the next period (bounded): true when the device woke it.
    bool pass() {
        (void)render_pass(ep->rt(), written, ~std::uint64_t{0}, [](std::uint64_t, float* f) { f[0] = f[1] = 0.25f; });
        return wake.wait(100);
    }
    // Passes until the endpoint is on `device` (the watch looks every 500 ms): at most 500.
    bool follows_to(const std::string& device) {
        for (int passes = 0; passes < 500 && ep->device() != device; ++passes) (void)pass();
        return ep->device() == device;
    }
    // Of up to 200 passes, those the device woke, up to `wanted`.
    int woken_passes(int wanted) {
        int woken = 0;
        for (int passes = 0; passes < 200 && woken < wanted; ++passes) woken += pass() ? 1 : 0;
        return woken;
    }

private:
    static context_options options() {
        context_options o;
        o.default_device = "auto";
        o.watch_devices = true;
        o.log_level = "warn";
        return o;
    }
};

} // namespace ae::test
