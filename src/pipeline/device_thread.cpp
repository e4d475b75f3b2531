#include <openae/pipeline/device_thread.h>

#include <openae/rt/errc.h>
#include <openae/rt/thread_name.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <string>

namespace ae::pipeline {

driven_device::driven_device(std::unique_ptr<device> dev, const device_thread_options& options)
    : device_(std::move(dev)), commands_(options.max_endpoints + 64), retired_(options.max_endpoints + 64), events_(256) {}

driven_device::~driven_device() {
    if (control_) control_->collect_retired();
    control_.reset();
    loop_.reset();
    if (command_fd_ >= 0) ::close(command_fd_);
}

std::expected<std::unique_ptr<driven_device>, device_error> driven_device::create(std::unique_ptr<device> dev,
                                                                                 const device_thread_options& options) {
    if (!dev) return std::unexpected(device_error{make_error_code(errc::bad_argument), "device_thread: no device"});
    if (options.max_endpoints == 0) {
        return std::unexpected(device_error{make_error_code(errc::bad_argument), "device_thread: max_endpoints is 0"});
    }
    std::unique_ptr<driven_device> d(new driven_device(std::move(dev), options));
    d->command_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d->command_fd_ < 0) {
        return std::unexpected(device_error{make_error_code(errc::io_error), "device_thread: cannot create an eventfd"});
    }
    if (!d->device_->realtime()) {
        d->engine_wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (d->engine_wake_fd_ < 0) {
            return std::unexpected(device_error{make_error_code(errc::io_error), "device_thread: cannot create an eventfd"});
        }
        d->engine_wake_fd_owner_ = std::shared_ptr<const void>(new int(d->engine_wake_fd_), [](const void* p) {
            const int* fd = static_cast<const int*>(p);
            ::close(*fd);
            delete fd;
        });
    }
    auto [command_producer, command_consumer] = d->commands_.split();
    auto [retired_producer, retired_consumer] = d->retired_.split();
    auto [event_producer, event_consumer] = d->events_.split();
    d->loop_ = std::make_unique<device_loop>(*d->device_, options,
                                             device_loop_ends{std::move(command_consumer), std::move(retired_producer),
                                                              std::move(event_producer), d->command_fd_, d->engine_wake_fd_});
    if (d->device_->self_driven()) {
        if (options.stepped) {
            return std::unexpected(device_error{make_error_code(errc::bad_argument),
                                                "device '" + d->device_->spec() + "' runs its own periods: it cannot be stepped"});
        }
        d->device_->drive(*d->loop_, options.hooks);
    }
    d->control_ = std::make_unique<device_control>(
        *d->device_, *d->loop_, options.max_endpoints,
        device_control_ends{std::move(command_producer), std::move(retired_consumer), std::move(event_consumer), d->command_fd_,
                            d->engine_wake_fd_, d->engine_wake_fd_owner_});
    return d;
}

std::expected<std::unique_ptr<device_thread>, device_error> device_thread::create(std::unique_ptr<device> dev,
                                                                                 const device_thread_options& options) {
    auto driven = driven_device::create(std::move(dev), options);
    if (!driven) return std::unexpected(driven.error());
    return std::unique_ptr<device_thread>(new device_thread(std::move(*driven), options));
}

device_thread::~device_thread() { stop(); }

std::expected<void, device_error> device_thread::start() {
    if (started_) return std::unexpected(device_error{make_error_code(errc::already_running), "device '" + dev().spec() + "' already started"});
    // Its helpers one step below the device thread: they serve it.
    dev().set_helper_priority(options_.realtime_priority > 5 && dev().realtime() ? options_.realtime_priority - 5 : 0);
    if (auto ok = dev().start(); !ok) return ok;
    started_ = true;
    if (options_.stepped) {
        stepped_running_ = true;
        return {};
    }
    thread_ = std::thread([this] { run(); });
    return {};
}

bool device_thread::step_once() noexcept {
    if (!stepped_running_) return false;
    device_loop& loop = driven_->loop();
    const device_period period = loop.wait();
    if (loop.step(period) == device_loop::step_result::go_on) return true;
    loop.finish();
    stepped_running_ = false;
    return false;
}

void device_thread::stop() {
    if (options_.stepped) {
        if (!started_ || stepped_stopped_) return;
        stepped_stopped_ = true;
        driven_->loop().request_stop();
        if (stepped_running_) driven_->loop().finish();
        stepped_running_ = false;
        dev().stop();
        return;
    }
    if (!thread_.joinable()) return;
    driven_->loop().request_stop();
    dev().interrupt_driving();
    thread_.join();
    dev().stop();
}

void device_thread::run() noexcept {
    const std::string& spec = dev().spec();
    const std::string name = "ae-rt-dev-" + spec.substr(0, spec.find_first_of(":?"));
    set_current_thread_name(name.c_str());
    device_loop& loop = driven_->loop();
    // An offline device runs flat out: at SCHED_FIFO it would hold a CPU from everything else on
    // the machine for as long as it renders. It has no deadline to keep, so it does not ask.
    if (options_.realtime_priority > 0 && dev().realtime() && !try_set_realtime_priority(options_.realtime_priority)) {
        loop.report_realtime_refused();
    }
    if (options_.hooks.started) options_.hooks.started(options_.hooks.context);
    if (dev().self_driven()) {
        // The device's own thread runs the periods; this one takes the loop over when it stops.
        if (options_.hooks.wait_begin) options_.hooks.wait_begin(options_.hooks.context);
        const drive_end end = dev().wait_driven();
        if (options_.hooks.wait_end) options_.hooks.wait_end(options_.hooks.context);
        if (end != drive_end::lost) {
            loop.finish();
            if (options_.hooks.stopping) options_.hooks.stopping(options_.hooks.context);
            return;
        }
    }
    while (!loop.stop_requested()) {
        const device_period period = loop.wait();
        if (loop.stop_requested()) break;
        if (loop.step(period) == device_loop::step_result::done) break;
    }
    loop.finish();
    if (options_.hooks.stopping) options_.hooks.stopping(options_.hooks.context);
}

} // namespace ae::pipeline
