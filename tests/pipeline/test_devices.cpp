// Device specs and device construction errors.
#include <openae/pipeline/devices.h>
#include <openae/pipeline/virtual_clock.h>
#include <openae/rt/errc.h>
#include <openae/rt/virtual_time.h>

#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <iterator>
#include <vector>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace ae::pipeline;
using ae::endpoint_direction;

TEST_CASE("device specs") {
    SUBCASE("kind, target and options") {
        auto spec = device_spec::parse("wav:/tmp/x.wav?realtime=1&rate=44100");
        REQUIRE(spec);
        CHECK(spec->kind() == "wav");
        CHECK(spec->target() == "/tmp/x.wav");
        CHECK(spec->take_flag("realtime", false).value());
        CHECK(spec->take_count("rate", 48000, 8000, 384000).value() == 44100);
        CHECK(spec->finish().has_value());
    }
    SUBCASE("malformed options are refused, naming them") {
        auto no_value = device_spec::parse("null?rate");
        REQUIRE_FALSE(no_value);
        CHECK(no_value.error().code == ae::errc::bad_argument);
        CHECK(no_value.error().message.find("'rate'") != std::string::npos);
        CHECK_FALSE(device_spec::parse("null?rate=1&rate=2"));
        CHECK_FALSE(device_spec::parse(":x"));
    }
    SUBCASE("bad values and unknown options name the key") {
        auto bad_rate = make_device("null?rate=fast", endpoint_direction::render);
        REQUIRE_FALSE(bad_rate);
        CHECK(bad_rate.error().code == ae::errc::bad_argument);
        CHECK(bad_rate.error().message.find("'rate'") != std::string::npos);
        auto out_of_range = make_device("null?channels=9", endpoint_direction::render);
        REQUIRE_FALSE(out_of_range);
        CHECK(out_of_range.error().message.find("out of range") != std::string::npos);
        auto unknown = make_device("null?colour=blue", endpoint_direction::render);
        REQUIRE_FALSE(unknown);
        CHECK(unknown.error().message.find("unknown option 'colour'") != std::string::npos);
        auto sample = make_device("null?sample=u8", endpoint_direction::render);
        REQUIRE_FALSE(sample);
        CHECK(sample.error().code == ae::errc::unsupported_format);
    }
    SUBCASE("unknown kinds") {
        auto unknown = make_device("theremin", endpoint_direction::render);
        REQUIRE_FALSE(unknown);
        CHECK(unknown.error().code == ae::errc::device_unavailable);
        CHECK(unknown.error().message.find("theremin") != std::string::npos);
    }
    SUBCASE("null: format and period from the options") {
        auto dev = make_device("null?rate=44100&channels=1&sample=s16&period=5", endpoint_direction::capture);
        REQUIRE(dev);
        CHECK((*dev)->format() == ae::frame_format{44100, 1, ae::sample_type::s16});
        CHECK((*dev)->period_frames() == 221); // 5 ms at 44.1 kHz, rounded
        CHECK((*dev)->realtime());
        CHECK((*dev)->direction() == endpoint_direction::capture);
    }
    SUBCASE("faulty: its own options, the rest to the inner device") {
        auto dev = make_device("faulty:null?rate=32000&unplug_at_ms=100", endpoint_direction::render);
        REQUIRE(dev);
        CHECK((*dev)->format().sample_rate == 32000);
        auto typo = make_device("faulty:null?unplug_at=100", endpoint_direction::render);
        REQUIRE_FALSE(typo); // reaches the inner device, which refuses it
        CHECK(typo.error().message.find("unplug_at") != std::string::npos);
        CHECK_FALSE(make_device("faulty", endpoint_direction::render));
    }
    SUBCASE("faulty: commands are checked") {
        auto dev = make_device("faulty:null", endpoint_direction::render);
        REQUIRE(dev);
        CHECK((*dev)->inject("unplug").has_value());
        CHECK((*dev)->inject("stall:20").has_value());
        CHECK((*dev)->inject("late:5:2").has_value());
        CHECK((*dev)->inject("format:44100:1:s16").has_value());
        auto bad = (*dev)->inject("explode");
        REQUIRE_FALSE(bad);
        CHECK(bad.error().code == ae::errc::bad_argument);
        CHECK_FALSE((*dev)->inject("stall:-1"));
        CHECK_FALSE((*dev)->inject("format:12"));
        auto plain = make_device("null", endpoint_direction::render);
        CHECK_FALSE((*plain)->inject("unplug"));
    }
}

