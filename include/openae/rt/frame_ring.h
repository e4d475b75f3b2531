// openae — frame_ring: a single-producer single-consumer ring of audio frames.
//
// Guarantees, for one writer thread and one reader thread:
// - positions are 64-bit frame counts that only grow (they never wrap in practice: 2^64 frames at
//   768 kHz is 760,000 years), so padding is `write_position - read_position` across any wrap;
// - every acquire of up to `capacity_frames()` frames gets ONE contiguous span, also across the
//   ring's physical edge: the memory is mapped twice back to back (a memfd mirrored in virtual
//   memory), so no copy and no split is ever needed;
// - the memory is allocated, mapped, pre-faulted and (where the system allows) locked at creation,
//   so RT code never touches a fresh page;
// - the writer and reader are distinct move-only types handed out once by `split()`: single writer
//   and single reader are enforced by the types, not by a comment.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <new>
#include <system_error>
#include <utility>

namespace ae {

namespace detail {

inline constexpr std::size_t cache_line = 64;
// How far apart data written by different threads must be: two cache lines, because the adjacent
// line prefetcher moves lines in aligned pairs (C++17's hardware_destructive_interference_size
// is 64 on x86 in GCC, which is not enough there).
inline constexpr std::size_t no_false_sharing = 2 * cache_line;

// The state both handles point at. Owned by `frame_ring`; handles never outlive it.
struct frame_ring_state {
    // order: release/acquire — frames are written before the writer's position says so, read
    // before the reader's position gives their room back.
    alignas(no_false_sharing) std::atomic<std::uint64_t> write_position{0};
    alignas(no_false_sharing) std::atomic<std::uint64_t> read_position{0};
    alignas(no_false_sharing) std::byte* base = nullptr; // 2 * mapped_bytes of virtual memory
    std::size_t mapped_bytes = 0;                   // one view; a multiple of the page size
    std::uint64_t capacity_frames = 0;
    std::uint32_t bytes_per_frame = 0;
    bool memory_locked = false;
    bool split_done = false;

    // Byte offset of frame `position` in the first view.
    [[nodiscard]] std::size_t offset_of(std::uint64_t position) const noexcept {
        const unsigned __int128 bytes = static_cast<unsigned __int128>(position) * bytes_per_frame;
        return static_cast<std::size_t>(bytes % mapped_bytes);
    }
    // Advances a byte offset by `frames`, staying inside the first view.
    [[nodiscard]] std::size_t advance(std::size_t offset, std::uint32_t frames) const noexcept {
        offset += static_cast<std::size_t>(frames) * bytes_per_frame;
        return offset >= mapped_bytes ? offset - mapped_bytes : offset;
    }
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// How much of a span the writer asks to own before it writes: 4 KiB, 512 stereo f32 frames.
// Asking for more gained nothing measurable at 2048-frame spans (bench_ring_paired).
inline constexpr std::size_t write_prefetch_bytes = 4096;

// Asks for the cache lines of a span about to be written, for writing, all at once. The reader
// holds copies of those lines from its last lap, and the writer's stores must take them back
// first; asked up front, the ownership requests overlap instead of waiting on the stores.
// bench_ring_paired, same process, with and without: a chunk 1-5 % faster at 128 and 512
// frames, about 1 % at 2048 (BENCHMARKS.md).
// A hint only: no fault, no wait, no effect on what is read or written.
// rt-safe: bounded (write_prefetch_bytes / cache_line hints), no syscall
inline void prefetch_for_write(const std::byte* at, std::size_t bytes) noexcept {
    const std::size_t limit = bytes < write_prefetch_bytes ? bytes : write_prefetch_bytes;
    for (std::size_t done = 0; done < limit; done += cache_line) {
#if defined(__x86_64__)
        // prefetchw asks for the line in an exclusive state (GCC emits it for
        // __builtin_prefetch(p, 1) only with -mprfchw); processors without it run it as a NOP.
        asm volatile("prefetchw %0" : : "m"(at[done]));
#else
        __builtin_prefetch(at + done, 1, 3);
#endif
    }
}
static_assert(offsetof(frame_ring_state, read_position) - offsetof(frame_ring_state, write_position) >= no_false_sharing,
              "write and read positions must not share a cache line");

} // namespace detail

// The writing end. Move-only; one per ring. Cache lines of its own: its positions change with
// every commit on the writer's thread, and a reader handle next to it (they sit side by side in
// a ring_segment) must not pull them back and forth between the cores.
class alignas(detail::no_false_sharing) frame_ring_writer {
public:
    frame_ring_writer() noexcept = default;
    frame_ring_writer(const frame_ring_writer&) = delete;
    frame_ring_writer& operator=(const frame_ring_writer&) = delete;
    // Moving hands the role over; the moved-from handle is empty (as a sent value in Rust).
    frame_ring_writer(frame_ring_writer&& other) noexcept { *this = std::move(other); }
    frame_ring_writer& operator=(frame_ring_writer&& other) noexcept {
        state_ = std::exchange(other.state_, nullptr);
        write_position_ = other.write_position_;
        cached_read_ = other.cached_read_;
        offset_ = other.offset_;
        return *this;
    }

