// An RTP device through the control plane: its SRTP key reaches the device and never the logs.
#include <openae/control/context.h>

#include "test_engine.h"
#include "udp_ports.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <mutex>
#include <vector>
#include <string>

TEST_CASE("rtp through a context: an endpoint on an SRTP sender logs its device with the key redacted") {
    const std::string key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo1Njc4";
    const std::string log_path = "/tmp/openae-rtp-keys-" + std::to_string(::getpid()) + ".jsonl";
    std::remove(log_path.c_str());
    {
        ae::context_options options;
        options.log_file = log_path;
        options.log_level = "debug";
        ae::test::event_fd wake;
        ae::context ctx(options);
        ae::endpoint_config config;
        config.name = "secure";
        config.device = "rtp:127.0.0.1:" + std::to_string(ae::test::free_port_pair()) + "?srtp=AES_CM_128_HMAC_SHA1_80&key=" + key;
        config.period = ae::hns{100'000};
        auto ep = ctx.create_render_endpoint(config);
        REQUIRE(ep);
        REQUIRE_FALSE(ep->set_event_handle(wake.get()));
        REQUIRE_FALSE(ep->start());
        std::uint64_t written = 0;
        for (int passes = 0; passes < 10; ++passes) {
            (void)ae::test::render_pass(ep->rt(), written, ~std::uint64_t{0}, [](std::uint64_t, float* f) { f[0] = f[1] = 0.1f; });
            (void)wake.wait(100);
        }
        CHECK(written > 0);
        REQUIRE_FALSE(ep->stop());
        // A second endpoint whose key is malformed: refused, and the refusal is logged without it.
        config.name = "broken";
        config.device = "rtp:127.0.0.1:40012?srtp=AES_CM_128_HMAC_SHA1_80&key=" + key.substr(2); // refused before it binds
        CHECK_FALSE(ctx.create_render_endpoint(config));
    }
    std::ifstream in(log_path);
    std::string line;
    std::size_t lines = 0, redacted = 0, leaked = 0;
    while (std::getline(in, line)) {
        ++lines;
        redacted += line.find("key=<redacted>") != std::string::npos;
        leaked += line.find(key.substr(2)) != std::string::npos;
    }
    MESSAGE(lines, " log lines, ", redacted, " with the key redacted");
    CHECK(lines > 0);
    CHECK(redacted > 0);
    CHECK(leaked == 0);
    std::remove(log_path.c_str());
}

TEST_CASE("rtp through a context: the sender's latency follows the RTCP round trip - a latency_changed event says so") {
    ae::test::event_fd wake_in, wake_out; // outlive the context: its device threads signal them
    ae::context ctx;
    std::mutex mutex;
    std::vector<ae::hns> latencies; // of latency_changed on "sender"
    ctx.subscribe([&](const ae::event& e) {
        if (e.kind != ae::event_kind::latency_changed || e.endpoint != "sender") return;
        const std::lock_guard lock(mutex);
        latencies.push_back(e.latency);
    });
    ae::endpoint_config in_config;
    in_config.name = "receiver";
    const std::string where = "rtp:127.0.0.1:" + std::to_string(ae::test::free_port_pair()) + "?rtcp_ms=50";
    in_config.device = where;
    in_config.period = ae::hns{50'000};
    auto in = ctx.create_capture_endpoint(in_config);
    REQUIRE(in);
    ae::endpoint_config out_config;
    out_config.name = "sender";
    out_config.device = where;
    out_config.period = ae::hns{50'000};
    auto out = ctx.create_render_endpoint(out_config);
    REQUIRE(out);
    const ae::hns before = out->latency();
    REQUIRE_FALSE(in->set_event_handle(wake_in.get()));
    REQUIRE_FALSE(out->set_event_handle(wake_out.get()));
    REQUIRE_FALSE(in->start());
    REQUIRE_FALSE(out->start());
    std::uint64_t written = 0, read = 0;
    auto have_event = [&] {
        const std::lock_guard lock(mutex);
        return !latencies.empty();
    };
    int passes = 0;
    for (; passes < 400 && !have_event(); ++passes) {
        (void)ae::test::render_pass(out->rt(), written, ~std::uint64_t{0}, [](std::uint64_t, float* f) { f[0] = f[1] = 0.1f; });
        (void)wake_out.wait(100);
        ae::test::capture_pass(in->rt(), read, [](std::uint64_t, const float*) {});
    }
    REQUIRE(have_event());
    const std::lock_guard lock(mutex);
    MESSAGE("latency before the first receiver report ", before.count() / 1e4, " ms, after ", latencies.front().count() / 1e4, " ms");
    CHECK(latencies.front() != before);
    CHECK(latencies.front() == out->latency());
    CHECK(read > 0);
}
