// The ALSA device against ALSA itself: PCMs of a test-only configuration (tests/data/alsa), the
// file plugin over null — what openae plays is checked sample by sample in the file the plugin
// wrote, and what it records comes sample by sample from the file the plugin read.
#include "jack_server.h"
#include "signal_rig.h"

#include <openae/pipeline/device_discovery.h>

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace ae::test::signal;

namespace {

std::string temp_raw(const char* name) { return "/tmp/openae-alsa-" + std::to_string(::getpid()) + "-" + name + ".raw"; }

std::vector<std::int16_t> read_raw_s16(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::int16_t> out(bytes.size() / 2);
    std::memcpy(out.data(), bytes.data(), out.size() * 2);
    return out;
}

using ae::test::jack_server;

} // namespace

TEST_CASE("alsa: an unknown PCM or option is a typed error naming the device") {
    auto missing = make_device("alsa:no_such_pcm_here", endpoint_direction::render);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ae::errc::device_unavailable);
    CHECK(missing.error().message.find("alsa device 'alsa:no_such_pcm_here'") != std::string::npos);
    auto typo = make_device("alsa:null?perods=3", endpoint_direction::render);
    REQUIRE_FALSE(typo);
    CHECK(typo.error().code == ae::errc::bad_argument);
    auto fine = make_device("alsa:null?rate=44100&channels=1&period=5", endpoint_direction::capture);
    REQUIRE(fine);
    CHECK((*fine)->format() == ae::frame_format{44100, 1, ae::sample_type::s16});
    CHECK((*fine)->period_frames() == 221); // 5 ms at 44.1 kHz, rounded
}

TEST_CASE("alsa: render through the file plugin, sample-exact after the start's silence, read/write and mmap access") {
    std::string access;
    SUBCASE("read/write") { access = ""; }
    SUBCASE("mmap") { access = "&mmap=1"; }
    CAPTURE(access);
    const std::string path = temp_raw("render");
    render_through("alsa:ae_out:FILE=" + path + "?paced=0&period=10&periods=2" + access, 48000, 48000);
    const auto samples = read_raw_s16(path);
    std::remove(path.c_str());
    // One period of silence went in ahead (a 2-period buffer, the first play() fills it), then
    // every frame the engine wrote.
    REQUIRE(samples.size() >= 2u * (480 + 48000));
    std::size_t leading_silence = 0;
    while (leading_silence < 480 && samples[2 * leading_silence] == 0 && samples[2 * leading_silence + 1] == 0) ++leading_silence;
    CHECK(leading_silence == 480);
    std::size_t mismatches = 0;
    for (std::uint64_t n = 0; n < 48000; ++n) {
        mismatches += samples[2 * (480 + n)] != static_cast<std::int16_t>(static_cast<int>(n % 65536) - 32768);
        mismatches += samples[2 * (480 + n) + 1] != to_s16(sine(n, 48000));
    }
    CHECK(mismatches == 0);
}

TEST_CASE("alsa: capture through the file plugin's infile, sample-exact, read/write and mmap access") {
    std::string access;
    SUBCASE("read/write") { access = ""; }
    SUBCASE("mmap") { access = "&mmap=1"; }
    CAPTURE(access);
    const std::string path = temp_raw("capture");
    {
        std::vector<std::int16_t> samples(2 * 48000);
        for (std::uint64_t n = 0; n < 48000; ++n) {
            samples[2 * n] = static_cast<std::int16_t>(static_cast<int>(n % 65536) - 32768);
            samples[2 * n + 1] = to_s16(sine(n, 48000));
        }
        std::ofstream out(path, std::ios::binary);
        out.write(reinterpret_cast<const char*>(samples.data()), static_cast<std::streamsize>(samples.size() * 2));
    }
    const auto received = capture_through("alsa:ae_in:FILE=" + path + "?paced=0&period=10" + access, 48000);
    std::remove(path.c_str());
    REQUIRE(received.size() == 2u * 48000);
    std::size_t mismatches = 0;
    for (std::uint64_t n = 0; n < 48000; ++n) {
        mismatches += received[2 * n] != marker(n);
        mismatches += received[2 * n + 1] != static_cast<float>(to_s16(sine(n, 48000))) / 32768.0f;
    }
    CHECK(mismatches == 0);
}