    // Frames the writer has committed since the ring's start position.
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t write_position() const noexcept { return write_position_; }

    // Frames the reader has not consumed yet (write - read), read fresh.
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t padding_frames() noexcept {
        // acquire: the reader's position is published after it finished reading those frames.
        cached_read_ = state_->read_position.load(std::memory_order_acquire);
        return write_position_ - cached_read_;
    }

    // Frames that can be written now.
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t free_frames() noexcept { return state_->capacity_frames - padding_frames(); }

    // A contiguous span for `frames` frames at the write position, or nullptr when fewer are free.
    // Nothing is published until `commit`. The span's first 4 KiB are prefetched for writing
    // (detail::prefetch_for_write).
    // rt-safe: wait-free
    [[nodiscard]] std::byte* try_acquire(std::uint32_t frames) noexcept {
        if (write_position_ + frames - cached_read_ > state_->capacity_frames &&
            frames > free_frames()) {
            return nullptr;
        }
        std::byte* span = state_->base + offset_;
        detail::prefetch_for_write(span, std::size_t{frames} * state_->bytes_per_frame);
        return span;
    }

    // Publishes `frames` frames written at the span from `try_acquire`. `frames` must not exceed
    // the frames acquired (the caller checks; the ring trusts it).
    // rt-safe: wait-free
    void commit(std::uint32_t frames) noexcept {
        write_position_ += frames;
        offset_ = state_->advance(offset_, frames);
        // release: the frames' bytes become visible before the position that covers them.
        state_->write_position.store(write_position_, std::memory_order_release);
    }

    // Moves both positions to `position`. Only while the reader has not started on this ring
    // (the endpoint does it just before handing the ring to the device side).
    // rt-safe: wait-free
    void rebase(std::uint64_t position) noexcept {
        write_position_ = cached_read_ = position;
        offset_ = state_->offset_of(position);
        // relaxed: the handoff that gives the reader this ring is a release that orders these.
        state_->read_position.store(position, std::memory_order_relaxed);
        state_->write_position.store(position, std::memory_order_relaxed);
    }

    [[nodiscard]] std::uint64_t capacity_frames() const noexcept { return state_->capacity_frames; }
    [[nodiscard]] std::uint32_t bytes_per_frame() const noexcept { return state_->bytes_per_frame; }
    [[nodiscard]] explicit operator bool() const noexcept { return state_ != nullptr; }

private:
    friend class frame_ring;
    explicit frame_ring_writer(detail::frame_ring_state* state) noexcept
        : state_(state), write_position_(state->write_position.load(std::memory_order_relaxed)),
          cached_read_(write_position_), offset_(state->offset_of(write_position_)) {}

    detail::frame_ring_state* state_ = nullptr;
    std::uint64_t write_position_ = 0;
    std::uint64_t cached_read_ = 0;
    std::size_t offset_ = 0;
};

// The reading end. Move-only; one per ring. Cache lines of its own (see frame_ring_writer).
class alignas(detail::no_false_sharing) frame_ring_reader {
public:
    frame_ring_reader() noexcept = default;
    frame_ring_reader(const frame_ring_reader&) = delete;
    frame_ring_reader& operator=(const frame_ring_reader&) = delete;
    // Moving hands the role over; the moved-from handle is empty (as a sent value in Rust).
    frame_ring_reader(frame_ring_reader&& other) noexcept { *this = std::move(other); }
    frame_ring_reader& operator=(frame_ring_reader&& other) noexcept {
        state_ = std::exchange(other.state_, nullptr);
        read_position_ = other.read_position_;
        cached_write_ = other.cached_write_;
        offset_ = other.offset_;
        return *this;
    }

    // Frames the reader has consumed since the ring's start position.
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t read_position() const noexcept { return read_position_; }

    // Frames ready to read, read fresh.
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t available_frames() noexcept {
        // acquire: pairs with the writer's release, so the frames' bytes are visible.
        cached_write_ = state_->write_position.load(std::memory_order_acquire);
        return cached_write_ - read_position_;
    }

