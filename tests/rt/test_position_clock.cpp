#include <openae/rt/position_clock.h>

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

TEST_CASE("ae::position_clock") {
    SUBCASE("nothing to read before the first publish") {
        ae::position_clock clock;
        ae::clock_snapshot out;
        out.device_position = 42;
        CHECK_FALSE(clock.try_read(out));
        CHECK(out.device_position == 42);
    }
    SUBCASE("a published snapshot reads back whole") {
        ae::position_clock clock;
        ae::clock_snapshot in{123456789, ae::hns{987654321}, ae::hns{55}, 48000.25, 3, 1};
        clock.publish(in);
        ae::clock_snapshot out;
        REQUIRE(clock.try_read(out));
        CHECK(out.device_position == in.device_position);
        CHECK(out.time == in.time);
        CHECK(out.time_error == in.time_error);
        CHECK(out.frames_per_second == in.frames_per_second);
        CHECK(out.gap_count == 3);
        CHECK(out.uncertain == 1);
    }
    SUBCASE("observe runs the rate estimator and settles") {
        ae::position_clock clock;
        clock.restart({.nominal_rate = 48000});
        ae::clock_snapshot out;
        for (int period = 0; period <= 100; ++period) {
            clock.observe(static_cast<std::uint64_t>(period) * 480, ae::hns{1'000'000'000 + period * 100'000}, 0);
            REQUIRE(clock.try_read(out));
            if (period == 1) CHECK(out.uncertain == 1);
        }
        CHECK(out.uncertain == 0);
        CHECK(out.frames_per_second == doctest::Approx(48000.0).epsilon(1e-6));
        CHECK(out.time == ae::hns{1'000'000'000 + 100 * 100'000});
        // A device that knows its time only within some error (a network path's jitter) adds it.
        const ae::hns settled_error = out.time_error;
        clock.observe(101 * 480, ae::hns{1'000'000'000 + 101 * 100'000}, 0, ae::hns{15'000});
        REQUIRE(clock.try_read(out));
        CHECK(out.time_error >= ae::hns{15'000});
        CHECK(out.time_error <= settled_error + ae::hns{15'000} + ae::hns{1'000});
    }
    SUBCASE("two threads: a reader never sees a torn snapshot") {
        ae::position_clock clock;
        constexpr std::uint64_t publishes = 1'000'000;
        std::atomic<bool> done{false};
        std::thread writer([&] {
            for (std::uint64_t i = 1; i <= publishes; ++i) {
                clock.publish(ae::clock_snapshot{i, ae::hns{static_cast<std::int64_t>(i * 3)},
                                                 ae::hns{static_cast<std::int64_t>(i * 7)}, static_cast<double>(i),
                                                 static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i & 1)});
            }
            done.store(true, std::memory_order_release);
        });
        std::uint64_t torn = 0;
        std::uint64_t reads = 0;
        std::uint64_t last = 0;
        std::uint64_t backwards = 0;
        while (!done.load(std::memory_order_acquire)) {
            ae::clock_snapshot s;
            if (!clock.try_read(s)) continue;
            ++reads;
            const std::uint64_t i = s.device_position;
            if (s.time.count() != static_cast<std::int64_t>(i * 3) || s.time_error.count() != static_cast<std::int64_t>(i * 7) ||
                s.frames_per_second != static_cast<double>(i) || s.gap_count != static_cast<std::uint32_t>(i) ||
                s.uncertain != (i & 1)) {
                ++torn;
            }
            if (i < last) ++backwards;
            last = i;
        }
        writer.join();
        CHECK(reads > 0);
        CHECK(torn == 0);
        CHECK(backwards == 0);
    }
}
