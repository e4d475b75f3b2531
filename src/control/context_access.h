// openae — how the services built into openae (the control service, the socket server) reach the
// control actor behind an ae::context. Internal: hosts use the public API.
#pragma once

#include "control_actor.h"

#include <memory>

namespace ae::detail {

struct context_access {
    [[nodiscard]] static const std::shared_ptr<control_actor>& actor(const context& c) noexcept { return c.actor_; }
};

} // namespace ae::detail
