// The control socket: every op, every error code, malformed input, long lines, 100 clients, a
// watcher that does not read, file permissions — with the RT harness armed on the engine thread
// and every device thread throughout.
#include <openae/control/server.h>

#include <asio/post.hpp>

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

std::string temp_dir() {
    char path[] = "/tmp/openae-server-test-XXXXXX";
    REQUIRE(::mkdtemp(path) != nullptr);
    return path;
}

// A context, an engine and a server on a fresh socket, RT harness armed on every RT thread.
struct served {
    explicit served(ae::server_options server_options = {}, ae::hns open_timeout = ae::hns{5'000'000},
                    std::function<void(const char*)> helper_started = {})
        : dir(temp_dir()) {
        ae::context_options options;
        options.helper_started = std::move(helper_started);
        options.log_file = dir + "/log.jsonl";
        options.device_hooks = ae::test::armed_hooks(device_guard);
        options.open_timeout = open_timeout;
        ctx = std::make_unique<ae::context>(options);
        ae::engine_options engine_options;
        engine_options.hooks = ae::test::armed_hooks(engine_guard);
        auto made = ae::engine::create(engine_options);
        REQUIRE(made);
        eng = std::move(*made);
        service = std::make_unique<ae::control_service>(*ctx, *eng);
        server_options.path = dir + "/sock/control.sock";
        auto s = ae::control_server::create(*service, server_options);
        REQUIRE(s);
        server = std::move(*s);
    }
    ~served() {
        server.reset();
        service.reset();
        ctx.reset(); // its device threads signal the engine's eventfd: gone before the engine closes it
        eng.reset();
        std::filesystem::remove_all(dir);
    }
    [[nodiscard]] std::string path() const { return server->path(); }
    [[nodiscard]] std::vector<json> log_lines() const {
        std::vector<json> out;
        std::ifstream in(dir + "/log.jsonl");
        for (std::string line; std::getline(in, line);) out.push_back(json::parse(line, nullptr, false));
        return out;
    }
    void check_rt_clean() const {
        CHECK(engine_guard.violations() == 0);
        CHECK(device_guard.violations() == 0);
    }

    std::string dir;
    ae::test::rt_guard engine_guard;
    ae::test::rt_guard device_guard;
    std::unique_ptr<ae::context> ctx;
    std::unique_ptr<ae::engine> eng;
    std::unique_ptr<ae::control_service> service;
    std::unique_ptr<ae::control_server> server;
};

} // namespace

TEST_CASE("socket: mode 0600 in a 0700 directory, a stale file is replaced, a live server is not") {
    served s;
    const std::string path = s.path();
    struct stat st{};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(::stat(std::filesystem::path(path).parent_path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);

    // A second server on the same path: busy, and the first keeps serving.
    ae::server_options second;
    second.path = path;
    auto other = ae::control_server::create(*s.service, second);
    REQUIRE_FALSE(other);
    CHECK(other.error().code == ae::errc::busy);
    socket_client c(path);
    REQUIRE(c.connected());
    CHECK(code_of(c.call({{"op", "list"}})) == "ok");

    // Gone: the file is removed. A stale socket file (nobody listening) is replaced.
    s.server.reset();
    CHECK_FALSE(std::filesystem::exists(path));
    {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
        REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
        ::close(fd); // bound, never listening: stale
    }
    auto again = ae::control_server::create(*s.service, second);
    REQUIRE(again);
    socket_client d(path);
    REQUIRE(d.connected());
    CHECK(code_of(d.call({{"op", "list"}})) == "ok");
    // Not a socket: left alone, with an error.
    again->reset();
    { std::ofstream(path) << "not a socket"; }
    auto refused = ae::control_server::create(*s.service, second);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("not a socket") != std::string::npos);
    s.check_rt_clean();
}

