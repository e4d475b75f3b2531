// A sound server killed under a render endpoint on its self-driven device (JACK, PipeWire): the
// device is reported lost, openae's own thread carries the loop on on the virtual clock, the
// endpoint's frames from then on are device_lost, and the server's callback broke no RT rule.
#pragma once

#include "signal_rig.h"
#include "signal_walk.h"

#include <doctest/doctest.h>

#include <expected>
#include <memory>
#include <string>

namespace ae::test {

// `kill` ends the server once the device has played 9,600 frames.
template <typename Kill>
void check_server_death(std::expected<std::unique_ptr<pipeline::device>, pipeline::device_error> dev, Kill&& kill) {
    const std::string why = dev ? std::string{} : dev.error().message;
    CAPTURE(why);
    REQUIRE(dev);
    const std::uint32_t period = (*dev)->period_frames();
    rt_guard device_guard;
    auto thread = pipeline::device_thread::create(std::move(*dev), {.realtime_priority = 0, .hooks = armed_hooks(device_guard)});
    REQUIRE(thread);
    render_endpoint_core endpoint{1};
    REQUIRE_FALSE(endpoint.set_buffer({48000, 2, sample_type::f32}, period, 4 * period));
    event_fd wake;
    REQUIRE_FALSE(endpoint.set_event_handle(wake.get()));
    REQUIRE((*thread)->control().attach(endpoint));
    REQUIRE((*thread)->start());
    std::uint64_t written = 0;
    auto signal = [](std::uint64_t n, float* f) { f[0] = f[1] = signal::marker(n); };
    REQUIRE_FALSE(endpoint.start());
    int timeouts = 0;
    while ((*thread)->frames_processed() < 9600 && timeouts < 50) {
        (void)render_pass(endpoint.rt(), written, ~std::uint64_t{0}, signal);
        timeouts += wake.wait(100) ? 0 : 1;
    }
    REQUIRE((*thread)->frames_processed() >= 9600);
    kill();
    bool lost = false;
    std::uint64_t frames_at_loss = 0;
    for (int passes = 0; passes < 400 && !lost; ++passes) {
        (void)render_pass(endpoint.rt(), written, ~std::uint64_t{0}, signal);
        (void)wake.wait(100);
        pipeline::device_event event;
        while ((*thread)->control().try_pop_event(event)) {
            if (event.kind == pipeline::device_event_kind::lost) {
                lost = true;
                frames_at_loss = (*thread)->frames_processed();
            }
        }
    }
    REQUIRE(lost);
    // The endpoint goes on, on the lost device's virtual clock: its frames are device_lost.
    for (int passes = 0; passes < 20; ++passes) {
        (void)render_pass(endpoint.rt(), written, ~std::uint64_t{0}, signal);
        (void)wake.wait(100);
    }
    (*thread)->stop();
    CHECK((*thread)->frames_processed() > frames_at_loss);
    const glitch_totals glitches = drain(endpoint);
    MESSAGE("lost after ", frames_at_loss, " device frames; device_lost frames ", glitches.lost_frames);
    CHECK(glitches.lost_frames > 0);
    const std::string first = device_guard.first_violation();
    CAPTURE(first);
    CHECK(device_guard.violations() == 0);
}

} // namespace ae::test
