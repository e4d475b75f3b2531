// The JACK device against a real jackd (dummy driver) the test starts itself, and JACK clients
// of the test's own: a recorder that openae plays into, a player that openae records from. The
// signal is compared sample by sample; every frame that did not arrive is found in a glitch record.
// JACK's process callback runs the device loop under the RT-safety harness.
#include "jack_peer.h"
#include "jack_server.h"
#include "signal_rig.h"
#include "signal_walk.h"
#include "peer_rig.h"

#include <openae/pipeline/device_discovery.h>

#include <jack/jack.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace ae::test::signal;
using ae::test::jack_peer;
using ae::test::jack_server;

TEST_CASE("jack: no server, a bad option: typed errors naming the device") {
    auto missing = make_device("jack:ae?server=openae-no-such-server", endpoint_direction::render);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ae::errc::device_unavailable);
    CHECK(missing.error().message.find("no JACK server 'openae-no-such-server' is running") != std::string::npos);
    auto typo = make_device("jack:ae?sever=x", endpoint_direction::render);
    REQUIRE_FALSE(typo);
    CHECK(typo.error().code == ae::errc::bad_argument);
    auto both = make_device("jack:ae?ports=a:b&connect=auto", endpoint_direction::render);
    REQUIRE_FALSE(both);
    CHECK(both.error().code == ae::errc::bad_argument);
}

TEST_CASE("jack: a port that does not exist - start fails naming it - and JACK's later cycles reach nothing of openae's") {
    jack_server server("jack-noport");
    jack_peer recorder(server.name, "rec", true, 48000);
    auto dev = make_device("jack:ae_noport?server=" + server.name + "&ports=nobody:in_1,rec:in_2", endpoint_direction::render);
    REQUIRE(dev);
    {
        auto thread = device_thread::create(std::move(*dev), {.realtime_priority = 0});
        REQUIRE(thread);
        const auto started = (*thread)->start();
        REQUIRE_FALSE(started);
        CHECK(started.error().code == ae::errc::device_unavailable);
        CHECK(started.error().message.find("nobody:in_1") != std::string::npos);
    } // the device thread and its loop are gone; the client, active for the connect, must be too
    // Ten more cycles of the graph (the recorder's own): a callback left on freed state crashed here.
    const std::size_t before = recorder.count();
    for (int turn = 0; turn < 2'000'000 && recorder.count() < before + 10 * 256; ++turn) std::this_thread::yield();
    CHECK(recorder.count() >= before + 10 * 256);
}

TEST_CASE("jack: render into a JACK recorder, sample-exact, JACK's process callback under the RT harness") {
    jack_server server("jack-render");
    jack_peer recorder(server.name, "rec", true, 4 * 48000);
    auto dev = make_device("jack:ae_render?server=" + server.name + "&ports=rec:in_1,rec:in_2", endpoint_direction::render);
    REQUIRE(dev);
    CHECK((*dev)->format() == ae::frame_format{48000, 2, ae::sample_type::f32});
    CHECK((*dev)->period_frames() == 256);
    const auto report = ae::test::render_to_recorder(std::move(dev), recorder, 48000, 1920);
    ae::test::check_recording(report, 48000);
}

TEST_CASE("jack: capture from a JACK player, sample-exact and in order") {
    jack_server server("jack-capture");
    jack_peer player(server.name, "play", false, 0);
    const auto report = ae::test::capture_from_player(
        make_device("jack:ae_capture?server=" + server.name + "&ports=play:out_1,play:out_2", endpoint_direction::capture), 8);
    CHECK(report.walk.matched >= 40000);
    AE_CHECK_TIMING(report.walk.gap_frames == 0);
    // A cycle JACK ran late may read a buffer the player is already rewriting (jack2 can run two
    // clients' cycles side by side): a torn frame. Only then; never more than those cycles hold.
    AE_CHECK_TIMING(report.walk.mismatches <= report.events.dropped);
    AE_CHECK_TIMING(report.walk.skipped + report.walk.repeated <= report.glitches.overrun_frames + 2 * report.events.dropped);
}

TEST_CASE("jack: jackd killed mid-stream: the device is lost, openae's thread carries the loop on, every frame counted") {
    jack_server server("jack-kill");
    ae::test::check_server_death(make_device("jack:ae_kill?server=" + server.name, endpoint_direction::render),
                                 [&] { server.stop(); });
}

TEST_CASE("jack: the server's buffer size changes live (jack_bufsize 256 -> 512): the loop takes it, the signal goes on unbroken") {
    jack_server server("jack-bufsize");
    jack_peer recorder(server.name, "rec", true, 6 * 48000);
    auto dev = make_device("jack:ae_bufsize?server=" + server.name + "&ports=rec:in_1,rec:in_2", endpoint_direction::render);
    REQUIRE(dev);
    CHECK((*dev)->max_period_frames() == 4096);
    pid_t bufsize = -1;
    // Not waited for in the engine's loop: the engine goes on while JACK reshapes its graph.
    const auto report = ae::test::render_to_recorder(std::move(dev), recorder, 3 * 48000, 2048,
                                                     [&] { bufsize = ae::test::spawn({"jack_bufsize", "512"}); });
    REQUIRE(bufsize > 0);
    CHECK(ae::test::wait_exit(bufsize) == 0);
    CHECK(report.events.new_period == 512);
    CHECK_FALSE(report.events.lost);
    CHECK(report.glitches.lost_frames == 0);
    ae::test::check_recording(report, 3 * 48000);
}