TEST_CASE("socket: every op, and the error code of every way to get it wrong") {
    served s;
    socket_client c(s.path());
    REQUIRE(c.connected());

    json a = c.call({{"id", 7}, {"op", "create"}, {"endpoint", "music"}, {"direction", "render"}, {"device", "faulty:null?period=5"},
                     {"source", "tone:1000"}, {"period_ms", 5}, {"start", true}});
    REQUIRE(code_of(a) == "ok");
    CHECK(a["id"] == 7);
    CHECK(a["endpoint"]["state"] == "running");
    CHECK(a["endpoint"]["route"] == json{{"stage", "routed"}, {"attempt", 0}});
    CHECK(a["endpoint"]["device"] == "faulty:null?period=5");
    CHECK(a["endpoint"]["source"] == "tone:1000");
    CHECK(a["endpoint"]["period_ms"] == doctest::Approx(5.0));
    a = c.call({{"id", "s"}, {"op", "create"}, {"endpoint", "mic"}, {"direction", "capture"},
                {"format", {{"sample_rate", 48000}, {"channels", 1}, {"sample", "s16"}}}, {"sink", "null"}});
    REQUIRE(code_of(a) == "ok");
    CHECK(a["id"] == "s");
    CHECK(a["endpoint"]["state"] == "stopped");
    CHECK(a["endpoint"]["format"]["channels"] == 1);

    a = c.call({{"op", "list"}});
    REQUIRE(code_of(a) == "ok");
    CHECK(a["endpoints"].size() == 2);
    CHECK(a["devices"].size() == 2);

    CHECK(code_of(c.call({{"op", "start"}, {"endpoint", "mic"}})) == "ok");
    CHECK(code_of(c.call({{"op", "start"}, {"endpoint", "mic"}})) == "already_running");
    CHECK(code_of(c.call({{"op", "stop"}, {"endpoint", "mic"}})) == "ok");
    CHECK(code_of(c.call({{"op", "stop"}, {"endpoint", "mic"}})) == "not_running");
    CHECK(code_of(c.call({{"op", "reset"}, {"endpoint", "mic"}})) == "ok");
    CHECK(code_of(c.call({{"op", "reset"}, {"endpoint", "music"}})) == "already_running"); // reset needs a stopped endpoint

    a = c.call({{"op", "set_format"}, {"endpoint", "music"}, {"format", {{"channels", 1}, {"sample", "s16"}}}});
    REQUIRE(code_of(a) == "ok");
    CHECK(a["endpoint"]["epoch"] == 2);
    CHECK(a["endpoint"]["format"]["sample"] == "s16");
    a = c.call({{"op", "set_period"}, {"endpoint", "music"}, {"period_ms", 2.5}});
    REQUIRE(code_of(a) == "ok");
    CHECK(a["endpoint"]["epoch"] == 3);
    CHECK(a["endpoint"]["frames_per_packet"] == 120);

    // The engine plays it: a pass has published a position (bounded wait on the engine's passes).
    json status;
    for (int i = 0; i < 500; ++i) {
        status = c.call({{"op", "status"}, {"endpoint", "music"}});
        if (status["endpoints"][0]["position"].is_object() && status["endpoints"][0]["position"]["epoch"] == 3) break;
        std::uint64_t passes = s.eng->passes();
        while (s.eng->passes() == passes) std::this_thread::yield();
    }
    const json& st = status["endpoints"][0];
    REQUIRE(st["position"].is_object());
    CHECK(st["position"]["epoch"] == 3);
    CHECK(st["position"]["stream_position"].get<std::uint64_t>() > 0);
    for (const char* field : {"state", "device", "format", "period_ms", "epoch", "position", "latency_ms", "glitches"})
        CHECK_MESSAGE(st.contains(field), field);

    a = c.call({{"op", "stats"}});
    REQUIRE(code_of(a) == "ok");
    CHECK(a["endpoints"].size() == 2);
    CHECK(a["endpoints"][0].contains("padding"));

    a = c.call({{"op", "move"}, {"endpoint", "music"}, {"device", "null?period=5"}});
    REQUIRE(code_of(a) == "ok");
    CHECK(a["endpoint"]["device"] == "null?period=5");
    CHECK(a["endpoint"]["route"]["stage"] == "routed"); // a move asked for, not a recovery
    CHECK(code_of(c.call({{"op", "move"}, {"endpoint", "music"}, {"device", "theremin"}})) == "device_unavailable");
    CHECK(code_of(c.call({{"op", "move"}, {"endpoint", "music"}, {"device", "wav:/nonexistent/x.wav"}})) == "device_unavailable");

    // inject: only faulty devices take faults.
    CHECK(code_of(c.call({{"op", "inject"}, {"endpoint", "music"}, {"fault", "unplug"}})) == "bad_argument");
    CHECK(code_of(c.call({{"op", "move"}, {"endpoint", "music"}, {"device", "faulty:null?period=5"}})) == "ok");
    CHECK(code_of(c.call({{"op", "inject"}, {"endpoint", "music"}, {"fault", "sing"}})) == "bad_argument");
    CHECK(code_of(c.call({{"op", "inject"}, {"endpoint", "music"}, {"fault", "stall:5"}})) == "ok");

    CHECK(code_of(c.call({{"op", "status"}, {"endpoint", "nobody"}})) == "unknown_endpoint");
    CHECK(code_of(c.call({{"op", "start"}, {"endpoint", "nobody"}})) == "unknown_endpoint");
    CHECK(code_of(c.call({{"op", "create"}, {"endpoint", "music"}, {"direction", "render"}})) == "already_initialized");
    CHECK(code_of(c.call({{"op", "create"}, {"endpoint", "x"}, {"direction", "render"}, {"device", "theremin"}})) == "device_unavailable");
    a = c.call({{"op", "create"}, {"endpoint", "x"}, {"direction", "render"}, {"source", "wav:/nonexistent.wav"}});
    CHECK(code_of(a) == "device_unavailable");
    CHECK(a["error"]["message"].get<std::string>().find("/nonexistent.wav") != std::string::npos);
    CHECK(code_of(c.call({{"op", "create"}, {"endpoint", "x"}, {"direction", "capture"}, {"sink", "wav:/nonexistent/dir/x.wav"}})) ==
          "device_unavailable");
    // A new rate goes through the barrier too (a chain for it takes over at the seam).
    a = c.call({{"op", "set_format"}, {"endpoint", "music"}, {"format", {{"sample_rate", 44100}}}});
    REQUIRE(code_of(a) == "ok");
    CHECK(a["endpoint"]["format"]["sample_rate"] == 44100);

    CHECK(code_of(c.call({{"op", "destroy"}, {"endpoint", "mic"}})) == "ok");
    CHECK(code_of(c.call({{"op", "destroy"}, {"endpoint", "mic"}})) == "unknown_endpoint");
    a = c.call({{"op", "list"}});
    CHECK(a["endpoints"].size() == 1);
    s.check_rt_clean();
}

