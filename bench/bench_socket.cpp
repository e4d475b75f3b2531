// Control requests per second over the unix socket (docs/API.md, "Wire protocol"): N clients,
// each sending one request and waiting for its answer, in a loop, against a server with 8 running
// endpoints driven by the engine. Reports requests/s overall and the round-trip percentiles.
//
//   bench_socket [seconds-per-step] [clients...]      (default: 2 s, 1 4 16 100)
#include <openae/control/server.h>
#include <openae/rt/monotonic_clock.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

int connect_to(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        std::perror("connect");
        std::exit(1);
    }
    return fd;
}

// One request, one answer line. Returns false on a broken connection.
bool round_trip(int fd, const std::string& request, std::string& buffer) {
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) return false;
    for (;;) {
        if (auto nl = buffer.find('\n'); nl != std::string::npos) {
            buffer.erase(0, nl + 1);
            return true;
        }
        char chunk[65536];
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        buffer.append(chunk, static_cast<std::size_t>(n));
    }
}

struct step_result {
    std::uint64_t requests = 0;
    double seconds = 0;
    std::vector<double> round_trips_us;
};

step_result run_step(const std::string& path, int clients, double seconds, const std::string& request) {
    std::atomic<bool> go{false};
    std::atomic<bool> stop{false};
    std::vector<std::vector<double>> samples(static_cast<std::size_t>(clients));
    std::vector<std::uint64_t> counts(static_cast<std::size_t>(clients), 0);
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            const int fd = connect_to(path);
            std::string buffer;
            while (!go.load()) std::this_thread::yield();
            while (!stop.load(std::memory_order_relaxed)) {
                const ae::hns t0 = ae::monotonic_now();
                if (!round_trip(fd, request, buffer)) break;
                const ae::hns t1 = ae::monotonic_now();
                ++counts[static_cast<std::size_t>(c)];
                if (counts[static_cast<std::size_t>(c)] % 8 == 0) samples[static_cast<std::size_t>(c)].push_back(static_cast<double>((t1 - t0).count()) / 10.0);
            }
            ::close(fd);
        });
    }
    const ae::hns begin = ae::monotonic_now();
    go.store(true);
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); // the measurement window
    stop.store(true);
    const ae::hns end = ae::monotonic_now();
    for (auto& t : threads) t.join();
    step_result r;
    r.seconds = static_cast<double>((end - begin).count()) / 1e7;
    for (int c = 0; c < clients; ++c) {
        r.requests += counts[static_cast<std::size_t>(c)];
        r.round_trips_us.insert(r.round_trips_us.end(), samples[static_cast<std::size_t>(c)].begin(),
                                samples[static_cast<std::size_t>(c)].end());
    }
    std::sort(r.round_trips_us.begin(), r.round_trips_us.end());
    return r;
}

double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())))];
}

} // namespace

int main(int argc, char** argv) {
    const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
    std::vector<int> steps;
    for (int i = 2; i < argc; ++i) steps.push_back(std::atoi(argv[i]));
    if (steps.empty()) steps = {1, 4, 16, 100};

    ae::context_options options;
    options.log_level = "warn";
    ae::context ctx(options);
    auto eng = ae::engine::create();
    if (!eng) return 1;
    ae::control_service service(ctx, **eng);
    ae::server_options server_options;
    server_options.path = "/tmp/openae-bench-" + std::to_string(::getpid()) + ".sock";
    auto server = ae::control_server::create(service, server_options);
    if (!server) {
        std::fprintf(stderr, "%s\n", server.error().message.c_str());
        return 1;
    }
    for (int i = 0; i < 8; ++i) {
        const std::string create = R"({"op":"create","endpoint":"ep)" + std::to_string(i) +
                                   R"(","direction":"render","period_ms":10,"start":true})";
        if (service.request(create).find(R"("ok":true)") == std::string::npos) return 1;
    }
    std::printf("8 running endpoints; %.1f s per step\n", seconds);
    std::printf("%-28s %8s %12s %10s %10s %10s\n", "request", "clients", "requests/s", "p50 us", "p99 us", "max us");
    const std::pair<const char*, std::string> requests[] = {
        {"list", R"({"id":1,"op":"list"})"},
        {"status (one endpoint)", R"({"id":1,"op":"status","endpoint":"ep3"})"},
        {"status (all 8)", R"({"id":1,"op":"status"})"},
    };
    for (const auto& [label, request] : requests) {
        for (const int clients : steps) {
            const auto r = run_step((*server)->path(), clients, seconds, request + "\n");
            std::printf("%-28s %8d %12.0f %10.1f %10.1f %10.1f\n", label, clients, static_cast<double>(r.requests) / r.seconds,
                        percentile(r.round_trips_us, 0.5), percentile(r.round_trips_us, 0.99),
                        r.round_trips_us.empty() ? 0.0 : r.round_trips_us.back());
        }
    }
    const auto c = (*server)->counters();
    std::printf("server: %llu requests, %llu bad, %llu clients dropped\n", static_cast<unsigned long long>(c.requests),
                static_cast<unsigned long long>(c.bad_requests), static_cast<unsigned long long>(c.dropped_slow));
    return 0;
}
