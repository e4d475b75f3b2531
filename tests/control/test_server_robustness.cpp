// The control socket under bad and heavy use: malformed requests, 100 clients with silent and
// half-line ones among them, a watcher that stops reading — with the RT harness armed throughout.
// (Every op and error code: test_server.cpp.)
#include <openae/control/server.h>

#include <asio/post.hpp>

#include "served.h"
#include "socket_client.h"
#include "test_engine.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using nlohmann::json;
using ae::test::code_of;
using ae::test::socket_client;

using ae::test::served;

} // namespace

TEST_CASE("socket: malformed requests get bad_request naming the problem, the connection stays usable") {
    served s;
    socket_client c(s.path());
    REQUIRE(c.connected());
    struct bad_case {
        std::string line;
        std::string mentions;
    };
    const std::vector<bad_case> cases = {
        {"{not json", "invalid JSON"},
        {"[1,2]", "JSON object"},
        {R"({"id":1})", "'op'"},
        {R"({"id":1,"op":5})", "'op'"},
        {R"({"id":[1],"op":"list"})", "'id'"},
        {R"({"id":1,"op":"dance"})", "unknown op 'dance'"},
        {R"({"id":1,"op":"list","verbose":true})", "unknown field 'verbose'"},
        {R"({"id":1,"op":"status","endpoint":5})", "field 'endpoint' must be a string"},
        {R"({"id":1,"op":"start"})", "missing field 'endpoint'"},
        {R"({"id":1,"op":"create","endpoint":"a","direction":"sideways"})", "'direction'"},
        {R"({"id":1,"op":"create","endpoint":"a","direction":"render","period_ms":"10"})", "field 'period_ms' must be a number"},
        {R"({"id":1,"op":"create","endpoint":"a","direction":"render","period_ms":0})", "'period_ms' must be within"},
        {R"({"id":1,"op":"create","endpoint":"a","direction":"render","buffer_periods":0})", "'buffer_periods' must be an integer within 1..64"},
        {R"({"id":1,"op":"create","endpoint":"a","direction":"render","buffer_periods":2.5})", "'buffer_periods' must be an integer"},
        {R"({"id":1,"op":"create","endpoint":"a","direction":"render","buffer_periods":65})", "'buffer_periods' must be an integer"},
        {R"({"id":1,"op":"create","endpoint":"a","direction":"render","format":{"channels":9}})", "'channels' must be within"},
        {R"({"id":1,"op":"create","endpoint":"a","direction":"render","format":{"sample":"u8"}})", "'sample' must be one of"},
        {R"({"id":1,"op":"create","endpoint":"a","direction":"render","format":{"bits":16}})", "unknown field 'bits' in format"},
        {R"({"id":1,"op":"create","endpoint":"a","direction":"render","sink":"null"})", "'sink' is for capture"},
        {R"({"id":1,"op":"create","endpoint":"a","direction":"capture","sink":"speaker"})", "'sink'"},
        {R"({"id":1,"op":"create","endpoint":"a b","direction":"render"})", "'endpoint'"},
        {R"({"id":1,"op":"create","endpoint":"a","direction":"render","routing":"sometimes"})", "'routing'"},
        {R"({"id":1,"op":"set_period","endpoint":"a","period_ms":-1})", "'period_ms'"},
    };
    for (const auto& bad : cases) {
        CAPTURE(bad.line);
        REQUIRE(c.send_raw(bad.line + "\n"));
        auto answer = c.read_json();
        REQUIRE(answer);
        CHECK(code_of(*answer) == "bad_request");
        CHECK((*answer)["error"]["message"].get<std::string>().find(bad.mentions) != std::string::npos);
    }
    // A line of 1 MiB: answered once, never held whole; the next request is fine.
    const std::string huge = R"({"op":"list","pad":")" + std::string(1u << 20, 'x') + "\"}\n";
    REQUIRE(c.send_raw(huge));
    auto answer = c.read_json();
    REQUIRE(answer);
    CHECK(code_of(*answer) == "bad_request");
    CHECK((*answer)["error"]["message"].get<std::string>().find("line over 65536 bytes") != std::string::npos);
    // Just under the limit is a request like any other (here: an unknown field).
    const std::string big = R"({"op":"list","pad":")" + std::string(60'000, 'x') + "\"}\n";
    REQUIRE(c.send_raw(big));
    answer = c.read_json();
    REQUIRE(answer);
    CHECK((*answer)["error"]["message"].get<std::string>().find("unknown field 'pad'") != std::string::npos);
    // Several requests in one write, answered in order.
    REQUIRE(c.send_raw("{\"id\":1,\"op\":\"list\"}\n{\"id\":2,\"op\":\"list\"}\r\n\n{\"id\":3,\"op\":\"list\"}\n"));
    for (int id = 1; id <= 3; ++id) {
        answer = c.read_json();
        REQUIRE(answer);
        CHECK((*answer)["id"] == id);
        CHECK(code_of(*answer) == "ok");
    }
    // A client sending the same garbage in a loop: every line answered, the log folds them.
    for (int i = 0; i < 200; ++i) REQUIRE(c.send_raw("{not json\n"));
    for (int i = 0; i < 200; ++i) {
        answer = c.read_json();
        REQUIRE(answer);
        CHECK(code_of(*answer) == "bad_request");
    }
    const auto counters = s.server->counters();
    CHECK(counters.bad_requests == cases.size() + 2 + 200);
    s.check_rt_clean();
    // Every refusal has a log line naming its code (the context's stop writes the folded counts).
    s.server.reset();
    s.service.reset();
    s.ctx.reset();
    std::size_t refused_lines = 0, garbage_lines = 0, oversized_lines = 0;
    std::uint64_t garbage_logged = 0;
    for (const auto& line : s.log_lines()) {
        if (line.value("event", "") != "request_refused") continue;
        ++refused_lines;
        CHECK(line["level"] == "warning");
        CHECK(line["component"] == "control");
        CHECK(line["code"] == "bad_request");
        if (line["message"] == "invalid JSON") {
            ++garbage_lines;
            garbage_logged += line.value("repeated", std::uint64_t{1});
        }
        if (line["message"].get<std::string>().find("line over 65536 bytes") != std::string::npos) ++oversized_lines;
    }
    CHECK(refused_lines >= cases.size());
    CHECK(oversized_lines == 1);
    CHECK(garbage_lines <= 4);     // 200 identical refusals (and the cases' own invalid JSON): folded
    CHECK(garbage_logged >= 200); // and counted
}

