// The device loop's side of the control commands (attach, successor, detach) and of the chains
// that hand over to their successors at a seam: what the control side sent is applied between
// periods, and what leaves the loop goes back through the retired queue (freed off the RT thread).
#include <openae/pipeline/device_loop.h>

#include <openae/rt/event_signal.h>

namespace ae::pipeline {
namespace {
constexpr std::size_t max_commands_per_period = 64;
} // namespace

void device_loop::apply_commands() noexcept { // rt-safe: bounded (max_commands_per_period)
    device_command c;
    std::size_t i = 0;
    for (; i < max_commands_per_period && ends_.commands.try_pop(c); ++i) {
        switch (c.what) {
        case device_command::kind::attach_render:
            // Within the reserved capacity: never reallocates.
            if (render_chains_.size() < render_chains_.capacity()) render_chains_.push_back(std::move(c.render));
            break;
        case device_command::kind::attach_capture:
            if (capture_chains_.size() < capture_chains_.capacity()) capture_chains_.push_back(std::move(c.capture));
            break;
        case device_command::kind::successor: {
            bool placed = false;
            for (auto& chain : render_chains_) {
                if (c.render && chain->endpoint_id() == c.endpoint_id) {
                    chain->set_successor(std::move(c.render));
                    placed = true;
                }
            }
            for (auto& chain : capture_chains_) {
                if (c.capture && chain->endpoint_id() == c.endpoint_id) {
                    chain->set_successor(std::move(c.capture));
                    placed = true;
                }
            }
            if (!placed) {
                retired_chain r; // the endpoint left first: the successor goes back unused
                r.render = std::move(c.render);
                r.capture = std::move(c.capture);
                (void)ends_.retired.try_push(std::move(r));
            }
            break;
        }
        case device_command::kind::detach: {
            auto leave = [&](auto& chains, auto member) {
                for (std::size_t k = 0; k < chains.size(); ++k) {
                    if (chains[k]->endpoint_id() != c.endpoint_id) continue;
                    chains[k]->flush_reports();
                    retired_chain r;
                    r.*member = std::move(chains[k]);
                    chains[k] = std::move(chains.back());
                    chains.pop_back();
                    // Sized for every chain there can be: cannot fail.
                    (void)ends_.retired.try_push(std::move(r));
                    return;
                }
            };
            leave(render_chains_, &retired_chain::render);
            leave(capture_chains_, &retired_chain::capture);
            break;
        }
        }
        c = device_command{};
        // release: whatever the command changed is done before the control side sees it applied.
        applied_.fetch_add(1, std::memory_order_release);
    }
    // The control side may be waiting for it (a detach before a reroute or a destroy).
    if (i != 0) signal_eventfd(options_.control_wake_fd);
}

void device_loop::hand_over_successors() noexcept { // rt-safe: bounded
    auto take_over = [&](auto& chains, auto member) {
        for (auto& chain : chains) {
            if (!chain->handed_over()) continue;
            auto next = chain->take_successor();
            retired_chain r;
            r.*member = std::move(chain);
            chain = std::move(next);
            // Sized for every chain there can be, successors included: cannot fail.
            (void)ends_.retired.try_push(std::move(r));
        }
    };
    take_over(render_chains_, &retired_chain::render);
    take_over(capture_chains_, &retired_chain::capture);
}

} // namespace ae::pipeline
