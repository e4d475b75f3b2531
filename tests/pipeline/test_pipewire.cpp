// The PipeWire device against a real PipeWire (pipewire + wireplumber, a null sink) the test starts
// itself, and PipeWire streams of the test's own: a recorder of the sink's output that openae plays
// into, a player into the sink whose output openae records. The signal is compared sample by
// sample; PipeWire's data thread runs the device loop under the RT-safety harness.
#include "pipewire_server.h"
#include "pw_peer.h"
#include "signal_rig.h"
#include "signal_walk.h"
#include "peer_rig.h"

#include <openae/openae.h>
#include <openae/pipeline/device_discovery.h>

#include <pipewire/pipewire.h>
#include <spa/param/audio/format-utils.h>

#include <doctest/doctest.h>

#include <sys/eventfd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

using namespace ae::test::signal;
using ae::test::pipewire_server;
using ae::test::pw_peer;
using ae::test::test_sink;

namespace {


} // namespace

TEST_CASE("pipewire: no server, bad options: typed errors naming the device") {
    const std::string empty = "/tmp/openae-pw-none-" + std::to_string(::getpid());
    std::filesystem::create_directories(empty);
    ::setenv("PIPEWIRE_RUNTIME_DIR", empty.c_str(), 1);
    auto missing = make_device("pipewire", endpoint_direction::render);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ae::errc::device_unavailable);
    CHECK(missing.error().message.find("no PipeWire server answers") != std::string::npos);
    std::filesystem::remove_all(empty);
    auto latency = make_device("pipewire?latency=fast", endpoint_direction::render);
    REQUIRE_FALSE(latency);
    CHECK(latency.error().code == ae::errc::bad_argument);
    CHECK(latency.error().message.find("latency is FRAMES or FRAMES/RATE") != std::string::npos);
    auto monitor = make_device("pipewire?monitor=1", endpoint_direction::render);
    REQUIRE_FALSE(monitor);
    CHECK(monitor.error().code == ae::errc::bad_argument);
    auto typo = make_device("pipewire?latnecy=256", endpoint_direction::capture);
    REQUIRE_FALSE(typo);
    CHECK(typo.error().code == ae::errc::bad_argument);
}

TEST_CASE("pipewire: render into the null sink, its output recorded sample-exact, the data thread under the RT harness") {
    pipewire_server server("render");
    pw_peer recorder(true, 4 * 48000);
    REQUIRE(recorder.wait_for(4800)); // linked and running: from here it hears the sink
    auto dev = make_device(std::string("pipewire:") + test_sink + "?latency=256/48000&name=openae-test-render", endpoint_direction::render);
    REQUIRE(dev);
    CHECK((*dev)->format() == ae::frame_format{48000, 2, ae::sample_type::f32});
    MESSAGE("PipeWire quantum ", (*dev)->period_frames(), " frames");
    CHECK((*dev)->period_frames() >= 32);
    const std::uint64_t buffer = 4 * (*dev)->period_frames();
    const auto report = ae::test::render_to_recorder(std::move(dev), recorder, 48000, buffer);
    ae::test::check_recording(report, 48000);
}

TEST_CASE("pipewire: capture a player's output from the sink's monitor, sample-exact and in order") {
    pipewire_server server("capture");
    pw_peer player(false, 0);
    REQUIRE(player.wait_for(4800));
    const auto report = ae::test::capture_from_player(
        make_device(std::string("pipewire:") + test_sink + "?monitor=1&latency=256/48000&name=openae-test-capture", endpoint_direction::capture),
        8);
    CHECK(report.walk.matched >= 40000);
    AE_CHECK_TIMING(report.walk.mismatches == 0);
    // A cycle the player missed is silence in the sink (the player's glitch, not openae's); one
    // openae missed is in its drops.
    AE_CHECK_TIMING(report.walk.gap_frames <= player.missed() + report.events.dropped);
    AE_CHECK_TIMING(report.walk.skipped + report.walk.repeated <= report.glitches.overrun_frames + 2 * (report.events.dropped + player.missed()));
}