TEST_CASE("alsa: a paced PCM (the jack plugin into a jackd dummy) takes the stream at the device's pace, poll() the wait point") {
    jack_server server("alsa");
    const auto begin = std::chrono::steady_clock::now();
    const auto seen = render_through("alsa:ae_jack?period=10&periods=4", 48000, 96000, false);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    MESSAGE("48,000 frames into the jack PCM in ", seconds, " s; underruns ", seen.underruns, ", dropped ", seen.dropped);
    // Paced: a second of audio takes about a second (less only by what its buffers held ahead:
    // 30 ms of openae's start silence and the plugin's own period). An unpaced device takes
    // milliseconds. A lower bound only: how fast this machine is does not decide the test.
    CHECK(seconds >= 0.9);
}

TEST_CASE("alsa: the PCM's server dies mid-stream: the device is lost, the loop runs on on its virtual clock") {
    jack_server server("alsa");
    ae::render_endpoint_core endpoint{1};
    REQUIRE_FALSE(endpoint.set_buffer({48000, 2, ae::sample_type::f32}, 480, 1920));
    ae::test::event_fd wake;
    REQUIRE_FALSE(endpoint.set_event_handle(wake.get()));
    auto dev = make_device("alsa:ae_jack?period=10&periods=4", endpoint_direction::render);
    REQUIRE(dev);
    auto thread = device_thread::create(std::move(*dev), {.realtime_priority = 0});
    REQUIRE(thread);
    REQUIRE((*thread)->control().attach(endpoint));
    REQUIRE_FALSE(endpoint.start());
    REQUIRE((*thread)->start());
    std::uint64_t written = 0;
    auto pass = [&] {
        (void)ae::test::render_pass(endpoint.rt(), written, ~std::uint64_t{0}, [](std::uint64_t n, float* f) { f[0] = f[1] = marker(n); });
        return wake.wait(100);
    };
    int timeouts = 0;
    while ((*thread)->frames_processed() < 9600 && timeouts < 50) timeouts += pass() ? 0 : 1;
    REQUIRE((*thread)->frames_processed() >= 9600);
    server.stop(); // jackd gone: the PCM with it
    bool lost = false;
    std::uint64_t frames_at_loss = 0;
    for (int passes = 0; passes < 400 && !lost; ++passes) {
        (void)pass();
        ae::pipeline::device_event event;
        while ((*thread)->control().try_pop_event(event)) {
            if (event.kind == device_event_kind::lost) {
                lost = true;
                frames_at_loss = (*thread)->frames_processed();
            }
        }
    }
    REQUIRE(lost);
    // The endpoint goes on, carried by the lost device's virtual clock.
    for (int passes = 0; passes < 10; ++passes) (void)pass();
    CHECK((*thread)->frames_processed() > frames_at_loss);
    (*thread)->stop();
}

TEST_CASE("alsa: discovery lists the PCMs ALSA's hints show, the test configuration's among them, with default") {
    const auto found = ae::pipeline::discover_alsa_devices();
    const auto listed = std::find_if(found.begin(), found.end(), [](const auto& d) { return d.spec == "alsa:ae_listed"; });
    REQUIRE(listed != found.end());
    CHECK(listed->kind == "alsa");
    CHECK(listed->description == "openae test PCM");
    CHECK(listed->render);
    CHECK(listed->capture);
    CHECK_FALSE(listed->backend_default);
    // The listed spec opens as it is.
    auto dev = make_device(listed->spec + "?paced=0", endpoint_direction::render);
    CHECK(dev);
    const auto defaults = std::count_if(found.begin(), found.end(), [](const auto& d) { return d.backend_default; });
    CHECK(defaults <= 1);
}

TEST_CASE("alsa: auto chooses ALSA's default PCM when no sound server answers") {
    const std::string empty = "/tmp/openae-no-pw-" + std::to_string(::getpid());
    std::filesystem::create_directories(empty);
    ::setenv("PIPEWIRE_RUNTIME_DIR", empty.c_str(), 1);
    ::setenv("JACK_DEFAULT_SERVER", "openae-no-such-server", 1);
    ::unsetenv("OPENAE_DEFAULT_DEVICE");
    const auto choice = ae::pipeline::choose_default_device();
    CHECK(choice.spec == "alsa:default");
    CHECK(choice.reason == "ALSA's default PCM opens");
    ::setenv("OPENAE_DEFAULT_DEVICE", "null?period=5", 1);
    CHECK(ae::pipeline::choose_default_device().spec == "null?period=5");
    ::setenv("OPENAE_DEFAULT_DEVICE", "null", 1);
    std::filesystem::remove_all(empty);
}