TEST_CASE("jack: connect=auto connects the device's ports to the server's physical ports, in channel order") {
    jack_server server("jack-auto");
    auto dev = make_device("jack:ae_auto?server=" + server.name + "&connect=auto", endpoint_direction::render);
    REQUIRE(dev);
    auto thread = device_thread::create(std::move(*dev), {.realtime_priority = 0});
    REQUIRE(thread);
    REQUIRE((*thread)->start());
    jack_status_t status{};
    jack_client_t* looker = jack_client_open("look", static_cast<jack_options_t>(JackNoStartServer | JackServerName), &status, server.name.c_str());
    REQUIRE(looker != nullptr);
    jack_port_t* first = jack_port_by_name(looker, "ae_auto:out_1");
    jack_port_t* second = jack_port_by_name(looker, "ae_auto:out_2");
    REQUIRE(first != nullptr);
    REQUIRE(second != nullptr);
    CHECK(jack_port_connected_to(first, "system:playback_1") == 1);
    CHECK(jack_port_connected_to(second, "system:playback_2") == 1);
    CHECK(jack_port_connected_to(first, "system:playback_2") == 0);
    jack_client_close(looker);
    (*thread)->stop();
}

// The devices of `server` among `all` (other tests' servers may run meanwhile).
static std::vector<ae::pipeline::available_device> of_server(const std::vector<ae::pipeline::available_device>& all, const std::string& server) {
    std::vector<ae::pipeline::available_device> mine;
    std::copy_if(all.begin(), all.end(), std::back_inserter(mine), [&](const auto& d) { return d.spec.find("server=" + server + "&") != std::string::npos; });
    return mine;
}

TEST_CASE("jack: discovery lists the default server's physical ports as a render and a capture device, specs that open") {
    ::unsetenv("JACK_DEFAULT_SERVER");
    const auto none = ae::pipeline::discover_jack_devices();
    jack_server server("jack-discover"); // the default server from here (JACK_DEFAULT_SERVER)
    CHECK(std::none_of(none.begin(), none.end(), [&](const auto& d) { return d.spec.find(server.name) != std::string::npos; }));
    const auto found = of_server(ae::pipeline::discover_jack_devices(), server.name);
    REQUIRE(found.size() == 2);
    const auto& render = found[0];
    CHECK(render.spec == "jack?server=" + server.name + "&connect=auto&channels=2");
    CHECK(render.render);
    CHECK_FALSE(render.capture);
    CHECK(render.sample_rate == 48000);
    CHECK(render.channels == 2);
    CHECK(render.description.find("system:playback_1, system:playback_2") != std::string::npos);
    CHECK(render.backend_default);
    CHECK(found[1].capture);
    CHECK(found[1].description.find("system:capture_1") != std::string::npos);
    auto dev = make_device(render.spec, endpoint_direction::render);
    CHECK(dev);
}

TEST_CASE("jack: hotplug — a server that starts and stops is told as device_added and device_removed, render and capture") {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::pair<bool, ae::pipeline::available_device>> told;
    auto watch = ae::pipeline::device_watch::watch_jack(
        [&](bool added, const ae::pipeline::available_device& d) {
            const std::lock_guard lock(mutex);
            told.emplace_back(added, d);
            changed.notify_all();
        },
        std::chrono::milliseconds(100));
    REQUIRE(watch);
    std::string name;
    const auto count = [&](bool added) {
        return std::count_if(told.begin(), told.end(), [&](const auto& t) { return t.first == added && t.second.spec.find("server=" + name + "&") != std::string::npos; });
    };
    {
        jack_server server("jack-hotplug");
        name = server.name;
        {
            std::unique_lock lock(mutex);
            changed.wait_for(lock, std::chrono::seconds(10), [&] { return count(true) == 2; });
        }
        std::vector<ae::pipeline::available_device> added;
        {
            const std::lock_guard lock(mutex);
            for (const auto& [was_added, d] : told) {
                if (was_added && d.spec.find("server=" + name + "&") != std::string::npos) added.push_back(d);
            }
        }
        REQUIRE(added.size() == 2);
        CHECK(added[0].render);
        CHECK(added[1].capture);
        CHECK(added[0].spec == "jack?server=" + name + "&connect=auto&channels=2");
        // What the watch tells matches what discovery lists.
        const auto listed = of_server(ae::pipeline::discover_jack_devices(), name);
        REQUIRE(listed.size() == 2);
        CHECK(listed[0].spec == added[0].spec);
    }
    std::unique_lock lock(mutex);
    changed.wait_for(lock, std::chrono::seconds(10), [&] { return count(false) == 2; });
    CHECK(count(false) == 2);
    CHECK(count(true) == 2); // each told once
}

TEST_CASE("jack: auto chooses the running JACK server when no PipeWire answers") {
    const std::string empty = "/tmp/openae-no-pw-" + std::to_string(::getpid());
    std::filesystem::create_directories(empty);
    ::setenv("PIPEWIRE_RUNTIME_DIR", empty.c_str(), 1);
    ::unsetenv("OPENAE_DEFAULT_DEVICE");
    jack_server server("jack-auto-default");
    const auto choice = ae::pipeline::choose_default_device();
    CHECK(choice.spec == "jack?server=" + server.name + "&connect=auto");
    CHECK(choice.reason == "a JACK server runs");
    // A context made with `auto` says what it chose, and its endpoints get it.
    ae::context_options options;
    options.default_device = "auto";
    ae::context ctx(options);
    CHECK(ctx.default_device() == choice.spec);
    ::setenv("OPENAE_DEFAULT_DEVICE", "null", 1);
    std::filesystem::remove_all(empty);
}
