// The RDP speakers' drift control (src/pipeline/rdp_speakers_pace.h) on virtual time: a client's
// queue that the pace fills and the client's device drains, confirmed every 20 ms; and FreeRDP's
// refused blocks (a block confirmed at once, never played), which lower the level held and cap
// the pace.
#include "rdp_speakers_pace.h"

#include <doctest/doctest.h>

#include <cmath>

using ae::hns;
using ae::pipeline::rdp_speakers_pace;

namespace {

constexpr double rate = 48000;
constexpr double block_ms = 20;

// A client whose device runs `device_ppm` off openae's clock, its queue starting at `queue_ms`;
// openae sends at the pace drift control sets. Time in 20 ms steps (a confirm each).
struct simulated_client {
    rdp_speakers_pace pace{rate};
    double device_ppm;
    double queue_ms;
    double pace_ppm = 0;
    hns now{1'000'000'000};

    simulated_client(double device, double queue) : device_ppm(device), queue_ms(queue) {}

    void run(double seconds) {
        for (int step = 0; step < static_cast<int>(seconds * 1000 / block_ms); ++step) {
            now += hns{static_cast<std::int64_t>(block_ms * 1e4)};
            queue_ms += (pace_ppm - device_ppm) * 1e-6 * block_ms;
            if (!pace.warm(now)) continue;
            if (const auto p = pace.played(queue_ms, now)) pace_ppm = *p;
        }
    }
};

} // namespace

TEST_CASE("rdp speakers pace: a client whose device runs 170 ppm fast - the pace follows it and the queue holds") {
    simulated_client client(170, 240);
    client.run(300);
    MESSAGE("pace ", client.pace_ppm, " ppm; queue ", client.queue_ms, " ms, held ", client.pace.target_ms(), " ms");
    CHECK(std::abs(client.pace_ppm - 170) < 10);
    CHECK(std::abs(client.queue_ms - client.pace.target_ms()) < 0.5);
    CHECK(std::abs(client.queue_ms - 240) < 1.5); // the level it settled at
}

TEST_CASE("rdp speakers pace: a refused block - the level held comes down by the block and the pace stays below the refused one - coming back up at 2 ppm a second") {
    simulated_client client(170, 240);
    client.run(300);
    const double held_before = client.pace.target_ms();
    const double refused_at = client.pace_ppm;
    // The client dropped a block: its queue lost it.
    client.pace.refused(block_ms * rate / 1000);
    client.queue_ms -= block_ms;
    CHECK(client.pace.target_ms() == doctest::Approx(held_before - block_ms));
    double highest_10s = -1e9, lowest_10s = 1e9;
    for (int s = 0; s < 10; ++s) {
        client.run(1);
        highest_10s = std::max(highest_10s, client.pace_ppm);
        lowest_10s = std::min(lowest_10s, client.pace_ppm);
    }
    MESSAGE("refused at ", refused_at, " ppm; the pace over the next 10 s ", lowest_10s, " to ", highest_10s, " ppm");
    CHECK(highest_10s <= refused_at - 50 + 20 + 0.1); // 50 ppm below, 2 ppm a second back up
    CHECK(lowest_10s > refused_at - 100);             // no swing: the loss is not chased either way
    client.run(120);
    MESSAGE("after 130 s: pace ", client.pace_ppm, " ppm; queue ", client.queue_ms, " ms, held ", client.pace.target_ms());
    CHECK(std::abs(client.pace_ppm - 170) < 10);
    CHECK(std::abs(client.queue_ms - client.pace.target_ms()) < 0.5);
}

TEST_CASE("rdp speakers pace: refused blocks lower the level held to half the settled one at most") {
    simulated_client client(0, 200);
    client.run(10);
    const double settled = client.pace.target_ms();
    REQUIRE(settled > 0);
    for (int i = 0; i < 20; ++i) client.pace.refused(block_ms * rate / 1000);
    CHECK(client.pace.target_ms() >= 0.5 * settled);
    CHECK(client.pace.target_ms() < 0.5 * settled + block_ms);
}
