// RDP sessions' desktop audio (config.h, rdp_desktop_audio_options): a virtual PipeWire sink and
// source per session, each bridged to the session's speakers or from its microphone.
#include "context_state.h"

#include <openae/pipeline/device_discovery.h>

namespace ae::detail {

void control_actor::watch_rdp_desktop_audio() {
    std::weak_ptr<control_actor> weak = shared_from_this();
    impl_->rdp_desktop_watch = std::make_unique<pipeline::rdp_session_watch>([weak](bool added, const std::string& spec, bool render) {
        const auto self = weak.lock();
        if (!self) return;
        asio::post(self->impl_->io, [weak, added, spec, render] {
            const auto me = weak.lock();
            if (me && !me->impl_->stopping) me->on_rdp_desktop_device(added, spec, render);
        });
    });
}

std::error_code control_actor::enable_rdp_desktop_audio(const rdp_desktop_audio_options& options) {
    if (!options.enabled || impl_->rdp_desktop_watch || impl_->options.stepped || impl_->stopping) return make_error_code(errc::bad_argument);
    impl_->options.rdp_desktop_audio = options;
    watch_rdp_desktop_audio();
    return {};
}

void control_actor::on_rdp_desktop_device(bool added, const std::string& spec, bool render) {
    const rdp_desktop_audio_options& o = impl_->options.rdp_desktop_audio;
    const std::string session = spec.substr(spec.find(':') + 1);
    const std::string node = o.prefix + "-" + session + (render ? "" : "-mic");
    if (!added) {
        // The session went: its node goes with its bridge (the RDP side was on the virtual clock
        // since the loss: routing fail, so nothing moved to another device meanwhile).
        if (destroy_bridge(node)) {
            control_detail::log_json(impl_->log.logger(), spdlog::level::info,
                                     {{"component", "desktop_audio"}, {"event", "removed"}, {"session", session}, {"node", node}});
        }
        return;
    }
    std::string virtual_node = "pipewire?node=" + std::string(render ? "sink" : "source") + "&name=" + node +
                               "&description=" + (render ? "RDP session " + session : "RDP session " + session + " microphone");
    if (!o.pipewire_remote.empty()) virtual_node += "&remote=" + o.pipewire_remote;
    bridge_config config;
    config.name = node;
    config.from = render ? virtual_node : spec;
    config.to = render ? spec : virtual_node;
    config.routing = routing_policy::fail;
    config.margin = o.margin;
    create_bridge(config, [this, session, node, render](std::expected<bridge_status, std::error_code> made, const std::string& why) {
        if (!made) {
            control_detail::log_json(impl_->log.logger(), spdlog::level::err,
                                     {{"component", "desktop_audio"}, {"event", "failed"}, {"session", session}, {"node", node},
                                      {"code", to_string(static_cast<errc>(made.error().value()))}, {"message", why.empty() ? made.error().message() : why}});
            return;
        }
        control_detail::log_json(impl_->log.logger(), spdlog::level::info,
                                 {{"component", "desktop_audio"}, {"event", "created"}, {"session", session}, {"node", node},
                                  {"direction", render ? "speakers" : "microphone"}});
        if (!impl_->options.rdp_desktop_audio.make_default) return;
        off_thread("ae-pw-default", [this, node, render]() -> std::function<void()> {
            const bool set = pipeline::set_pipewire_default(node, render, std::chrono::milliseconds(2000));
            return [this, node, set] {
                control_detail::log_json(impl_->log.logger(), set ? spdlog::level::info : spdlog::level::warn,
                                         {{"component", "desktop_audio"}, {"event", set ? "made_default" : "default_not_set"}, {"node", node}});
            };
        });
    });
}

} // namespace ae::detail