TEST_CASE("pipewire: a virtual sink (node=sink) that a player targets by name - openae records what it plays, in order") {
    pipewire_server server("vsink");
    auto dev = make_device("pipewire?node=sink&name=openae-test-vsink&description=openae%20test&latency=256/48000", endpoint_direction::capture);
    REQUIRE(dev);
    // Made and running before anything plays into it: a desktop's sink is there before its applications.
    CHECK((*dev)->period_frames() >= 32);
    pw_peer player(false, 0, "openae-test-vsink");
    REQUIRE(player.wait_for(4800));
    const auto report = ae::test::capture_from_player(std::move(dev), 8);
    CHECK(report.walk.matched >= 40000);
    AE_CHECK_TIMING(report.walk.mismatches == 0);
    AE_CHECK_TIMING(report.walk.gap_frames <= player.missed() + report.events.dropped);
}

TEST_CASE("pipewire: a virtual source (node=source) that a recorder targets by name - it records what openae plays, sample-exact") {
    pipewire_server server("vsource");
    auto dev = make_device("pipewire?node=source&name=openae-test-vsource&latency=256/48000", endpoint_direction::render);
    REQUIRE(dev);
    pw_peer recorder(true, 4 * 48000, "openae-test-vsource", true);
    REQUIRE(recorder.wait_for(4800)); // linked: from here it records the node
    const std::uint64_t buffer = 4 * (*dev)->period_frames();
    const auto report = ae::test::render_to_recorder(std::move(dev), recorder, 48000, buffer);
    ae::test::check_recording(report, 48000);
}

TEST_CASE("pipewire: node= refused where it cannot be: the wrong direction, with a target or a monitor, an unknown kind") {
    auto sink_render = make_device("pipewire?node=sink", endpoint_direction::render);
    REQUIRE_FALSE(sink_render);
    CHECK(sink_render.error().code == ae::errc::bad_argument);
    CHECK(sink_render.error().message.find("node=sink is for capture") != std::string::npos);
    auto source_capture = make_device("pipewire?node=source", endpoint_direction::capture);
    REQUIRE_FALSE(source_capture);
    CHECK(source_capture.error().message.find("node=source is for render") != std::string::npos);
    auto targeted = make_device("pipewire:somewhere?node=sink", endpoint_direction::capture);
    REQUIRE_FALSE(targeted);
    CHECK(targeted.error().message.find("no target, no monitor") != std::string::npos);
    auto kind = make_device("pipewire?node=duplex", endpoint_direction::capture);
    REQUIRE_FALSE(kind);
    CHECK(kind.error().message.find("node is sink or source, not 'duplex'") != std::string::npos);
}

TEST_CASE("pipewire: the server killed mid-stream: the device is lost, openae's thread carries the loop on, every frame counted") {
    pipewire_server server("kill");
    ae::test::check_server_death(make_device(std::string("pipewire:") + test_sink + "?name=openae-test-kill", endpoint_direction::render),
                                 [&] { server.stop(); });
}

TEST_CASE("pipewire: discovery lists the server's sinks (the default marked), their monitors for capture, specs that open") {
    pipewire_server server("discover");
    const auto found = ae::pipeline::discover_pipewire_devices(std::chrono::milliseconds(5000));
    auto by_spec = [&](const std::string& spec) {
        return std::find_if(found.begin(), found.end(), [&](const auto& d) { return d.spec == spec; });
    };
    const auto sink = by_spec(std::string("pipewire:") + test_sink);
    REQUIRE(sink != found.end());
    CHECK(sink->kind == "pipewire");
    CHECK(sink->render);
    CHECK_FALSE(sink->capture);
    const auto monitor = by_spec(std::string("pipewire:") + test_sink + "?monitor=1");
    REQUIRE(monitor != found.end());
    CHECK(monitor->capture);
    CHECK_FALSE(monitor->render);
    CHECK(monitor->description == std::string("Monitor of ") + sink->description);
    // wireplumber makes the only sink the default; it may say so a moment after the sink appears.
    MESSAGE("default sink marked: ", sink->backend_default);
    auto dev = make_device(monitor->spec, endpoint_direction::capture);
    CHECK(dev);
    server.stop();
    CHECK(ae::pipeline::discover_pipewire_devices(std::chrono::milliseconds(2000)).empty());
}

