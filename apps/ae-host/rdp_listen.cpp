// ae-host --rdp-listen (rdp_listen.h).
#include "rdp_listen.h"

#include <cstdlib>

namespace ae_host {

void add_rdp_options(CLI::App& app, rdp_listen_options& options) {
    app.add_option("--rdp-listen", options.listen,
                   "ADDR:PORT: run an RDP server there; each client's speakers become device rdp:N (loopback unless --rdp-user/--rdp-password)");
    app.add_option("--rdp-cert", options.server.certificate, "The RDP server's TLS certificate (PEM; default: a self-signed one made at first start)");
    app.add_option("--rdp-key", options.server.key, "Its private key (PEM)");
    app.add_option("--rdp-user", options.server.user, "The user name an RDP client must log on with");
    app.add_option("--rdp-password", options.server.password, "Its password");
    app.add_flag("--rdp-desktop-audio", options.desktop_audio,
                 "For each RDP session: a PipeWire sink openae-rdp-N bridged to its speakers, a source openae-rdp-N-mic from its microphone");
    app.add_flag("--rdp-desktop-default", options.desktop_default, "Make each session's sink and source the PipeWire server's defaults");
}

std::expected<std::unique_ptr<ae::pipeline::rdp_server>, std::string> start_rdp(rdp_listen_options options) {
    if (options.listen.empty()) return nullptr;
    const auto colon = options.listen.rfind(':');
    const long port = colon == std::string::npos ? -1 : std::strtol(options.listen.c_str() + colon + 1, nullptr, 10);
    if (colon == std::string::npos || port < 0 || port > 65535) return std::unexpected("--rdp-listen " + options.listen + ": give ADDR:PORT");
    options.server.address = options.listen.substr(0, colon);
    options.server.port = static_cast<std::uint16_t>(port);
    auto started = ae::pipeline::rdp_server::start(options.server);
    if (!started) return std::unexpected("--rdp-listen " + options.listen + ": " + started.error().message);
    return std::move(*started);
}

} // namespace ae_host
