// The control socket: every op, every error code, malformed input, long lines, 100 clients, a
// watcher that does not read, file permissions — with the RT harness armed on the engine thread
// and every device thread throughout.
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

TEST_CASE("socket: devices lists what a spec can name now, null first, the host's default named, unknown fields refused") {
    served s;
    socket_client c(s.path());
    REQUIRE(c.connected());
    json a = c.call({{"id", 3}, {"op", "devices"}});
    REQUIRE(code_of(a) == "ok");
    CHECK(a["id"] == 3);
    CHECK(a["default_device"] == "null");
    REQUIRE(a["devices"].is_array());
    REQUIRE_FALSE(a["devices"].empty());
    const json& first = a["devices"][0];
    CHECK(first["spec"] == "null");
    CHECK(first["kind"] == "null");
    CHECK(first["render"] == true);
    CHECK(first["capture"] == true);
    CHECK(first["rate"] == 48000);
    for (const json& d : a["devices"]) {
        CHECK(d["spec"].is_string());
        CHECK((d["render"] == true || d["capture"] == true));
    }
    CHECK(code_of(c.call({{"op", "devices"}, {"kind", "alsa"}})) == "bad_request");
}

TEST_CASE("socket: metrics gives every endpoint's snapshot, a device loop's load once it has run periods, unknown fields refused") {
    served s;
    socket_client c(s.path());
    REQUIRE(c.connected());
    REQUIRE(code_of(c.call({{"op", "create"}, {"endpoint", "tone"}, {"direction", "render"}, {"device", "null?period=5"},
                            {"source", "tone:1000"}, {"period_ms", 5}, {"buffer_periods", 4}})) == "ok");
    json a = c.call({{"op", "metrics"}});
    REQUIRE(code_of(a) == "ok");
    REQUIRE(a["endpoints"].size() == 1);
    const json first = a["endpoints"][0];
    for (const char* field : {"endpoint", "direction", "device", "state", "epoch", "format", "period_ms", "latency_ms", "buffer_frames",
                              "padding", "load_pct", "stage", "glitches"}) {
        CHECK(first.contains(field));
    }
    CHECK(first["endpoint"] == "tone");
    CHECK(first["device"] == "null?period=5");
    CHECK(first["buffer_frames"] == 4 * 240);
    CHECK(first["stage"] == "routed");
    // The device loop runs its periods whether the endpoint plays or not: once it has run one
    // since the previous request, the load is a percentage (bounded: 5 s of 5 ms periods).
    bool measured = false;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!measured && std::chrono::steady_clock::now() < until) {
        a = c.call({{"op", "metrics"}});
        measured = code_of(a) == "ok" && a["endpoints"][0]["load_pct"].is_number();
    }
    REQUIRE(measured);
    CHECK(a["endpoints"][0]["load_pct"].get<double>() >= 0);
    CHECK(a["endpoints"][0]["load_pct"].get<double>() < 100);
    CHECK(code_of(c.call({{"op", "metrics"}, {"endpoint", "tone"}})) == "bad_request");
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
