// The JACK side of the endpoint-count comparison: N jack_simple_client-style clients (stereo
// pass-through, system:capture → client → system:playback, mixed by JACK at the playback ports)
// on a running jackd. Counts xruns over the run and reports this process's CPU; the jackd
// process's CPU is read from /proc by the caller (bench/run_jack_compare.sh). A second line gives
// how long the first client's process callbacks took (bench/callback_timer.h).
//
//   jack_clients SERVER N SECONDS
#include "callback_timer.h"

#include <jack/jack.h>

#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

struct client {
    ae::bench::callback_timer callback_time;
    jack_client_t* handle = nullptr;
    jack_port_t* in[2] = {};
    jack_port_t* out[2] = {};
};

std::atomic<int> g_xruns{0};

int process(jack_nframes_t frames, void* arg) {
    auto* c = static_cast<client*>(arg);
    c->callback_time.begin();
    for (int ch = 0; ch < 2; ++ch) {
        const auto* in = static_cast<const jack_default_audio_sample_t*>(jack_port_get_buffer(c->in[ch], frames));
        auto* out = static_cast<jack_default_audio_sample_t*>(jack_port_get_buffer(c->out[ch], frames));
        std::memcpy(out, in, sizeof(jack_default_audio_sample_t) * frames);
    }
    c->callback_time.end();
    return 0;
}

int on_xrun(void*) {
    g_xruns.fetch_add(1, std::memory_order_relaxed);
    return 0;
}

double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: jack_clients SERVER N SECONDS\n");
        return 2;
    }
    const char* server = argv[1];
    const int count = std::atoi(argv[2]);
    const double seconds = std::atof(argv[3]);
    std::vector<client> clients(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        client& c = clients[static_cast<std::size_t>(i)];
        const std::string name = "pass" + std::to_string(i);
        jack_status_t status{};
        c.handle = jack_client_open(name.c_str(), static_cast<jack_options_t>(JackNoStartServer | JackServerName), &status, server);
        if (!c.handle) {
            std::fprintf(stderr, "jack_client_open %s failed (status 0x%x) after %d clients\n", name.c_str(), status, i);
            return 1;
        }
        for (int ch = 0; ch < 2; ++ch) {
            c.in[ch] = jack_port_register(c.handle, ("in" + std::to_string(ch + 1)).c_str(), JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
            c.out[ch] = jack_port_register(c.handle, ("out" + std::to_string(ch + 1)).c_str(), JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
        }
        jack_set_process_callback(c.handle, process, &c);
        if (i == 0) jack_set_xrun_callback(c.handle, on_xrun, nullptr);
        if (jack_activate(c.handle) != 0) {
            std::fprintf(stderr, "jack_activate %s failed\n", name.c_str());
            return 1;
        }
        for (int ch = 0; ch < 2; ++ch) {
            const std::string capture = "system:capture_" + std::to_string(ch + 1);
            const std::string playback = "system:playback_" + std::to_string(ch + 1);
            jack_connect(c.handle, capture.c_str(), jack_port_name(c.in[ch]));
            jack_connect(c.handle, jack_port_name(c.out[ch]), playback.c_str());
        }
    }
    // Let the graph settle, then measure.
    timespec settle{1, 0};
    nanosleep(&settle, nullptr);
    const int xruns_before = g_xruns.load();
    const double cpu_before = cpu_seconds();
    timespec run{static_cast<time_t>(seconds), static_cast<long>((seconds - static_cast<time_t>(seconds)) * 1e9)};
    nanosleep(&run, nullptr);
    const double cpu = cpu_seconds() - cpu_before;
    const int xruns = g_xruns.load() - xruns_before;
    std::printf("clients %d xruns %d client_cpu %.1f%%\n", count, xruns, 100 * cpu / seconds);
    for (auto& c : clients) jack_client_close(c.handle);
    clients.front().callback_time.print("pass0");
    return 0;
}