TEST_CASE("socket: buffer_periods sizes the buffer, and the engine pre-fills a render endpoint before it is started") {
    served s;
    socket_client c(s.path());
    REQUIRE(c.connected());
    json a = c.call({{"op", "create"}, {"endpoint", "deep"}, {"direction", "render"}, {"device", "null?period=5"},
                     {"source", "tone:1000"}, {"period_ms", 5}, {"buffer_periods", 8}});
    REQUIRE(code_of(a) == "ok");
    CHECK(a["endpoint"]["state"] == "stopped");
    CHECK(a["endpoint"]["frames_per_packet"] == 240);
    CHECK(a["endpoint"]["buffer_frames"] == 8 * 240);
    // No wait: the create answers after the engine's pre-fill, and a stopped endpoint is not drained.
    // (A stats read that meets the engine mid-publish leaves "engine" out: ask again, bounded.)
    for (int i = 0; i < 100; ++i) {
        a = c.call({{"op", "stats"}, {"endpoint", "deep"}});
        if (code_of(a) != "ok" || a["endpoints"][0].contains("engine")) break;
    }
    REQUIRE(code_of(a) == "ok");
    REQUIRE(a["endpoints"][0].contains("engine"));
    const json& engine = a["endpoints"][0]["engine"];
    CHECK(engine["frames"] == 8 * 240);
    CHECK(engine["passes"].get<std::uint64_t>() >= 1);
    CHECK(engine["padding_min"] == 0); // the first pass found the buffer empty and filled it
    a = c.call({{"op", "create"}, {"endpoint", "shallow"}, {"direction", "render"}, {"device", "null?period=5"}, {"period_ms", 5}});
    REQUIRE(code_of(a) == "ok");
    CHECK(a["endpoint"]["buffer_frames"] == 2 * 240); // the default: two periods
    s.check_rt_clean();
}

