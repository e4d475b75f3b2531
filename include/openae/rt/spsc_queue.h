// openae — spsc_queue: a bounded single-producer single-consumer queue of values.
//
// For the RT core's message links (commands control → RT, glitch records RT → control, retired
// objects RT → control). Storage is allocated once at construction; `try_push` and `try_pop`
// never allocate, never block and fail (returning false) instead of waiting. One thread pushes,
// one thread pops: `split()` hands out the two ends as separate objects (as frame_ring's split()
// does), so a side that holds only its end cannot take the other's role. ae_rt may not depend on a
// queue library, hence this small one.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

namespace ae {

template <typename T>
class spsc_producer;
template <typename T>
class spsc_consumer;

template <typename T>
class spsc_queue {
    static_assert(std::is_nothrow_move_assignable_v<T>, "queue elements move without throwing");

public:
    // A queue holding up to `capacity` values. Allocates; not rt-safe.
    explicit spsc_queue(std::size_t capacity)
        : slots_(std::make_unique<T[]>(capacity + 1)), slot_count_(capacity + 1) {}

    spsc_queue(const spsc_queue&) = delete;
    spsc_queue& operator=(const spsc_queue&) = delete;

    // Moves `value` in, or returns false (leaving `value` untouched) when full. Producer only.
    // rt-safe: wait-free
    [[nodiscard]] bool try_push(T&& value) noexcept {
        const std::size_t tail = tail_.load(std::memory_order_relaxed);
        const std::size_t next = tail + 1 == slot_count_ ? 0 : tail + 1;
        // acquire: the consumer finished moving out of the slot before it published head.
        if (next == head_.load(std::memory_order_acquire)) return false;
        slots_[tail] = std::move(value);
        // release: the slot's value is visible before the consumer sees the new tail.
        tail_.store(next, std::memory_order_release);
        return true;
    }
    [[nodiscard]] bool try_push(const T& value) noexcept requires std::is_nothrow_copy_constructible_v<T> {
        T copy = value;
        return try_push(std::move(copy));
    }

    // Moves the oldest value into `out`, or returns false when empty. Consumer only.
    // rt-safe: wait-free
    [[nodiscard]] bool try_pop(T& out) noexcept {
        const std::size_t head = head_.load(std::memory_order_relaxed);
        // acquire: pairs with the producer's release of tail.
        if (head == tail_.load(std::memory_order_acquire)) return false;
        out = std::move(slots_[head]);
        // release: we are done with the slot before the producer may reuse it.
        head_.store(head + 1 == slot_count_ ? 0 : head + 1, std::memory_order_release);
        return true;
    }

    // Values queued now (exact for the producer's or consumer's own view, a snapshot otherwise).
    // rt-safe: wait-free
    [[nodiscard]] std::size_t size() const noexcept {
        const std::size_t head = head_.load(std::memory_order_acquire);
        const std::size_t tail = tail_.load(std::memory_order_acquire);
        return tail >= head ? tail - head : tail + slot_count_ - head;
    }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    [[nodiscard]] std::size_t capacity() const noexcept { return slot_count_ - 1; }

    // The producer and consumer ends, once (later calls give empty ends). They point into this
    // queue: it must outlive them.
    [[nodiscard]] std::pair<spsc_producer<T>, spsc_consumer<T>> split() noexcept {
        if (split_done_) return {};
        split_done_ = true;
        return {spsc_producer<T>(this), spsc_consumer<T>(this)};
    }

private:
    bool split_done_ = false;
    std::unique_ptr<T[]> slots_;
    std::size_t slot_count_;
    // order: release/acquire — a slot is filled before the tail covers it, emptied before the
    // head frees it.
    alignas(64) std::atomic<std::size_t> head_{0};
    alignas(64) std::atomic<std::size_t> tail_{0};
};

// The pushing end of an spsc_queue. Move-only; one thread uses it.
template <typename T>
class spsc_producer {
public:
    spsc_producer() noexcept = default;
    spsc_producer(spsc_producer&& other) noexcept : queue_(std::exchange(other.queue_, nullptr)) {}
    spsc_producer& operator=(spsc_producer&& other) noexcept {
        queue_ = std::exchange(other.queue_, nullptr);
        return *this;
    }
    spsc_producer(const spsc_producer&) = delete;
    spsc_producer& operator=(const spsc_producer&) = delete;

    // rt-safe: wait-free
    [[nodiscard]] bool try_push(T&& value) noexcept { return queue_->try_push(std::move(value)); }
    // rt-safe: wait-free
    [[nodiscard]] bool try_push(const T& value) noexcept requires std::is_nothrow_copy_constructible_v<T> {
        return queue_->try_push(value);
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return queue_->capacity(); }
    [[nodiscard]] explicit operator bool() const noexcept { return queue_ != nullptr; }

private:
    friend class spsc_queue<T>;
    explicit spsc_producer(spsc_queue<T>* queue) noexcept : queue_(queue) {}
    spsc_queue<T>* queue_ = nullptr;
};

// The popping end of an spsc_queue. Move-only; one thread uses it.
template <typename T>
class spsc_consumer {
public:
    spsc_consumer() noexcept = default;
    spsc_consumer(spsc_consumer&& other) noexcept : queue_(std::exchange(other.queue_, nullptr)) {}
    spsc_consumer& operator=(spsc_consumer&& other) noexcept {
        queue_ = std::exchange(other.queue_, nullptr);
        return *this;
    }
    spsc_consumer(const spsc_consumer&) = delete;
    spsc_consumer& operator=(const spsc_consumer&) = delete;

    // rt-safe: wait-free
    [[nodiscard]] bool try_pop(T& out) noexcept { return queue_->try_pop(out); }
    // rt-safe: wait-free
    [[nodiscard]] bool empty() const noexcept { return queue_->empty(); }
    [[nodiscard]] std::size_t capacity() const noexcept { return queue_->capacity(); }
    [[nodiscard]] explicit operator bool() const noexcept { return queue_ != nullptr; }

private:
    friend class spsc_queue<T>;
    explicit spsc_consumer(spsc_queue<T>* queue) noexcept : queue_(queue) {}
    spsc_queue<T>* queue_ = nullptr;
};

} // namespace ae

#pragma GCC visibility pop
