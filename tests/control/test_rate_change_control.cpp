// Rate changes seen from the control side: a capture endpoint through two changes, and the new
// chain built off ae-ctl (which answers meanwhile; a second change is busy; a destroy wins), the
// same for set_buffer. (The audio through the seams is checked in test_rate_change.cpp.)
#include <openae/control/context.h>

#include "test_engine.h"

#include <asio/use_future.hpp>

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

TEST_CASE("rate change: a capture endpoint 48k -> 32k -> 48k keeps delivering, epochs +1, positions monotonic") {
    ae::test::rt_guard device_guard;
    ae::context_options options;
    options.log_level = "off";
    options.device_hooks = ae::test::armed_hooks(device_guard);
    ae::test::event_fd wake; // outlives the context: its device threads signal it
    ae::context ctx(options);
    ae::endpoint_config config;
    config.name = "mic";
    config.device = "null?period=5";
    config.routing = ae::routing_policy::pinned;
    auto ep = ctx.create_capture_endpoint(config);
    REQUIRE(ep);
    // 20 packets of 5 ms buffered: this thread (the engine) may be late by tens of milliseconds
    // on a loaded machine without the paced device overrunning the ring.
    REQUIRE_FALSE(ep->set_buffer(ae::hns{50'000}, 20));
    REQUIRE_FALSE(ep->set_event_handle(wake.get()));
    REQUIRE_FALSE(ep->start());
    std::uint64_t frames_at[4] = {};
    std::uint32_t last_epoch = 0;
    std::uint64_t last_stream = 0;
    int epoch_steps = 0, backwards = 0, errors = 0;
    auto read_for = [&](int passes, std::uint32_t epoch_index) {
        for (int pass = 0; pass < passes; ++pass) {
            ae::capture_endpoint_rt& rt = ep->rt();
            for (int packets = 0; packets < 16; ++packets) {
                ae::position pos;
                const std::uint64_t ready = rt.current_padding(&pos);
                if (pos.flags != ae::position_flags::invalid) {
                    if (last_epoch != 0 && pos.epoch != last_epoch) epoch_steps += pos.epoch == last_epoch + 1 ? 1 : 100;
                    last_epoch = pos.epoch;
                }
                if (ready == 0) break;
                ae::connection_property p{nullptr, static_cast<std::uint32_t>(std::min<std::uint64_t>(ready, rt.frames_per_packet())),
                                          ae::buffer_flags::invalid};
                ae::position stamp;
                if (rt.input_data_pointer(p, &stamp) != ae::errc{}) {
                    ++errors;
                    break;
                }
                if (stamp.stream_position < last_stream) ++backwards;
                last_stream = stamp.stream_position;
                rt.release_input_data_pointer(p.valid_frames, p.buffer);
                frames_at[epoch_index] += p.valid_frames;
            }
            rt.processing_complete();
            (void)wake.wait(50);
        }
    };
    // The engine never waits for a control call: it goes on reading while the change (its chain
    // built on a helper thread) completes.
    auto change_to = [&](const ae::frame_format& format, std::uint32_t reading_epoch_index) {
        auto done = ep->async_set_format(format, asio::use_future);
        while (done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) read_for(1, reading_epoch_index);
        try {
            done.get(); // use_future turns an error code into an exception
        } catch (const std::system_error& e) {
            return e.code();
        }
        return std::error_code{};
    };
    read_for(60, 0);
    REQUIRE_FALSE(change_to({32'000, 2, ae::sample_type::f32}, 0));
    read_for(60, 1);
    REQUIRE_FALSE(change_to({48'000, 2, ae::sample_type::f32}, 1));
    read_for(60, 2);
    auto stats = ep->stats();
    REQUIRE(stats);
    MESSAGE("capture 48k/32k/48k: frames ", frames_at[0], " / ", frames_at[1], " / ", frames_at[2], "; dropped ",
            stats->glitch_count[static_cast<int>(ae::glitch_kind::dropped)], " records, ",
            stats->glitch_frames[static_cast<int>(ae::glitch_kind::dropped)], " frames; overruns ",
            stats->glitch_count[static_cast<int>(ae::glitch_kind::overrun)]);
    CHECK(errors == 0);
    CHECK(backwards == 0);
    CHECK(epoch_steps == 2);
    CHECK(ep->epoch() == 3);
    // Each 60 passes (~0.3 s) delivered at the rate then live: none stalled at a seam.
    CHECK(frames_at[1] > 32'000 / 5);
    CHECK(frames_at[2] > 48'000 / 5);
    CHECK(stats->glitch_count[static_cast<int>(ae::glitch_kind::overrun)] == 0);
    // What the 32 kHz resampler still held at the second seam (its filter delay) went into the
    // 32 kHz ring before the 48 kHz one took over: nothing dropped.
    CHECK(stats->glitch_count[static_cast<int>(ae::glitch_kind::dropped)] == 0);
    CHECK(device_guard.violations() == 0);
}

TEST_CASE("rate change: the new chain is built off ae-ctl, which answers meanwhile, a second change is busy, a destroy wins") {
    // The helper that builds the chain is held until the test lets it go: explicit
    // synchronisation, no timing.
    std::promise<void> entered;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<int> builds{0};
    std::atomic<bool> armed{false}; // creation builds a chain too: held only once the test is ready
    std::atomic<int> creation_builds{0};
    ae::context_options options;
    options.log_level = "off";
    options.helper_started = [&](const char* helper) {
        if (std::string(helper) != "ae-build") return;
        if (!armed.load()) {
            ++creation_builds;
            return;
        }
        if (builds.fetch_add(1) == 0) entered.set_value();
        released.wait();
    };
    ae::context ctx(options);
    ae::endpoint_config config;
    config.name = "held";
    config.device = "null?period=5";
    config.period = ae::hns{100'000};
    auto ep = ctx.create_render_endpoint(config);
    REQUIRE(ep);
    REQUIRE_FALSE(ep->start());
    const std::uint32_t epoch_before = ep->epoch();

    CHECK(creation_builds.load() == 1); // the endpoint's first chain was built off ae-ctl too
    armed = true;
    std::error_code first = ae::make_error_code(ae::errc::bad_argument);
    std::thread changer([&] { first = ep->set_format({44'100, 2, ae::sample_type::f32}); });
    entered.get_future().wait(); // the build has begun and is held
    // ae-ctl is free: round trips complete while the build waits.
    CHECK(ep->set_period(ae::hns{100'000}) == std::error_code{});
    CHECK(ctx.devices().size() == 1);
    CHECK(ep->epoch() == epoch_before + 1); // the period change went through the barrier meanwhile
    CHECK(ep->set_format({96'000, 2, ae::sample_type::f32}) == ae::errc::busy);
    CHECK(ep->frame_format().sample_rate == 48'000); // nothing applied before the chain is ready
    release.set_value();
    changer.join();
    CHECK_FALSE(first);
    CHECK(ep->frame_format().sample_rate == 44'100);
    CHECK(ep->epoch() == epoch_before + 2);
    CHECK(builds.load() == 1);

    // A destroy while a build is held: the change completes with unknown_endpoint, nothing leaks
    // (ASan) and nothing touches the freed endpoint.
    std::promise<void> entered2;
    std::promise<void> release2;
    std::shared_future<void> released2 = release2.get_future().share();
    std::atomic<bool> armed2{false};
    ae::context_options options2 = options;
    options2.helper_started = [&](const char* helper) {
        if (std::string(helper) != "ae-build" || !armed2.load()) return;
        entered2.set_value();
        released2.wait();
    };
    ae::context ctx2(options2);
    auto doomed = ctx2.create_render_endpoint(config);
    REQUIRE(doomed);
    armed2 = true;
    std::error_code second;
    std::thread changer2([&] { second = doomed->set_format({32'000, 1, ae::sample_type::s16}); });
    entered2.get_future().wait();
    REQUIRE_FALSE(ctx2.destroy("held"));
    release2.set_value();
    changer2.join();
    CHECK(second == ae::errc::unknown_endpoint);
}

TEST_CASE("set_buffer: a resampled endpoint's chain is built off ae-ctl, which answers meanwhile, a second call is busy") {
    std::promise<void> entered;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<int> builds{0};
    ae::context_options options;
    options.log_level = "off";
    options.helper_started = [&](const char* helper) {
        if (std::string(helper) != "ae-build") return;
        if (builds.fetch_add(1) == 0) entered.set_value();
        released.wait();
    };
    ae::context ctx(options);
    ae::endpoint_config config;
    config.name = "late";
    config.device = "null?period=5";
    config.format = {44'100, 2, ae::sample_type::f32}; // on a 48 kHz device: a resampler to prime
    auto ep = ctx.create_render_endpoint(config);        // no period: no buffer, no chain yet
    REQUIRE(ep);
    CHECK(builds.load() == 0);
    std::error_code first = ae::make_error_code(ae::errc::bad_argument);
    std::thread initialiser([&] { first = ep->set_buffer(ae::hns{100'000}, 2); });
    entered.get_future().wait();
    CHECK(ctx.devices().size() == 1); // ae-ctl answers while the chain is built
    CHECK(ep->set_buffer(ae::hns{100'000}, 2) == ae::errc::busy);
    CHECK(ep->state() == ae::endpoint_state::created);
    release.set_value();
    initialiser.join();
    CHECK_FALSE(first);
    CHECK(ep->state() == ae::endpoint_state::stopped);
    CHECK(ep->set_buffer(ae::hns{100'000}, 2) == ae::errc::already_initialized);
    CHECK(builds.load() == 1);
    CHECK_FALSE(ep->start());
}