TEST_CASE("wav device errors name the file and the reason") {
    SUBCASE("a missing file") {
        auto dev = make_device("wav:/nonexistent/in.wav", endpoint_direction::capture);
        REQUIRE_FALSE(dev);
        CHECK(dev.error().code == ae::errc::device_unavailable);
        CHECK(dev.error().message.find("/nonexistent/in.wav") != std::string::npos);
    }
    SUBCASE("a corrupt file") {
        const std::string path = "/tmp/openae-corrupt-" + std::to_string(::getpid()) + ".wav";
        {
            std::ofstream out(path, std::ios::binary);
            out << "RIFF\x10\x00\x00\x00WAVEfmt garbage that is not a wav header at all";
        }
        auto dev = make_device("wav:" + path, endpoint_direction::capture);
        std::remove(path.c_str());
        REQUIRE_FALSE(dev);
        CHECK(dev.error().code == ae::errc::unsupported_format);
        CHECK(dev.error().message.find(path) != std::string::npos);
        CHECK(dev.error().message.size() > path.size() + 20); // carries libsndfile's reason
    }
    SUBCASE("options a source cannot honour") {
        auto dev = make_device("wav:/tmp/whatever.wav?rate=44100", endpoint_direction::capture);
        REQUIRE_FALSE(dev);
        CHECK(dev.error().message.find("'rate'") != std::string::npos);
    }
    SUBCASE("no path") {
        CHECK_FALSE(make_device("wav", endpoint_direction::render));
    }
}

TEST_CASE("wav device: a render file is complete when stop() returns, before the device object goes") {
    // A destroy is answered once the sink's stop() is done; a client reads the file then, while
    // the device object may still live on another thread.
    const std::string path = "/tmp/openae-test-stop-" + std::to_string(::getpid()) + ".wav";
    auto dev = make_device("wav:" + path + "?rate=48000&channels=2&sample=s16", endpoint_direction::render);
    REQUIRE(dev);
    REQUIRE((*dev)->start());
    std::vector<std::byte> period(std::size_t{(*dev)->period_frames()} * (*dev)->format().bytes_per_frame(), std::byte{0x11});
    for (int i = 0; i < 10; ++i) {
        REQUIRE((*dev)->wait_period() != device_status::lost);
        REQUIRE((*dev)->play(period.data(), (*dev)->period_frames()) != device_status::lost);
    }
    (*dev)->stop();
    std::ifstream file(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    REQUIRE(bytes.size() == 44 + 10 * period.size());
    std::uint32_t riff_size = 0, data_size = 0;
    std::memcpy(&riff_size, bytes.data() + 4, 4);
    std::memcpy(&data_size, bytes.data() + 40, 4);
    CHECK(riff_size == bytes.size() - 8);
    CHECK(data_size == 10 * period.size());
    dev->reset();
    std::remove(path.c_str());
}

TEST_CASE("virtual_clock: a pace changed between periods takes effect from the last wake - no step in position or time") {
    ae::virtual_time time(ae::hns{1'000'000'000});
    ae::pipeline::virtual_clock clock({.rate = 48000, .period_frames = 480});
    clock.start(time.now());
    ae::pipeline::device_timing last{};
    for (int i = 1; i <= 10; ++i) {
        last = clock.wait_next();
        CHECK(last.position == 480u * static_cast<unsigned>(i));
    }
    clock.set_drift_ppm(1000); // 48,048 frames a second from here on
    for (int i = 11; i <= 20; ++i) {
        const auto t = clock.wait_next();
        CHECK(t.position == 480u * static_cast<unsigned>(i));
        // 480 frames at 48,048/s: 99,900.1 hns apart (not 100,000).
        CHECK(std::llabs((t.time - last.time).count() - 99'900) <= 1);
        last = t;
    }
    clock.set_drift_ppm(0);
    const auto t = clock.wait_next();
    CHECK(t.position == 480u * 21);
    CHECK((t.time - last.time).count() == 100'000);
}