TEST_CASE("pipewire: auto chooses PipeWire when its server answers with a sink, and a context's endpoints play into it") {
    pipewire_server server("auto");
    pw_peer recorder(true, 2 * 48000);
    REQUIRE(recorder.wait_for(4800));
    ::unsetenv("OPENAE_DEFAULT_DEVICE");
    const auto choice = ae::pipeline::choose_default_device();
    CHECK(choice.spec == "pipewire");
    CHECK(choice.reason == "a PipeWire server answers with a sink");
    ae::context_options options;
    options.default_device = "auto";
    ae::context ctx(options);
    ::setenv("OPENAE_DEFAULT_DEVICE", "null", 1);
    REQUIRE(ctx.default_device() == "pipewire");
    // An endpoint that names no device plays on the default one: the session manager's default sink.
    ae::endpoint_config config;
    config.name = "auto-render";
    auto endpoint = ctx.create_render_endpoint(config);
    REQUIRE(endpoint);
    CHECK(endpoint->device() == "pipewire");
}

TEST_CASE("pipewire: the graph's quantum changes live (256 -> 512): the loop takes it, the signal goes on unbroken") {
    pipewire_server server("quantum");
    pw_peer recorder(true, 6 * 48000);
    REQUIRE(recorder.wait_for(4800));
    auto dev = make_device(std::string("pipewire:") + test_sink + "?latency=256/48000&name=openae-test-quantum", endpoint_direction::render);
    REQUIRE(dev);
    REQUIRE((*dev)->period_frames() == 256);
    CHECK((*dev)->max_period_frames() == 4096);
    pid_t force = -1;
    // The graph's quantum forced to 512 (the settings metadata), the engine going on meanwhile.
    const auto report = ae::test::render_to_recorder(std::move(dev), recorder, 3 * 48000, 2048, [&] {
        force = ae::test::spawn({"pw-metadata", "-n", "settings", "0", "clock.force-quantum", "512"});
    });
    REQUIRE(force > 0);
    CHECK(ae::test::wait_exit(force) == 0);
    CHECK(report.events.new_period == 512);
    CHECK_FALSE(report.events.lost);
    CHECK(report.glitches.lost_frames == 0);
    AE_CHECK_TIMING(report.walk.mismatches == 0);
    ae::test::check_recording(report, 3 * 48000);
}

TEST_CASE("pipewire: the default sink changes: a stream on the default ('pipewire') follows it and plays on, never lost") {
    pipewire_server server("follow");
    // A second sink, made the default once openae plays into the first.
    REQUIRE(ae::test::wait_exit(ae::test::spawn({"pw-cli", "create-node", "adapter",
                                                 "{ factory.name=support.null-audio-sink node.name=openae_other_sink media.class=Audio/Sink "
                                                 "object.linger=true audio.rate=48000 audio.channels=2 audio.position=[FL FR] }"})) == 0);
    pw_peer recorder(true, 6 * 48000, "openae_other_sink");
    REQUIRE(recorder.wait_for(4800));
    ::unsetenv("OPENAE_DEFAULT_DEVICE");
    pid_t moved = -1;
    const auto report = ae::test::render_to_recorder(make_device("pipewire?latency=256/48000&name=openae-test-follow", endpoint_direction::render),
                                                     recorder, 3 * 48000, 2048, [&] {
        moved = ae::test::spawn({"pw-metadata", "0", "default.configured.audio.sink", "{ \"name\": \"openae_other_sink\" }", "Spa:String:JSON"});
    });
    ::setenv("OPENAE_DEFAULT_DEVICE", "null", 1);
    REQUIRE(moved > 0);
    CHECK(ae::test::wait_exit(moved) == 0);
    CHECK_FALSE(report.events.lost);
    CHECK(report.glitches.lost_frames == 0);
    // The other sink hears the signal from the move on, every frame in order to its end.
    const std::vector<float>& got = recorder.frames();
    const std::size_t frames = recorder.count();
    std::size_t at = 0;
    while (at < frames && got[2 * at] == 0.0f && got[2 * at + 1] == 0.0f) ++at;
    REQUIRE(at < frames);
    std::size_t end = frames; // past the signal's last frame (the engine wrote silence after it)
    while (end > at && got[2 * (end - 1)] == 0.0f && got[2 * (end - 1) + 1] == 0.0f) --end;
    const auto first_frame = static_cast<std::uint64_t>(std::lround(got[2 * at] * 32768.0f) + 32768); // modulo 65536
    const ae::test::signal_walk walk = ae::test::follow_signal(got.data() + 2 * at, end - at, first_frame, ~std::uint64_t{0});
    MESSAGE("heard on the new default: ", walk.matched, " frames in order; skipped ", walk.skipped, "; gaps ", walk.gap_frames,
            "; torn ", walk.mismatches);
    // What the server did not give the recorder (its missed cycles, a loaded machine) is not
    // openae's: counted apart, as check_recording does.
    const std::uint64_t server_missed = report.recorder_missed + report.events.dropped;
    CHECK(walk.matched > 48000);
    AE_CHECK_TIMING(walk.mismatches <= server_missed);
    AE_CHECK_TIMING(walk.skipped <= 2 * server_missed);
    AE_CHECK_TIMING(walk.gap_frames <= report.glitches.underrun_frames + server_missed);
}

