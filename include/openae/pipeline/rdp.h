// openae — Remote Desktop sessions as devices: an RDP client's speakers (rdpsnd, MS-RDPEA) and
// microphone (audin, MS-RDPEAI), through FreeRDP 2's server library.
//
// Two ways in:
// - embedded: a host that runs its own FreeRDP server hands openae each connected session —
//   its virtual channel manager (WTSOpenServerA) and its rdpContext* — with rdp_attach_session(),
//   and rdp_detach_session() when the client leaves;
// - standalone: rdp_server runs a minimal server (TLS, a blank desktop, the audio channels).
// Either way a session gets an id ("1", "2", ...) and its devices are `rdp:ID` (`rdp` alone: the
// session that connected last). A device on a session that goes away is lost (reroute by policy).
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/device_error.h>

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ae::pipeline {

struct rdp_session_info {
    std::string id;
    std::string client;           // the client's host name
    bool speakers = false;        // rdpsnd is up: a render device can be made
    bool microphone = false;      // audin is open: a capture device can be made
    std::uint32_t speakers_rate = 0;
    std::uint16_t speakers_channels = 0;
    std::uint32_t microphone_rate = 0;
    std::uint16_t microphone_channels = 0;
    // The speakers' flow while a render device plays to them (zero before).
    std::uint64_t blocks_sent = 0;
    std::uint64_t blocks_dropped = 0;   // past the window of unconfirmed blocks, or refused by FreeRDP
    std::uint64_t client_refused_blocks = 0; // confirmed at once, never played: the client found them early
    double round_trip_ms = 0;           // smoothed, from the client's arrival confirms
    double client_delay_ms = 0;         // the client's last: from a block's send until it is heard
    double hold_ms_mean = 0;            // what openae adds: from the device loop handing a block's
    double hold_ms_max = 0;             //   first frame to the device until the block is sent
    double speakers_pace_ppm = 0;       // drift control: openae's pace against its own clock
    double client_queue_target_ms = 0;  //   to hold the client's queue at this level (0: not settled yet)
    // The microphone's while a capture device records it.
    std::uint64_t microphone_frames = 0;       // received from the client
    std::uint64_t microphone_short_frames = 0; // periods padded with silence (the client sent too little)
};

// Embedded: opens rdpsnd (and audin, once the client's dynamic channel is ready) on a connected
// FreeRDP 2 session. `vcm`: the session's virtual channel manager; `rdp_context`: its
// rdpContext*. Both must stay valid until rdp_detach_session(). The host's loop keeps calling
// WTSVirtualChannelManagerCheckFileDescriptor as usual. Returns the session's id.
[[nodiscard]] std::expected<std::string, device_error> rdp_attach_session(void* vcm, void* rdp_context, std::string_view client = {});
// The client left (or the host closes it): its devices are lost, its channels closed. Returns
// once no openae thread uses `vcm` any more.
void rdp_detach_session(std::string_view id);
// Sessions now, oldest first.
[[nodiscard]] std::vector<rdp_session_info> rdp_sessions();

// Changes to the sessions' devices: `changed(added, spec, render)` for "rdp:ID" when its speakers
// (render) or microphone (capture) come or go. Runs on the thread that caused it (FreeRDP's);
// no callback runs after the watch is destroyed.
class rdp_session_watch {
public:
    using callback = std::function<void(bool added, const std::string& spec, bool render)>;
    explicit rdp_session_watch(callback changed);
    ~rdp_session_watch();
    rdp_session_watch(const rdp_session_watch&) = delete;
    rdp_session_watch& operator=(const rdp_session_watch&) = delete;

private:
    std::uint64_t id_ = 0;
};

// The standalone server: one listener, each client on a thread of its own (`ae-io-rdp`).
struct rdp_server_options {
    std::string address = "127.0.0.1"; // any other address requires user and password
    std::uint16_t port = 3389;          // 0: any free port (port() says which)
    std::string certificate{};            // PEM files; both empty: a self-signed pair made at first
    std::string key{};                    //   start in `state_dir`
    std::string state_dir{};              // empty: $XDG_STATE_HOME/openae, else ~/.local/state/openae
    std::string user{};                   // checked at logon when set
    std::string password{};
};

class rdp_server {
public:
    [[nodiscard]] static std::expected<std::unique_ptr<rdp_server>, device_error> start(const rdp_server_options& options);
    virtual ~rdp_server() = default;
    [[nodiscard]] virtual std::uint16_t port() const noexcept = 0;
    // Clients connected now.
    [[nodiscard]] virtual std::size_t clients() const noexcept = 0;
};

} // namespace ae::pipeline

#pragma GCC visibility pop
