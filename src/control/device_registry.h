// openae — the device registry: one device thread per (spec, direction) in use, shared by the
// endpoints on it. It owns the device threads: it opens them off ae-ctl (an open may hang: a
// timeout answers for it), counts their users, and closes a device when its last user lets go —
// a lost one on a helper thread, since joining it waits for its wait point. It lives on ae-ctl;
// the control actor owns it and is the only caller.
#pragma once

#include "control_clock.h"
#include "event_log.h"

#include <openae/control/config.h>
#include <openae/control/context.h>
#include <openae/control/event.h>
#include <openae/pipeline/device_thread.h>

#include <asio/io_context.hpp>

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace ae::detail {

// One opened device and who uses it.
struct device_entry {
    std::string spec;
    endpoint_direction direction = endpoint_direction::render;
    std::unique_ptr<pipeline::device_thread> thread;
    std::size_t users = 0;
    bool lost = false;
    std::uint32_t period_frames = 0; // as the device thread last reported it (JACK and PipeWire change theirs)
};

// What the registry asks of the actor that owns it.
class device_registry_owner {
public:
    virtual void emit(event e) = 0; // device_unresponsive
    // Bounded work on a helper thread named `name`, its continuation back on ae-ctl.
    virtual void off_thread(const char* name, std::function<std::function<void()>()> work) = 0;
    // Keeps the owner (and so the registry) alive while an open runs on its helper thread.
    virtual std::shared_ptr<void> keep_alive() = 0;

protected:
    ~device_registry_owner() = default;
};

class device_registry {
public:
    device_registry(asio::io_context& io, const context_options& options, event_log& log, int control_wake_fd, device_registry_owner& owner);
    device_registry(const device_registry&) = delete;
    device_registry& operator=(const device_registry&) = delete;

    // The open (not lost) device for `spec` in that direction, or null.
    [[nodiscard]] device_entry* find(const std::string& spec, endpoint_direction direction) const;
    // Opens `spec` on a helper thread ("ae-open"); `done` runs on ae-ctl with the entry (an open
    // one is reused), or an error — `timeout` (and a device_unresponsive event) when the open
    // takes longer than open_timeout. A stepped context opens inline.
    using open_done = std::function<void(std::expected<device_entry*, std::error_code>, const std::string& why)>;
    void open(const std::string& spec, endpoint_direction direction, open_done done);
    // One user fewer; the last one closes the device.
    void release(device_entry* entry);

    // Every device, lost ones too until their last user left (ae-ctl: the drain and status).
    [[nodiscard]] const std::vector<std::unique_ptr<device_entry>>& entries() const noexcept { return devices_; }
    [[nodiscard]] std::vector<device_info> infos() const;

    // The context stops: opens that land from now on are closed at once.
    void begin_stopping() noexcept { stopping_ = true; }
    void stop_threads();
    void clear() { devices_.clear(); }

private:
    device_entry* adopt(const std::string& spec, endpoint_direction direction, std::unique_ptr<pipeline::device_thread> thread);
    std::error_code log_open_failure(const std::string& spec, const pipeline::device_error& error);

    asio::io_context& io_;
    const context_options& options_;
    event_log& log_;
    int control_wake_fd_;
    device_registry_owner& owner_;
    std::vector<std::unique_ptr<device_entry>> devices_;
    bool stopping_ = false;
};

} // namespace ae::detail
