// One RDP session as the devices see it: its channels, whether it is still connected, and the
// one speakers device and one microphone device that may be attached to it at a time.
#pragma once

#include "rdp_channels.h"

#include <openae/pipeline/rdp.h>

#include <atomic>
#include <expected>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace ae::pipeline {

// What a speakers device hears from its session (on FreeRDP's threads).
class rdp_speakers_listener {
public:
    virtual ~rdp_speakers_listener() = default;
    virtual void confirmed(std::uint8_t block, std::uint16_t timestamp_ms) noexcept = 0;
    // Fills the speakers' part of the session's figures.
    virtual void report(rdp_session_info& info) const noexcept = 0;
};
// What a microphone device hears.
class rdp_microphone_listener {
public:
    virtual ~rdp_microphone_listener() = default;
    virtual void recorded(const std::int16_t* frames, std::size_t count) noexcept = 0;
    // Fills the microphone's part of the session's figures.
    virtual void report(rdp_session_info& info) const noexcept = 0;
};

class rdp_session final : public rdp_channel_events {
public:
    rdp_session(std::string id, std::string client) : id_(std::move(id)), client_(std::move(client)) {}

    [[nodiscard]] const std::string& id() const noexcept { return id_; }
    [[nodiscard]] const std::string& client() const noexcept { return client_; }
    [[nodiscard]] bool connected() const noexcept { return connected_.load(std::memory_order_acquire); }
    [[nodiscard]] rdp_session_info info() const;

    // The channels, while connected: `use(channels)` runs under the session's lock (the channels
    // are closed under it when the session goes). False when the session is gone.
    template <typename Use>
    bool with_channels(Use&& use) {
        const std::lock_guard lock(channels_mutex_);
        if (!channels_) return false;
        use(*channels_);
        return true;
    }

    // At most one of each; false when another is attached.
    [[nodiscard]] bool attach_speakers(rdp_speakers_listener* listener);
    void detach_speakers(rdp_speakers_listener* listener);
    [[nodiscard]] bool attach_microphone(rdp_microphone_listener* listener);
    void detach_microphone(rdp_microphone_listener* listener);

    // The registry's.
    void open(std::unique_ptr<rdp_channels> channels);
    void close();
    void poll();

    // rdp_channel_events
    void speakers_changed(bool ready) noexcept override;
    void confirmed(std::uint8_t block, std::uint16_t timestamp_ms) noexcept override;
    void microphone_changed(bool open) noexcept override;
    void recorded(const std::int16_t* frames, std::size_t count) noexcept override;

private:
    const std::string id_;
    const std::string client_;
    // order: release/acquire — a device that sees it false stops using the session.
    std::atomic<bool> connected_{true};
    std::mutex channels_mutex_;
    std::unique_ptr<rdp_channels> channels_;
    mutable std::mutex listeners_mutex_;
    rdp_speakers_listener* speakers_ = nullptr;
    rdp_microphone_listener* microphone_ = nullptr;
};

class device;
class device_spec;
// The microphone device of `session` (rdp_microphone.cpp); `spec`'s options not taken yet.
[[nodiscard]] std::expected<std::unique_ptr<device>, device_error> make_rdp_microphone(const std::string& text, std::shared_ptr<rdp_session> session,
                                                                                       device_spec& spec);

// rdp_attach_session with the channels `open` makes on the new session's events (tests give
// channels of their own: a simulated client).
using channels_factory = std::function<std::expected<std::unique_ptr<rdp_channels>, device_error>(rdp_channel_events&)>;
[[nodiscard]] std::expected<std::string, device_error> rdp_attach_channels(std::string_view client, const channels_factory& open);

// The session `id` names ("" or "latest": the last connected), or null.
[[nodiscard]] std::shared_ptr<rdp_session> find_rdp_session(std::string_view id);

} // namespace ae::pipeline
