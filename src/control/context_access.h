// openae — how the services built into openae (the control service, the socket server) reach the
// control actor behind an ae::context. Internal: hosts use the public API.
#pragma once

#include "context_core.h"

#include <memory>

namespace ae::detail {

struct context_access {
    [[nodiscard]] static const std::shared_ptr<context_core>& core(const context& c) noexcept { return c.core_; }
};

} // namespace ae::detail