TEST_CASE("pipewire: hotplug — a sink that comes and goes is told as device_added and device_removed, its monitor too") {
    pipewire_server server("hotplug");
    std::mutex mutex;
    std::vector<std::string> told; // "added SPEC" / "removed SPEC", in order
    ae::test::event_fd news;
    ae::context_options options;
    options.default_device = "null";
    options.watch_devices = true;
    ae::context ctx(options);
    ctx.subscribe([&](const ae::event& e) {
        if (e.kind != ae::event_kind::device_added && e.kind != ae::event_kind::device_removed) return;
        if (!e.device.starts_with("pipewire:")) return; // the JACK watch tells of other tests' servers
        const std::lock_guard lock(mutex);
        told.push_back((e.kind == ae::event_kind::device_added ? "added " : "removed ") + e.device);
        ae::signal_eventfd(news.get());
    });
    // The test sink was there before the watch: not news. A node of pw-cli's own lives as long as
    // pw-cli does: it comes, and goes when pw-cli exits.
    REQUIRE(ae::test::wait_exit(ae::test::spawn({"pw-cli", "create-node", "adapter",
                                                 "{ factory.name=support.null-audio-sink node.name=openae_hotplug_sink media.class=Audio/Sink "
                                                 "audio.rate=48000 audio.channels=2 audio.position=[FL FR] }"})) == 0);
    auto count = [&] {
        const std::lock_guard lock(mutex);
        return told.size();
    };
    for (int turns = 0; turns < 50 && count() < 4; ++turns) (void)news.wait(100);
    const std::lock_guard lock(mutex);
    const std::vector<std::string> expected{"added pipewire:openae_hotplug_sink", "added pipewire:openae_hotplug_sink?monitor=1",
                                            "removed pipewire:openae_hotplug_sink", "removed pipewire:openae_hotplug_sink?monitor=1"};
    CHECK(told == expected);
}

TEST_CASE("pipewire: hotplug through the C API — watch_devices, then AE_EVENT_DEVICE_ADDED and _REMOVED from ae_context_poll_event") {
    pipewire_server server("hotplug-c");
    const ae_context_options options = {"off", nullptr, "null", nullptr, 1};
    ae_context* ctx = nullptr;
    REQUIRE(ae_context_create(&options, &ctx) == AE_OK);
    REQUIRE(ae::test::wait_exit(ae::test::spawn({"pw-cli", "create-node", "adapter",
                                                 "{ factory.name=support.null-audio-sink node.name=openae_hotplug_c media.class=Audio/Sink "
                                                 "audio.rate=48000 audio.channels=2 audio.position=[FL FR] }"})) == 0);
    std::vector<std::string> told;
    // Bounded: 50 waits of 100 ms for the four events (each wait returns as soon as one is queued).
    for (int turns = 0; turns < 50 && told.size() < 4; ++turns) {
        ae_event e;
        std::uint64_t missed = 0;
        if (ae_context_poll_event(ctx, &e, 100, &missed) != 1) continue;
        if (!std::string_view(e.device).starts_with("pipewire:")) continue; // the JACK watch tells of other tests' servers
        if (e.kind == AE_EVENT_DEVICE_ADDED) told.push_back(std::string("added ") + e.device);
        if (e.kind == AE_EVENT_DEVICE_REMOVED) told.push_back(std::string("removed ") + e.device);
    }
    ae_context_destroy(ctx);
    const std::vector<std::string> expected{"added pipewire:openae_hotplug_c", "added pipewire:openae_hotplug_c?monitor=1",
                                            "removed pipewire:openae_hotplug_c", "removed pipewire:openae_hotplug_c?monitor=1"};
    CHECK(told == expected);
}
