#include "control_inbox.h"

#include <openae/rt/event_signal.h>

#include <sys/eventfd.h>
#include <unistd.h>

namespace ae::detail {

control_inbox::state::state(std::size_t capacity) : queue(capacity), wake_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

control_inbox::state::~state() {
    if (wake_fd >= 0) ::close(wake_fd);
}

control_inbox::producer::producer(std::shared_ptr<state> s) : state_(std::move(s)), token_(state_->queue) {}

control_inbox::producer::~producer() = default;

bool control_inbox::producer::try_post(const glitch_record& record) noexcept { // rt-safe: lock-free
    // try_enqueue with an explicit token never allocates: it fails when the reserved blocks (or
    // this producer's block index) are used up.
    if (!state_->queue.try_enqueue(token_, record)) return false;
    if (!state_->signalled.exchange(true, std::memory_order_acq_rel)) signal_eventfd(state_->wake_fd);
    return true;
}

control_inbox::control_inbox(std::size_t capacity) : state_(std::make_shared<state>(capacity)) {}

control_inbox::~control_inbox() = default;

std::unique_ptr<control_inbox::producer> control_inbox::make_producer() { return std::make_unique<producer>(state_); }

int control_inbox::wake_fd() const noexcept { return state_->wake_fd; }

std::size_t control_inbox::take(glitch_record* out, std::size_t max) {
    // Cleared before taking: a record posted from here on signals again, and one whose post saw
    // the flag still set is visible to the dequeue below (the exchange acquires its release).
    (void)state_->signalled.exchange(false, std::memory_order_acq_rel);
    return state_->queue.try_dequeue_bulk(out, max);
}

} // namespace ae::detail
