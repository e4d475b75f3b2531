// The control actor's inbox: the one many-to-one queue from every RT thread to ae-ctl
// (internal; src/control).
//
// Glitch records from every endpoint's two sides — the host's engine threads through the RT
// views, the device loops through the device ports — go into one moodycamel::ConcurrentQueue.
// Each side posts through its own explicit producer token, made off the RT threads when the
// endpoint is created; the queue's memory is reserved when the inbox is made, and the RT side only
// ever calls try_enqueue, which never allocates: a full queue (or a producer whose block index is
// full) fails, and the caller counts an overflow. The first post after a drain signals an
// eventfd that Asio watches; ae-ctl then drains everything at once.
//
// Why moodycamel here and our own SPSC queues elsewhere: this path has thousands of producers
// and one consumer, and the consumer wants what any of them sent without visiting each one.
// Commands, handoffs and retired segments stay on SPSC queues: each has one producer and one
// consumer, carries ownership in order, and is read by the side that owns it at a fixed point.
#pragma once

#include <openae/rt/glitch.h>

#include <concurrentqueue/concurrentqueue.h>

#include <atomic>
#include <cstdint>
#include <memory>

namespace ae::detail {

// Small blocks: each producer that has posted keeps at least one block (explicit producers reuse
// theirs), so memory grows with the endpoints that glitched, 8 records at a time.
struct inbox_traits : moodycamel::ConcurrentQueueDefaultTraits {
    static constexpr std::size_t BLOCK_SIZE = 8;
    static constexpr std::size_t EXPLICIT_BLOCK_EMPTY_COUNTER_THRESHOLD = 8;
    static constexpr std::size_t EXPLICIT_INITIAL_INDEX_SIZE = 8; // 64 records pending per producer
    static constexpr std::size_t INITIAL_IMPLICIT_PRODUCER_HASH_SIZE = 0; // no implicit producers
};

class control_inbox {
public:
    // Reserves room for `capacity` records and makes the eventfd (allocates: control side only).
    explicit control_inbox(std::size_t capacity);
    ~control_inbox();
    control_inbox(const control_inbox&) = delete;
    control_inbox& operator=(const control_inbox&) = delete;

    // One endpoint side's end: a glitch_sink over an explicit producer token. It keeps the
    // queue alive, so an RT view used after its context is gone posts into a queue nobody reads
    // (bounded: it fills and counts overflows) instead of into freed memory.
    class producer;
    // Allocates the token: control side, before the side that posts runs.
    [[nodiscard]] std::unique_ptr<producer> make_producer();

    // The eventfd signalled by the first post after a drain (owned by the inbox's state; dup()
    // it for an Asio descriptor). -1 when none could be made: then only the drain timer drains.
    [[nodiscard]] int wake_fd() const noexcept;

    // Takes every queued record (control thread), in order per producer. Returns how many.
    template <typename Fn>
    std::size_t drain(Fn&& on_record);

    struct state;

private:
    std::size_t take(glitch_record* out, std::size_t max);
    std::shared_ptr<state> state_;
};

struct control_inbox::state {
    explicit state(std::size_t capacity);
    ~state();
    moodycamel::ConcurrentQueue<glitch_record, inbox_traits> queue;
    const int wake_fd;
    // order: acq_rel exchanges on both sides — a post that finds it false signals; one that finds
    // it true was made before the consumer's next clearing exchange, which then sees its record.
    std::atomic<bool> signalled{false};
};

class control_inbox::producer final : public glitch_sink {
public:
    // Out of line: only control_inbox.cpp compiles moodycamel's code (see its CMakeLists note).
    explicit producer(std::shared_ptr<state> s);
    ~producer();

    // rt-safe: lock-free
    [[nodiscard]] bool try_post(const glitch_record& record) noexcept override;

private:
    std::shared_ptr<state> state_; // declared first: the token is destroyed before the queue
    moodycamel::ProducerToken token_;
};

template <typename Fn>
std::size_t control_inbox::drain(Fn&& on_record) {
    glitch_record batch[64];
    std::size_t total = 0;
    for (std::size_t got = take(batch, 64); got != 0; got = take(batch, 64)) {
        for (std::size_t i = 0; i < got; ++i) on_record(batch[i]);
        total += got;
    }
    return total;
}

} // namespace ae::detail
