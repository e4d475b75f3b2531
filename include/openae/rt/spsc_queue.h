// openae — spsc_queue: a bounded single-producer single-consumer queue of values.
//
// For the RT core's message links (commands control → RT, glitch records RT → control, retired
// objects RT → control). Storage is allocated once at construction; `try_push` and `try_pop`
// never allocate, never block and fail (returning false) instead of waiting. One thread pushes,
// one thread pops. ae_rt may not depend on a queue library, hence this small one.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

namespace ae {

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

private:
    std::unique_ptr<T[]> slots_;
    std::size_t slot_count_;
    alignas(64) std::atomic<std::size_t> head_{0};
    alignas(64) std::atomic<std::size_t> tail_{0};
};

} // namespace ae
