// ae-host --rdp-listen: the standalone RDP server (openae/pipeline/rdp.h) and its options.
#pragma once

#include <openae/pipeline/rdp.h>

#include <CLI/CLI.hpp>

#include <expected>
#include <memory>
#include <string>

namespace ae_host {

struct rdp_listen_options {
    std::string listen; // ADDR:PORT; empty: no server
    ae::pipeline::rdp_server_options server;
    bool desktop_audio = false;   // a virtual PipeWire sink and source per session, bridged
    bool desktop_default = false; // ... made the desktop's defaults
};

void add_rdp_options(CLI::App& app, rdp_listen_options& options);
// The server when --rdp-listen asked for one (null when not); why not, for the user, when it
// cannot start.
[[nodiscard]] std::expected<std::unique_ptr<ae::pipeline::rdp_server>, std::string> start_rdp(rdp_listen_options options);

} // namespace ae_host