TEST_CASE("socket: a create whose device open hangs answers timeout, the server answers others meanwhile") {
    served s({}, ae::hns{20'000'000}); // open timeout 2 s (the quick client's requests take far less, even under TSan)
    socket_client slow(s.path());
    socket_client quick(s.path());
    REQUIRE(slow.connected());
    REQUIRE(quick.connected());
    const auto begin = std::chrono::steady_clock::now();
    REQUIRE(slow.send({{"id", 1}, {"op", "create"}, {"endpoint", "stuck"}, {"direction", "render"},
                       {"device", "faulty:null?period=5&open_delay_ms=6000"}, {"start", true}}));
    // Answered while the open hangs (the create was read first: the same ae-ctl serves both).
    json a = quick.call({{"id", 2}, {"op", "list"}});
    REQUIRE(code_of(a) == "ok");
    CHECK(a["endpoints"].empty());
    a = quick.call({{"id", 3}, {"op", "create"}, {"endpoint", "fine"}, {"direction", "render"}, {"device", "null?period=5"}});
    REQUIRE(code_of(a) == "ok");
    CHECK_FALSE(slow.read_json(0)); // nothing for the slow one yet
    auto answer = slow.read_json(5000);
    REQUIRE(answer);
    const double waited_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
    CHECK((*answer)["id"] == 1);
    CHECK(code_of(*answer) == "timeout");
    CHECK((*answer)["error"]["message"].get<std::string>().find("did not finish within 2000 ms") != std::string::npos);
    CHECK(waited_ms < 5000); // at the timeout, not when the open returns
    a = quick.call({{"op", "list"}});
    REQUIRE(a["endpoints"].size() == 1);
    CHECK(a["endpoints"][0]["endpoint"] == "fine");
    bool unresponsive_logged = false;
    for (const auto& line : s.log_lines()) unresponsive_logged |= line.value("event", "") == "device_unresponsive";
    CHECK(unresponsive_logged);
    // A wav source that is not there: loaded off ae-ctl, the error names the file.
    a = quick.call({{"op", "create"}, {"endpoint", "file"}, {"direction", "render"}, {"source", "wav:" + s.dir + "/missing.wav"}});
    CHECK(code_of(a) == "device_unavailable");
    CHECK(a["error"]["message"].get<std::string>().find("missing.wav") != std::string::npos);
    s.check_rt_clean();
}

