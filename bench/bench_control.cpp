// Control-plane figures: format-change latency (request → the engine's next pass runs in the new
// epoch) and glitches per change, device loss → rerouted time, and blocking control calls per
// second (in-process; the socket API is not there yet).
//
//   bench_control [changes] [losses] [period_ms]   (period of the rate-change section, default 2.6667)
#include <openae/control/context.h>
#include <openae/pipeline/convert.h>
#include <openae/rt/monotonic_clock.h>
#include <openae/rt/thread_name.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace {

double ms_between(ae::hns a, ae::hns b) { return static_cast<double>((b - a).count()) / 1e4; }

void wait_fd(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) > 0) {
        std::uint64_t n = 0;
        [[maybe_unused]] auto got = ::read(fd, &n, sizeof n);
    }
}

// Tops the endpoint up (silence in its current encoding) and ends the pass; returns the epoch.
std::uint32_t pass(ae::render_endpoint_rt& rt) {
    ae::position pos;
    const std::uint64_t padding = rt.current_padding(&pos);
    // After a rate change the old ring may still hold more than the new one's size.
    std::uint64_t free = rt.buffer_frames() > padding ? rt.buffer_frames() - padding : 0;
    while (free > 0) {
        const auto frames = static_cast<std::uint32_t>(std::min<std::uint64_t>(rt.frames_per_packet(), free));
        auto span = rt.output_data_pointer(frames);
        if (!span) break;
        rt.release_output_data_pointer({*span, frames, ae::buffer_flags::silent});
        free -= frames;
    }
    rt.processing_complete();
    return pos.epoch;
}

void print_stats(const char* what, std::vector<double> values) {
    std::sort(values.begin(), values.end());
    double sum = 0;
    for (double v : values) sum += v;
    std::printf("%s: n=%zu median %.3f ms, mean %.3f ms, p99 %.3f ms, max %.3f ms\n", what, values.size(),
                values[values.size() / 2], sum / static_cast<double>(values.size()), values[values.size() * 99 / 100], values.back());
}

} // namespace

