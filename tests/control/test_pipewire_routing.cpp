// `auto` and a PipeWire server that starts after the context: the context's watch finds the
// server's socket, tells of its nodes and of `pipewire` (its default sink and source), makes it the
// default device, and the follow_default endpoints move to it; when the server stops they come back
// to null.
#include "auto_follow_rig.h"
#include "pipewire_server.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

TEST_CASE("pipewire via the control API: auto found only null - a PipeWire server starts later and follow_default endpoints move to it - it stops and they come back to null") {
    // Where the server will be (pipewire_server's directory), looked at before it exists.
    const std::string tag = "late";
    const std::string dir = "/tmp/openae-pw-" + tag + "-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    ::setenv("XDG_RUNTIME_DIR", dir.c_str(), 1);
    ::setenv("PIPEWIRE_RUNTIME_DIR", dir.c_str(), 1);
    ::unsetenv("OPENAE_DEFAULT_DEVICE");
    ::setenv("JACK_DEFAULT_SERVER", "openae-no-such-jack", 1);
    ::setenv("JACK_NO_START_SERVER", "1", 1);
    ae::test::auto_follow_rig rig;
    REQUIRE(rig.ctx.default_device() == "null"); // no PipeWire yet, no JACK, no sound card
    auto told = [&](ae::event_kind kind, const std::string& device) {
        for (const auto& e : rig.rec.of(kind)) {
            if (e.device == device) return true;
        }
        return false;
    };
    {
        ae::test::pipewire_server server(tag);
        REQUIRE(rig.follows_to("pipewire")); // the watch looks for the socket every 500 ms
        CHECK(rig.ctx.default_device() == "pipewire");
        CHECK(told(ae::event_kind::device_added, "pipewire"));
        CHECK(told(ae::event_kind::device_added, "pipewire:openae_test_sink"));
        CHECK(rig.woken_passes(20) == 20); // PipeWire's data thread consumes it
        CHECK(rig.rec.of(ae::event_kind::device_lost).empty());
    }
    // Stopped: its devices go, and the endpoint is back on null, the default again.
    CHECK(rig.follows_to("null"));
    CHECK(rig.ctx.default_device() == "null");
    // The endpoint moves when its device is lost; the watch tells of the server's nodes going
    // when its own connection breaks, which may come later (under TSan it did): passes until it
    // has (bounded like follows_to).
    for (int passes = 0; passes < 500 && !(told(ae::event_kind::device_removed, "pipewire") &&
                                           told(ae::event_kind::device_removed, "pipewire:openae_test_sink"));
         ++passes) {
        (void)rig.pass();
    }
    CHECK(told(ae::event_kind::device_removed, "pipewire"));
    CHECK(told(ae::event_kind::device_removed, "pipewire:openae_test_sink"));
    const std::uint64_t written_on_null = rig.written;
    for (int passes = 0; passes < 10; ++passes) (void)rig.pass();
    CHECK(rig.written > written_on_null);
    MESSAGE("stages ", rig.rec.stages());
    ::setenv("OPENAE_DEFAULT_DEVICE", "null", 1);
    ::unsetenv("JACK_DEFAULT_SERVER");
}
