// A control-plane test driven by one thread: an ae::virtual_time, a stepped context (its devices'
// periods, its control work and its timers run only when the test says), the test's engine passes.
// Every count a test asserts on this rig is exact: nothing depends on how fast a thread starts.
#pragma once

#include <openae/control/context.h>
#include <openae/rt/virtual_time.h>

#include "test_engine.h"

#include <doctest/doctest.h>

#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ae::test {

// Every event a context published, in order. Locked: threaded tests share it with ae-ctl.
struct event_recorder {
    std::mutex mutex;
    std::vector<ae::event> events;
    void operator()(const ae::event& e) {
        const std::lock_guard lock(mutex);
        events.push_back(e);
    }
    [[nodiscard]] std::vector<ae::event> of(ae::event_kind kind) {
        const std::lock_guard lock(mutex);
        std::vector<ae::event> out;
        for (const auto& e : events) {
            if (e.kind == kind) out.push_back(e);
        }
        return out;
    }
    // The route stages entered, in order: "lost reopening:1 switching rerouted".
    [[nodiscard]] std::string stages() {
        std::string out;
        for (const auto& e : of(ae::event_kind::route_stage)) {
            if (!out.empty()) out += ' ';
            out += ae::to_string(e.stage);
            if (e.attempt != 0) out += ":" + std::to_string(e.attempt);
        }
        return out;
    }
    // Frames of one glitch kind, summed over its records.
    [[nodiscard]] std::uint64_t glitch_frames(ae::glitch_kind kind) {
        std::uint64_t frames = 0;
        for (const auto& g : of(ae::event_kind::glitch)) {
            if (g.glitch == kind) frames += g.frames;
        }
        return frames;
    }
};

class stepped_rig {
public:
    // `options` as the test wants them; the rig makes the context stepped and silent.
    explicit stepped_rig(ae::context_options options) : time(ae::hns{1'000'000'000}), ctx(stepped(std::move(options))) {
        ctx.subscribe(std::ref(events));
    }
    ~stepped_rig() { render.reset(); }
    stepped_rig(const stepped_rig&) = delete;
    stepped_rig& operator=(const stepped_rig&) = delete;

    // Creates and starts the rig's render endpoint (the control side runs inline).
    ae::render_endpoint& start_render(const ae::endpoint_config& config) {
        ctx.async_create_render_endpoint(config, [&](std::error_code ec, std::optional<ae::render_endpoint> made) {
            REQUIRE_FALSE(ec);
            render = std::move(made);
        });
        ctx.poll();
        REQUIRE(render);
        std::optional<std::error_code> started;
        render->async_start([&](std::error_code ec) { started = ec; });
        ctx.poll();
        REQUIRE(started == std::error_code{});
        return *render;
    }

    // One step: `step` of time passes, every device runs one period, the control side runs what is
    // ready, the engine makes one pass (topping the buffer up), the control side again.
    void period(ae::hns step) {
        time.advance(step);
        ctx.step_devices();
        ctx.poll();
        ae::test::render_pass(render->rt(), written, ~std::uint64_t{0}, [](std::uint64_t, float* f) { f[0] = f[1] = 0.1f; });
        ctx.poll();
    }
    // Steps until `done()` (checked before each step) or `max_steps`; returns the steps taken.
    template <typename Done>
    int periods_until(ae::hns step, Done&& done, int max_steps) {
        int steps = 0;
        for (; steps < max_steps && !done(); ++steps) period(step);
        return steps;
    }
    // Runs a blocking-style control call: `start` is handed a completion; polls until it ran.
    template <typename Start>
    std::error_code call(Start&& start) {
        std::optional<std::error_code> result;
        start([&](std::error_code ec) { result = ec; });
        for (int i = 0; i < 8 && !result; ++i) ctx.poll();
        REQUIRE(result);
        return *result;
    }

    ae::virtual_time time;
    event_recorder events; // outlives ctx: it is subscribed
    ae::context ctx;
    std::optional<ae::render_endpoint> render;
    std::uint64_t written = 0; // frames the engine wrote

private:
    static ae::context_options stepped(ae::context_options options) {
        options.stepped = true;
        options.log_level = "off";
        return options;
    }
};

} // namespace ae::test
