// openae — seqlock<T>: one writer publishes a small trivially copyable value, many readers read it
// without ever blocking the writer and without ever seeing a torn value.
//
// The payload lives in atomic 64-bit words, so there is no data race even while a read overlaps
// a write (TSan-clean without fences). The writer never waits; a reader retries only while a
// publish overlaps its read, at most `max_read_attempts` times, and then reports failure rather
// than spin (the caller keeps its previous value).
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <type_traits>

namespace ae {

template <typename T>
class seqlock {
    static_assert(std::is_trivially_copyable_v<T>);
    static_assert(sizeof(T) % 8 == 0, "published as whole 64-bit words");

public:
    static constexpr int max_read_attempts = 16;

    seqlock() noexcept = default;
    seqlock(const seqlock&) = delete;
    seqlock& operator=(const seqlock&) = delete;

    // Publishes `value`. One writer thread only.
    // rt-safe: wait-free
    void publish(const T& value) noexcept {
        const auto words = std::bit_cast<std::array<std::uint64_t, word_count>>(value);
        const std::uint32_t seq = sequence_.load(std::memory_order_relaxed);
        sequence_.store(seq + 1, std::memory_order_relaxed); // odd: a write is under way
        // release on each word: a reader that sees any new word also sees the odd sequence.
        for (std::size_t i = 0; i < word_count; ++i) words_[i].store(words[i], std::memory_order_release);
        // release: the words are visible before the even sequence that vouches for them.
        sequence_.store(seq + 2, std::memory_order_release);
    }

    // Copies the latest value into `out`; false when nothing was published yet or a publish
    // overlapped every attempt (then `out` is untouched).
    // rt-safe: wait-free (bounded retries)
    [[nodiscard]] bool try_read(T& out) const noexcept {
        for (int attempt = 0; attempt < max_read_attempts; ++attempt) {
            // acquire: the words read below are at least as new as this sequence.
            const std::uint32_t before = sequence_.load(std::memory_order_acquire);
            if (before == 0) return false;
            if (before & 1u) continue;
            std::array<std::uint64_t, word_count> words{};
            // acquire on each word keeps the second sequence load after them.
            for (std::size_t i = 0; i < word_count; ++i) words[i] = words_[i].load(std::memory_order_acquire);
            if (sequence_.load(std::memory_order_relaxed) == before) {
                out = std::bit_cast<T>(words);
                return true;
            }
        }
        return false;
    }

    // Publishes so far (a reader can tell a new value from an old one).
    [[nodiscard]] std::uint32_t version() const noexcept { return sequence_.load(std::memory_order_acquire) / 2; }

private:
    static constexpr std::size_t word_count = sizeof(T) / 8;
    // order: release/acquire (no fences: TSan follows these) — a reader that sees the same even
    // sequence before and after its copy read no torn value; each step says why at its use.
    std::atomic<std::uint32_t> sequence_{0};
    // order: release/acquire — a reader that sees a new word also sees the odd sequence before it.
    std::array<std::atomic<std::uint64_t>, word_count> words_{};
};

} // namespace ae

#pragma GCC visibility pop