    // Frames ready to read, at least `wanted` of them if there are: the writer's position is read
    // again only when the last one seen does not cover `wanted` (one shared cache line fewer
    // per call while the ring is well filled).
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t available_frames(std::uint64_t wanted) noexcept {
        const std::uint64_t cached = cached_write_ - read_position_;
        return cached >= wanted ? cached : available_frames();
    }

    // A contiguous span holding `frames` frames at the read position, or nullptr when fewer are
    // available.
    // rt-safe: wait-free
    [[nodiscard]] const std::byte* try_acquire(std::uint32_t frames) noexcept {
        if (cached_write_ - read_position_ < frames && available_frames() < frames) {
            return nullptr;
        }
        return state_->base + offset_;
    }

    // Gives `frames` frames back to the writer.
    // rt-safe: wait-free
    void commit(std::uint32_t frames) noexcept {
        read_position_ += frames;
        offset_ = state_->advance(offset_, frames);
        // release: our reads of those bytes finish before the writer may overwrite them.
        state_->read_position.store(read_position_, std::memory_order_release);
    }

    // Discards every frame written so far (reset: "discard unprocessed data"). Returns how many.
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t discard_all() noexcept {
        const std::uint64_t dropped = available_frames();
        read_position_ = cached_write_;
        offset_ = state_->offset_of(read_position_);
        state_->read_position.store(read_position_, std::memory_order_release);
        return dropped;
    }

    [[nodiscard]] std::uint64_t capacity_frames() const noexcept { return state_->capacity_frames; }
    [[nodiscard]] std::uint32_t bytes_per_frame() const noexcept { return state_->bytes_per_frame; }
    [[nodiscard]] explicit operator bool() const noexcept { return state_ != nullptr; }

    // Re-reads the position after the writer rebased the ring (see frame_ring_writer::rebase).
    // rt-safe: wait-free
    void sync_after_rebase() noexcept {
        read_position_ = cached_write_ = state_->read_position.load(std::memory_order_acquire);
        offset_ = state_->offset_of(read_position_);
    }

private:
    friend class frame_ring;
    explicit frame_ring_reader(detail::frame_ring_state* state) noexcept
        : state_(state), read_position_(state->read_position.load(std::memory_order_relaxed)),
          cached_write_(read_position_), offset_(state->offset_of(read_position_)) {}

    detail::frame_ring_state* state_ = nullptr;
    std::uint64_t read_position_ = 0;
    std::uint64_t cached_write_ = 0;
    std::size_t offset_ = 0;
};

static_assert(sizeof(frame_ring_writer) == detail::no_false_sharing && sizeof(frame_ring_reader) == detail::no_false_sharing,
              "each handle has its own pair of cache lines");

// Owns the mirrored memory. Create and destroy it off the RT threads.
class frame_ring {
public:
    // A ring holding up to `capacity_frames` frames of `bytes_per_frame` bytes, both positions at
    // `start_position`. Fails with `bad_argument` for zero sizes and `io_error` when the mapping
    // cannot be made. Allocates; not rt-safe.
    [[nodiscard]] static std::expected<frame_ring, std::error_code>
    create(std::uint64_t capacity_frames, std::uint32_t bytes_per_frame, std::uint64_t start_position = 0);

    // An empty ring (no memory); assign a created one to it.
    frame_ring() noexcept = default;
    frame_ring(frame_ring&&) noexcept = default;
    frame_ring& operator=(frame_ring&&) noexcept = default;
    ~frame_ring();

    // The writer and the reader. The first call hands them out; later calls return empty handles.
    [[nodiscard]] std::pair<frame_ring_writer, frame_ring_reader> split() noexcept;

    [[nodiscard]] std::uint64_t capacity_frames() const noexcept { return state_->capacity_frames; }
    [[nodiscard]] std::uint32_t bytes_per_frame() const noexcept { return state_->bytes_per_frame; }
    // True when the pages are locked in RAM (mlock succeeded); they are pre-faulted either way.
    [[nodiscard]] bool memory_locked() const noexcept { return state_->memory_locked; }
    // Bytes of one view of the mirrored mapping (a multiple of the page size).
    [[nodiscard]] std::size_t mapped_bytes() const noexcept { return state_->mapped_bytes; }

private:
    explicit frame_ring(std::unique_ptr<detail::frame_ring_state> state) noexcept : state_(std::move(state)) {}
    std::unique_ptr<detail::frame_ring_state> state_;
};

} // namespace ae

#pragma GCC visibility pop