int main(int argc, char** argv) {
    const int changes = argc > 1 ? std::atoi(argv[1]) : 1000;
    const int losses = argc > 2 ? std::atoi(argv[2]) : 20;
    const double rate_period_ms = argc > 3 ? std::atof(argv[3]) : 2.6667;
    ae::context_options options;
    options.log_level = "off";
    options.default_device = "null?period=2.6667";
    ae::context ctx(options);
    const int wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    // 1. Format changes while the engine renders: request → the engine's first pass in the new
    //    epoch (it takes effect at processing_complete, so "live" = the next pass starts in it).
    //    Same rate (s16 <-> f32), then rate changes (48 kHz <-> 44.1 kHz: a chain swap at the seam).
    const std::array<std::array<ae::frame_format, 2>, 2> change_sets{
        std::array<ae::frame_format, 2>{ae::frame_format{48000, 2, ae::sample_type::s16}, ae::frame_format{48000, 2, ae::sample_type::f32}},
        std::array<ae::frame_format, 2>{ae::frame_format{44100, 2, ae::sample_type::f32}, ae::frame_format{48000, 2, ae::sample_type::f32}}};
    for (const auto& formats : std::array<std::array<ae::frame_format, 2>, 1>{change_sets[0]}) {
        const bool same_rate = formats[0].sample_rate == formats[1].sample_rate;
        const int count = same_rate ? changes : std::max(1, changes / 5);
        std::printf("-- %s\n", formats[0].sample_rate == formats[1].sample_rate ? "same rate: s16 <-> f32 at 48 kHz"
                                                                                : "rate changes: 44.1 kHz <-> 48 kHz");
        std::atomic<std::uint64_t> underruns{0};
        std::array<std::atomic<std::uint64_t>, ae::glitch_kind_count + 1> by_kind{};
        std::mutex records_mutex;
        std::vector<ae::event> records; // where the glitches fall: epoch, position
        const auto id = ctx.subscribe([&](const ae::event& e) {
            if (e.kind != ae::event_kind::glitch) return;
            underruns.fetch_add(1);
            by_kind[static_cast<std::size_t>(e.glitch)].fetch_add(e.frames);
            const std::lock_guard lock(records_mutex);
            records.push_back(e);
        });
        auto ep = ctx.create_render_endpoint({.name = "fmt", .device = "null?period=2.6667", .period = ae::hns{26'667}});
        (void)ep->set_event_handle(wake);
        (void)ep->start();
        for (int i = 0; i < 8; ++i) { pass(ep->rt()); wait_fd(wake, 100); }
        std::vector<double> call_ms, live_ms;
        std::uint64_t busy = 0;
        // Is an underrun here the seam's or this engine's? This thread is the engine and blocks in
        // set_format on ae-ctl: for each change, the longest time between the end of one of its
        // passes and the start of the next (its buffer holds two periods, 5.33 ms).
        std::vector<double> engine_away_ms;
        ae::hns last_pass_end = ae::monotonic_now();
        double away_this_change = 0;
        auto pass = [&](ae::render_endpoint_rt& rt) {
            away_this_change = std::max(away_this_change, ms_between(last_pass_end, ae::monotonic_now()));
            const std::uint32_t e = ::pass(rt);
            last_pass_end = ae::monotonic_now();
            return e;
        };
        const std::uint32_t first_epoch = pass(ep->rt());
        std::uint32_t epoch = first_epoch;
        for (int change = 0; change < count; ++change) {
            const ae::hns asked = ae::monotonic_now();
            std::error_code ec = ep->set_format(formats[static_cast<std::size_t>(change) % 2]);
            // `busy`: too many reconfigurations still in flight; a pass lets the RT side retire one.
            for (int retry = 0; ec == ae::errc::busy && retry < 100; ++retry) {
                ++busy;
                pass(ep->rt());
                wait_fd(wake, 100);
                ec = ep->set_format(formats[static_cast<std::size_t>(change) % 2]);
            }
            if (ec) {
                std::fprintf(stderr, "set_format failed at change %d: %s\n", change, ec.message().c_str());
                return 1;
            }
            const ae::hns answered = ae::monotonic_now();
            // The engine's next pass applies it at its end; the pass after runs in it.
            std::uint32_t seen = epoch;
            for (int p = 0; p < 4 && seen == epoch; ++p) {
                pass(ep->rt());
                seen = ep->rt().epoch();
                if (seen == epoch) wait_fd(wake, 100);
            }
            const ae::hns live = ae::monotonic_now();
            epoch = seen;
            call_ms.push_back(ms_between(asked, answered));
            live_ms.push_back(ms_between(asked, live));
            // The engine's own pace: one pass per device period. Rate changes get 20 periods
            // (53 ms) between them: a resampler's own delay is 6-7 ms.
            const int between = same_rate ? 1 : 20;
            for (int p = 0; p < between; ++p) {
                wait_fd(wake, 100);
                pass(ep->rt());
            }
            engine_away_ms.push_back(away_this_change);
            away_this_change = 0;
        }
        for (int i = 0; i < 8; ++i) { pass(ep->rt()); wait_fd(wake, 100); }
        (void)ep->stop();
        (void)ctx.destroy("fmt"); // a round trip: the last drain has run
        ctx.unsubscribe(id);
        print_stats("set_format call (blocking, request -> queued)", call_ms);
        print_stats("format change request -> live in the engine", live_ms);
        print_stats("the engine's longest time between passes, per change", engine_away_ms);
        const auto away_longer = std::count_if(engine_away_ms.begin(), engine_away_ms.end(), [](double ms) { return ms > 2.6667; });
        std::printf("changes where the engine was away longer than one period (its buffer holds two): %td\n", away_longer);
        for (const auto& g : records) {
            // The epoch names the change it fell in (one epoch per change).
            const auto change = static_cast<std::size_t>(g.epoch - first_epoch);
            double away = 0;
            for (std::size_t c = change > 0 ? change - 1 : 0; c <= change && c < engine_away_ms.size(); ++c) away = std::max(away, engine_away_ms[c]);
            std::printf("  glitch %s frames %llu epoch %u (change %zu): the engine was away up to %.3f ms around it\n", ae::to_string(g.glitch),
                        static_cast<unsigned long long>(g.frames), g.epoch, change, away);
        }
        std::printf("busy answers (retried after a pass): %llu\n", static_cast<unsigned long long>(busy));
        std::printf("glitches during %d changes: %llu (%.4f per change); frames:", count,
                    static_cast<unsigned long long>(underruns.load()), static_cast<double>(underruns.load()) / count);
        for (int k = 1; k <= ae::glitch_kind_count; ++k)
            std::printf(" %s=%llu", ae::to_string(static_cast<ae::glitch_kind>(k)), static_cast<unsigned long long>(by_kind[static_cast<std::size_t>(k)].load()));
        std::printf("\n");
    }

    // 1b. Rate changes (44.1 kHz <-> 48 kHz): the engine on its own thread (a real engine never
    //     waits for a control call: building the new chain's resampler takes milliseconds on
    //     ae-ctl), the benchmark's thread asking for a change every 53 ms (20 periods).
    //     The same for same-rate changes (s16 <-> f32), 2 periods apart: section 1's engine is
    //     this benchmark's own thread, blocked in each set_format call — does an underrun there
    //     come from the seam or from that engine waiting for ae-ctl?
    auto threaded = [&](const std::array<ae::frame_format, 2>& formats, int count, int periods_between, const char* label) {
        std::printf("-- %s, engine on its own thread\n", label);
        std::atomic<std::uint64_t> glitches{0};
        std::array<std::atomic<std::uint64_t>, ae::glitch_kind_count + 1> by_kind{};
        std::mutex first_mutex;
        std::vector<ae::event> first_glitches; // where the glitches fall: epoch, position
        const auto id = ctx.subscribe([&](const ae::event& e) {
            if (e.kind != ae::event_kind::glitch) return;
            glitches.fetch_add(1);
            by_kind[static_cast<std::size_t>(e.glitch)].fetch_add(e.frames);
            const std::lock_guard lock(first_mutex);
            if (first_glitches.size() < 12) first_glitches.push_back(e);
        });
        const auto rate_period = ae::hns{static_cast<std::int64_t>(rate_period_ms * 10'000)};
        std::printf("   device and endpoint period %.4f ms\n", rate_period_ms);
        auto ep = ctx.create_render_endpoint(
            {.name = "rate", .device = "null?period=" + std::to_string(rate_period_ms), .period = rate_period});
        (void)ep->set_event_handle(wake);
        (void)ep->start();
        std::atomic<bool> stop{false};
        std::atomic<std::uint32_t> live_epoch{0};
        std::atomic<std::int64_t> live_at{0};
        std::atomic<std::uint32_t> installed_epoch{0};
        std::atomic<std::int64_t> installed_at{0};
        std::thread engine([&] {
            ae::set_current_thread_name("ae-rt-engine");
            (void)ae::try_set_realtime_priority(60); // as ae::engine does: ae-ctl's work must not delay it
            while (!stop.load()) {
                const std::uint32_t e = pass(ep->rt());
                // The barrier: the new format is installed at this pass's processing_complete.
                const std::uint32_t installed = ep->rt().epoch();
                if (installed != installed_epoch.load(std::memory_order_relaxed)) {
                    installed_at.store(ae::monotonic_now().count());
                    installed_epoch.store(installed);
                }
                if (e != live_epoch.load(std::memory_order_relaxed)) {
                    live_at.store(ae::monotonic_now().count());
                    live_epoch.store(e);
                }
                wait_fd(wake, 100);
            }
        });
        // A probe: a round trip through ae-ctl every millisecond while the rates change (the new
        // chain's resampler is built on a helper thread: ae-ctl should never be busy for long).
        std::atomic<bool> probing{true};
        std::vector<double> probe_ms;
        std::thread probe([&] {
            while (probing.load()) {
                const ae::hns sent = ae::monotonic_now();
                (void)ctx.devices();
                probe_ms.push_back(ms_between(sent, ae::monotonic_now()));
                const timespec tick = ae::to_timespec(ae::monotonic_now() + ae::hns{10'000});
                ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, nullptr);
            }
        });
        std::vector<double> call_ms, live_ms, installed_ms, request_installed_ms;
        for (int change = 0; change < count; ++change) {
            const std::uint32_t before = ep->epoch();
            const ae::hns asked = ae::monotonic_now();
            if (auto ec = ep->set_format(formats[static_cast<std::size_t>(change) % 2])) {
                std::fprintf(stderr, "set_format failed at change %d: %s\n", change, ec.message().c_str());
                std::exit(1);
            }
            const ae::hns answered = ae::monotonic_now();
            call_ms.push_back(ms_between(asked, answered));
            const ae::hns deadline = ae::monotonic_now() + ae::hns{10'000'000};
            // Polled every 0.1 ms, not spun: the engine, the device thread and ae-ctl share 2 cores.
            while (live_epoch.load() != before + 1 && ae::monotonic_now() < deadline) {
                const timespec tick = ae::to_timespec(ae::monotonic_now() + ae::hns{1'000});
                ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, nullptr);
            }
            live_ms.push_back(ms_between(asked, ae::hns{live_at.load()}));
            if (installed_epoch.load() == before + 1) {
                installed_ms.push_back(ms_between(answered, ae::hns{installed_at.load()}));
                request_installed_ms.push_back(ms_between(asked, ae::hns{installed_at.load()}));
            }
            const timespec next = ae::to_timespec(asked + rate_period * periods_between);
            ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
        }
        const timespec settle = ae::to_timespec(ae::monotonic_now() + ae::hns{500'000});
        ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &settle, nullptr);
        stop = true;
        engine.join();
        probing = false;
        probe.join();
        (void)ep->stop();
        (void)ctx.destroy("rate");
        ctx.unsubscribe(id);
        print_stats("set_format call (blocking; a new rate's chain built and primed on a helper)", call_ms);
        print_stats("ae-ctl round trip (context::devices) while rates change", probe_ms);
        for (const auto& g : first_glitches) {
            std::printf("  glitch %s epoch %u stream_position %llu frames %llu\n", ae::to_string(g.glitch), g.epoch,
                        static_cast<unsigned long long>(g.stream_position), static_cast<unsigned long long>(g.frames));
        }
        print_stats("set_format answered -> installed at the engine's next processing_complete", installed_ms);
        print_stats("change request -> installed", request_installed_ms);
        print_stats("change request -> the engine's first pass in the new epoch", live_ms);
        std::printf("glitches during %d changes: %llu (%.4f per change); frames:", count,
                    static_cast<unsigned long long>(glitches.load()), static_cast<double>(glitches.load()) / count);
        for (int k = 1; k <= ae::glitch_kind_count; ++k)
            std::printf(" %s=%llu", ae::to_string(static_cast<ae::glitch_kind>(k)),
                        static_cast<unsigned long long>(by_kind[static_cast<std::size_t>(k)].load()));
        std::printf("\n");
    };
    threaded(change_sets[0], changes, 2, "same rate: s16 <-> f32 at 48 kHz");
    threaded(change_sets[1], std::max(1, changes / 5), 20, "rate changes: 44.1 kHz <-> 48 kHz");

    // 2. Device loss → rerouted (follow_default), `losses` times.
    {
        std::vector<double> reroute_ms;
        for (int i = 0; i < losses; ++i) {
            std::mutex m;
            ae::hns lost_at{0}, rerouted_at{0};
            const auto id = ctx.subscribe([&](const ae::event& e) {
                const std::lock_guard lock(m);
                if (e.kind == ae::event_kind::device_lost) lost_at = e.time;
                if (e.kind == ae::event_kind::rerouted) rerouted_at = e.time;
            });
            const std::string name = "loss" + std::to_string(i);
            auto ep = ctx.create_render_endpoint(
                {.name = name, .device = "faulty:null?period=2.6667&unplug_at_ms=50", .period = ae::hns{26'667}});
            (void)ep->set_event_handle(wake);
            (void)ep->start();
            for (int p = 0; p < 400; ++p) {
                pass(ep->rt());
                wait_fd(wake, 20);
                const std::lock_guard lock(m);
                if (rerouted_at != ae::hns{0}) break;
            }
            ctx.unsubscribe(id);
            (void)ctx.destroy(name);
            const std::lock_guard lock(m);
            if (rerouted_at != ae::hns{0}) reroute_ms.push_back(ms_between(lost_at, rerouted_at));
        }
        print_stats("device loss (seen by the device thread) -> rerouted to the default device", reroute_ms);
    }

    // 3. Blocking control calls per second: set_period back and forth on a stopped endpoint.
    {
        auto ep = ctx.create_render_endpoint({.name = "ops", .device = "null?period=2.6667", .period = ae::hns{26'667}});
        const int calls = 20000;
        const ae::hns begin = ae::monotonic_now();
        for (int i = 0; i < calls; ++i) (void)ep->set_stream_flags(ae::stream_flags::event_callback);
        const double seconds = static_cast<double>((ae::monotonic_now() - begin).count()) / 1e7;
        std::printf("blocking control calls (set_stream_flags on a stopped endpoint): %d in %.3f s = %.0f per second, %.2f us each\n", calls,
                    seconds, calls / seconds, seconds / calls * 1e6);
    }
    ::close(wake);
    return 0;
}