TEST_CASE("socket: 100 clients at once, silent and half-line clients stall nobody") {
    served s;
    socket_client silent(s.path());
    socket_client half(s.path());
    REQUIRE(silent.connected());
    REQUIRE(half.connected());
    REQUIRE(half.send_raw(R"({"op":"li)"));
    std::vector<std::unique_ptr<socket_client>> clients;
    for (int i = 0; i < 100; ++i) {
        clients.push_back(std::make_unique<socket_client>(s.path()));
        REQUIRE(clients.back()->connected());
    }
    // All send before any reads.
    for (int i = 0; i < 100; ++i) REQUIRE(clients[static_cast<std::size_t>(i)]->send({{"id", i}, {"op", "list"}}));
    int answered = 0;
    for (int i = 0; i < 100; ++i) {
        auto answer = clients[static_cast<std::size_t>(i)]->read_json();
        REQUIRE(answer);
        CHECK((*answer)["id"] == i);
        answered += code_of(*answer) == "ok";
    }
    CHECK(answered == 100);
    CHECK(s.server->counters().connected == 102);
    // The half line completes later and is answered.
    REQUIRE(half.send_raw("st\"}\n"));
    auto answer = half.read_json();
    REQUIRE(answer);
    CHECK(code_of(*answer) == "ok");
    s.check_rt_clean();
}

TEST_CASE("socket: watch streams events, a watcher that stops reading is dropped, counted and logged") {
    ae::server_options options;
    options.max_pending_bytes = 16 * 1024;
    served s(options);
    socket_client control(s.path());
    REQUIRE(control.connected());
    REQUIRE(code_of(control.call({{"op", "create"}, {"endpoint", "ep"}, {"direction", "render"}, {"period_ms", 5}})) == "ok");

    socket_client reader(s.path());
    socket_client sleeper(s.path());
    REQUIRE(code_of(reader.call({{"op", "watch"}, {"endpoint", "ep"}})) == "ok");
    REQUIRE(code_of(sleeper.call({{"op", "watch"}})) == "ok");
    CHECK(code_of(control.call({{"op", "watch"}, {"endpoint", "nobody"}})) == "unknown_endpoint");

    // 2000 start/stop cycles: 4000 state_changed events, far more than the sleeper's socket
    // buffer and its 16 KiB allowance hold.
    constexpr int cycles = 2000;
    std::atomic<int> seen{0};
    std::thread reading([&] {
        while (seen.load() < 2 * cycles) {
            auto line = reader.read_json(10'000);
            if (!line) break;
            if ((*line)["event"] == "state_changed") ++seen;
        }
    });
    for (int i = 0; i < cycles; ++i) {
        REQUIRE(code_of(control.call({{"op", "start"}, {"endpoint", "ep"}})) == "ok");
        REQUIRE(code_of(control.call({{"op", "stop"}, {"endpoint", "ep"}})) == "ok");
    }
    reading.join();
    CHECK(seen.load() == 2 * cycles); // the reading watcher got every one

    const auto counters = s.server->counters();
    CHECK(counters.dropped_slow == 1);
    CHECK(counters.connected == 2); // control and reader
    // The sleeper finds its connection closed once it reads what the kernel still held.
    while (sleeper.read_line(2000)) {
    }
    CHECK(sleeper.closed_by_peer());
    int dropped_lines = 0;
    for (const auto& line : s.log_lines()) dropped_lines += line.value("event", "") == "client_dropped";
    CHECK(dropped_lines == 1);
    // The server still serves.
    CHECK(code_of(control.call({{"op", "status"}})) == "ok");
    s.check_rt_clean();
}