TEST_CASE("socket: a capture's wav sink is created off ae-ctl, complete when destroy answers, and a failed create leaves no file") {
    std::promise<void> entered;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<int> loads{0};
    std::atomic<int> closes{0};
    std::promise<void> second_close;
    served s({}, ae::hns{50'000'000}, [&](const char* helper) {
        if (std::string(helper) == "ae-close" && closes.fetch_add(1) == 1) second_close.set_value();
        if (std::string(helper) != "ae-load" || loads.fetch_add(1) != 0) return;
        entered.set_value();
        released.wait(); // the first load (the sink below) is held here
    });
    socket_client slow(s.path());
    socket_client quick(s.path());
    REQUIRE(slow.connected());
    REQUIRE(quick.connected());
    const std::string recorded = s.dir + "/mic.wav";
    REQUIRE(slow.send({{"id", 1}, {"op", "create"}, {"endpoint", "mic"}, {"direction", "capture"}, {"device", "null?period=5"},
                       {"sink", "wav:" + recorded}, {"start", true}}));
    entered.get_future().wait();
    // The sink's file is being made on ae-load: ae-ctl answers meanwhile, the endpoint is not there yet.
    json a = quick.call({{"id", 2}, {"op", "list"}});
    REQUIRE(code_of(a) == "ok");
    CHECK(a["endpoints"].empty());
    CHECK_FALSE(slow.read_json(0));
    release.set_value();
    auto answer = slow.read_json(5000);
    REQUIRE(answer);
    CHECK((*answer)["id"] == 1);
    REQUIRE(code_of(*answer) == "ok");
    CHECK((*answer)["endpoint"]["sink"] == "wav:" + recorded);
    CHECK(std::filesystem::exists(recorded));
    // Recorded for a while (the engine's own count), then destroyed: once answered, the file is
    // complete — its RIFF size covers the whole file (written when the writer closes).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::uint64_t recorded_frames = 0;
    while (recorded_frames < 4800 && std::chrono::steady_clock::now() < until) {
        a = quick.call({{"op", "stats"}, {"endpoint", "mic"}});
        REQUIRE(code_of(a) == "ok");
        const json& stats = a["endpoints"][0];
        recorded_frames = stats.contains("engine") ? stats["engine"]["frames"].get<std::uint64_t>() : 0;
    }
    REQUIRE(recorded_frames >= 4800);
    REQUIRE(code_of(quick.call({{"op", "destroy"}, {"endpoint", "mic"}})) == "ok");
    {
        std::ifstream wav(recorded, std::ios::binary);
        std::vector<char> bytes((std::istreambuf_iterator<char>(wav)), std::istreambuf_iterator<char>());
        REQUIRE(bytes.size() > 44 + 4800 * 2 * sizeof(float));
        std::uint32_t riff_size = 0;
        std::memcpy(&riff_size, bytes.data() + 4, sizeof riff_size);
        CHECK(std::string(bytes.data(), 4) == "RIFF");
        CHECK(riff_size == bytes.size() - 8);
    }
    CHECK(closes.load() == 1); // closed on ae-close
    // A host that takes an endpoint off the engine itself: the sink still closes on ae-close
    // (the service's sink closer), not inline on ae-ctl.
    a = quick.call({{"op", "create"}, {"endpoint", "mic2"}, {"direction", "capture"}, {"device", "null?period=5"},
                    {"sink", "wav:" + s.dir + "/mic2.wav"}});
    REQUIRE(code_of(a) == "ok");
    auto closed = second_close.get_future();
    asio::post(s.ctx->executor(), [&] { (void)s.eng->remove("mic2"); }); // the engine is driven from ae-ctl
    bool handed_over = false;
    for (int i = 0; i < 5000 && !handed_over; ++i) {
        asio::post(s.ctx->executor(), [&] { s.eng->collect(); });
        handed_over = closed.wait_for(std::chrono::milliseconds(1)) == std::future_status::ready;
    }
    CHECK(handed_over);
    CHECK(closes.load() == 2);
    // The device cannot be opened: the sink made for it is removed again, the error names the device.
    const std::string orphan = s.dir + "/orphan.wav";
    a = quick.call({{"op", "create"}, {"endpoint", "lost"}, {"direction", "capture"}, {"device", "theremin"}, {"sink", "wav:" + orphan}});
    CHECK(code_of(a) == "device_unavailable");
    CHECK(a["error"]["message"].get<std::string>().find("theremin") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(orphan));
    // A sink for a format the writer refuses: the create fails before any device is opened.
    a = quick.call({{"op", "create"}, {"endpoint", "odd"}, {"direction", "capture"}, {"device", "null?period=5"},
                    {"sink", "wav:" + s.dir + "/odd.wav?sample=s16"}});
    CHECK(code_of(a) == "bad_argument");
    CHECK(quick.call({{"op", "list"}})["endpoints"].size() == 1); // mic2: off the engine, still an endpoint
    CHECK(loads.load() == 4);
    s.check_rt_clean();
}

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
