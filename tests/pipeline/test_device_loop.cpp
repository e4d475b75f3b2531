// The device loop driven one step at a time by a thread that is not openae's: what a JACK process
// callback or a PipeWire process event does. The test owns time — each step's position and
// instant — so every count below is exact.
#include <openae/openae.hpp>
#include <openae/pipeline/device_thread.h>

#include "rt_guard.h"
#include "test_engine.h"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

using namespace ae::pipeline;
using ae::endpoint_direction;

namespace {

constexpr std::uint32_t period = 256;
constexpr double rate = 48000;

ae::hns instant_of(std::uint64_t frames) { return ae::hns{static_cast<std::int64_t>(static_cast<double>(frames) * 1e7 / rate)}; }

// A render device whose periods come from outside (the callback's buffer): play() keeps what it
// is given; it has no wait point of its own.
class stepped_sink final : public device {
public:
    explicit stepped_sink(std::size_t capacity_frames)
        : device("stepped", endpoint_direction::render, {48000, 2, ae::sample_type::f32}, period, true) {
        played.reserve(capacity_frames * 2);
    }
    device_status wait_period() noexcept override { return device_status::ok; } // never called here
    device_status play(const std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: wait-free (reserved)
        const auto* samples = reinterpret_cast<const float*>(data);
        if (played.size() + std::size_t{frames} * 2 <= played.capacity()) played.insert(played.end(), samples, samples + std::size_t{frames} * 2);
        return gone ? device_status::lost : device_status::ok;
    }
    device_timing timing() const noexcept override { return {}; }

    std::vector<float> played;
    bool gone = false;
};

float marker(std::uint64_t n) { return static_cast<float>(n % 4096) / 4096.0f; }

} // namespace

TEST_CASE("device loop: a backend's own thread drives it step by step — every frame in order, positions exact, nothing allocated") {
    constexpr std::uint64_t periods = 200;
    auto sink = std::make_unique<stepped_sink>(periods * period);
    stepped_sink& device = *sink;
    auto driven = driven_device::create(std::move(sink), {.realtime_priority = 0});
    REQUIRE(driven);
    device_loop& loop = (*driven)->loop();
    device_control& control = (*driven)->control();

    ae::render_endpoint_core endpoint{7};
    REQUIRE_FALSE(endpoint.set_buffer({48000, 2, ae::sample_type::f32}, period, 4 * period));
    REQUIRE(control.attach(endpoint));
    REQUIRE_FALSE(endpoint.start());

    ae::test::rt_guard guard;
    std::uint64_t written = 0;
    bool passes_ok = true;
    std::vector<ae::position> positions(periods);
    // The callback's thread: the engine's pass and the device loop's step, as in a JACK client
    // whose engine renders inside the process callback.
    std::thread callback([&] {
        auto armed = guard.arm();
        ae::render_endpoint_rt& rt = endpoint.rt();
        for (std::uint64_t k = 0; k < periods; ++k) {
            passes_ok = ae::test::render_pass(rt, written, periods * period, [](std::uint64_t n, float* frame) {
                            frame[0] = marker(n);
                            frame[1] = -marker(n);
                        }) && passes_ok;
            const device_timing timing{k * period, instant_of(k * period)};
            if (loop.step({device_status::ok, timing}) != device_loop::step_result::go_on) break;
            (void)rt.current_padding(&positions[k]);
        }
    });
    callback.join();
    CHECK(passes_ok);
    const std::string first = guard.first_violation();
    CAPTURE(first);
    CHECK(guard.violations() == 0);
    CHECK(loop.frames_processed() == periods * period);
    CHECK(loop.periods() == periods);
    CHECK(control.commands_applied() == control.commands_sent());

    // The device got the engine's frames from the first one, in order, none twice.
    REQUIRE(device.played.size() == periods * period * 2);
    std::uint64_t wrong = 0;
    for (std::uint64_t n = 0; n < periods * period; ++n) {
        wrong += device.played[2 * n] != marker(n) || device.played[2 * n + 1] != -marker(n);
    }
    CHECK(wrong == 0);
    // Each position record is the step's: device position and instant exactly as handed over.
    for (std::uint64_t k = 1; k < periods; ++k) {
        CAPTURE(k);
        REQUIRE(positions[k].flags != ae::position_flags::invalid);
        CHECK(positions[k].device_position == k * period);
        CHECK(positions[k].time == instant_of(k * period));
    }
    std::size_t glitches = 0;
    endpoint.drain_glitches([&](const ae::glitch_record&) { ++glitches; });
    CHECK(glitches == 0);
    (void)control.detach(endpoint.id());
}

TEST_CASE("device loop: a step that finds the device gone goes on without it — every later frame counted device_lost") {
    auto sink = std::make_unique<stepped_sink>(64 * period);
    stepped_sink& device = *sink;
    auto driven = driven_device::create(std::move(sink), {.realtime_priority = 0});
    REQUIRE(driven);
    device_loop& loop = (*driven)->loop();
    device_control& control = (*driven)->control();
    ae::render_endpoint_core endpoint{3};
    REQUIRE_FALSE(endpoint.set_buffer({48000, 2, ae::sample_type::f32}, period, 4 * period));
    REQUIRE(control.attach(endpoint));
    REQUIRE_FALSE(endpoint.start());

    std::uint64_t written = 0;
    constexpr std::uint64_t played_periods = 10, lost_periods = 30;
    for (std::uint64_t k = 0; k < played_periods + lost_periods; ++k) {
        (void)ae::test::render_pass(endpoint.rt(), written, ~std::uint64_t{0}, [](std::uint64_t n, float* frame) { frame[0] = frame[1] = marker(n); });
        if (k == played_periods) device.gone = true; // this period's play() fails
        REQUIRE(loop.step({device_status::ok, {k * period, instant_of(k * period)}}) == device_loop::step_result::go_on);
    }
    CHECK(loop.lost());
    device_event event;
    bool lost_event = false;
    while (control.try_pop_event(event)) lost_event |= event.kind == device_event_kind::lost;
    CHECK(lost_event);
    // Played: the periods before the loss. Every frame after it (the failed period's and those
    // drained since) is in a device_lost record once the chain leaves.
    CHECK(device.played.size() == (played_periods + 1) * period * 2);
    (void)control.detach(endpoint.id());
    REQUIRE(loop.step({device_status::ok, {}}) == device_loop::step_result::go_on); // applies the detach
    std::uint64_t lost_frames = 0;
    endpoint.drain_glitches([&](const ae::glitch_record& r) {
        if (r.kind == ae::glitch_kind::device_lost) lost_frames += r.frames;
    });
    CHECK(lost_frames == lost_periods * period);
    CHECK(control.collect_retired() == 1);
}
