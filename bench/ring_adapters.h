// The rings bench_ring and bench_ring_paired compare: ae::frame_ring, JACK's jack_ringbuffer and
// PipeWire's spa_ringbuffer (on the heap, and on a memfd like frame_ring's), each behind the same
// two calls — try_write (the producer fills one chunk in ring memory) and try_read (the consumer
// verifies up to a chunk) — that call the same machine code for the payload.
#pragma once

#include <openae/rt/frame_ring.h>

#include <jack/ringbuffer.h>
#include <spa/utils/ringbuffer.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <tuple>

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

namespace ae::bench::rings {

constexpr std::uint32_t frame_bytes = 8; // stereo f32
constexpr std::uint32_t capacity_frames = 8192;
// Each ring object, and each variable a thread writes while the other runs, gets cache lines of
// its own in both benchmarks: with plain stack placement, spa_ring's indices could share a line
// with the consumer's error count (written every chunk), or not, depending on where ASLR put the
// stack — a cost a run charged to one ring and the next run did not.
constexpr std::size_t own_lines = ae::detail::no_false_sharing;

// Not inlined: every ring calls the same machine code. Inlined, g++ compiled the verify loop
// differently for each ring's call site (indexed loads for frame_ring's, pointer steps for spa's),
// and that loop is most of a chunk's time — `perf annotate` put 84–87 % of the consumer's samples in
// it: the rings were being compared by their callers' code generation.
[[gnu::noinline]] inline void fill(std::byte* at, std::uint64_t first, std::uint32_t frames) noexcept {
    auto* words = reinterpret_cast<std::uint32_t*>(at);
    for (std::uint32_t i = 0; i < frames; ++i) {
        words[2 * i] = static_cast<std::uint32_t>(first + i);
        words[2 * i + 1] = ~static_cast<std::uint32_t>(first + i);
    }
}
[[gnu::noinline]] inline std::uint64_t verify(const std::byte* at, std::uint64_t first, std::uint32_t frames) noexcept {
    const auto* words = reinterpret_cast<const std::uint32_t*>(at);
    std::uint64_t bad = 0;
    for (std::uint32_t i = 0; i < frames; ++i) {
        bad += (words[2 * i] != static_cast<std::uint32_t>(first + i)) | (words[2 * i + 1] != ~static_cast<std::uint32_t>(first + i));
    }
    return bad;
}

struct ae_ring {
    ae::frame_ring ring = *ae::frame_ring::create(capacity_frames, frame_bytes);
    ae::frame_ring_writer writer;
    ae::frame_ring_reader reader;
    ae_ring() { std::tie(writer, reader) = ring.split(); }

    bool try_write(std::uint32_t frames, std::uint64_t first) noexcept {
        std::byte* span = writer.try_acquire(frames);
        if (!span) return false;
        fill(span, first, frames); // one contiguous span, always
        writer.commit(frames);
        return true;
    }
    std::uint32_t try_read(std::uint32_t max, std::uint64_t first, std::uint64_t& bad) noexcept {
        const std::uint64_t available = reader.available_frames(max);
        const auto frames = static_cast<std::uint32_t>(available < max ? available : max);
        if (frames == 0) return 0;
        bad += verify(reader.try_acquire(frames), first, frames);
        reader.commit(frames);
        return frames;
    }
};

struct jack_ring {
    jack_ringbuffer_t* rb = jack_ringbuffer_create(capacity_frames * frame_bytes); // 64 KiB, one byte kept free
    jack_ring() { jack_ringbuffer_mlock(rb); }
    ~jack_ring() { jack_ringbuffer_free(rb); }

    bool try_write(std::uint32_t frames, std::uint64_t first) noexcept {
        const std::size_t bytes = std::size_t{frames} * frame_bytes;
        if (jack_ringbuffer_write_space(rb) < bytes) return false;
        jack_ringbuffer_data_t vec[2];
        jack_ringbuffer_get_write_vector(rb, vec);
        const auto head = static_cast<std::uint32_t>(std::min(vec[0].len, bytes) / frame_bytes);
        fill(reinterpret_cast<std::byte*>(vec[0].buf), first, head);
        if (head < frames) fill(reinterpret_cast<std::byte*>(vec[1].buf), first + head, frames - head);
        jack_ringbuffer_write_advance(rb, bytes);
        return true;
    }
    std::uint32_t try_read(std::uint32_t max, std::uint64_t first, std::uint64_t& bad) noexcept {
        jack_ringbuffer_data_t vec[2];
        jack_ringbuffer_get_read_vector(rb, vec);
        const std::size_t available = (vec[0].len + vec[1].len) / frame_bytes;
        const auto frames = static_cast<std::uint32_t>(available < max ? available : max);
        if (frames == 0) return 0;
        const auto head = static_cast<std::uint32_t>(std::min<std::size_t>(vec[0].len / frame_bytes, frames));
        bad += verify(reinterpret_cast<const std::byte*>(vec[0].buf), first, head);
        if (head < frames) bad += verify(reinterpret_cast<const std::byte*>(vec[1].buf), first + head, frames - head);
        jack_ringbuffer_read_advance(rb, std::size_t{frames} * frame_bytes);
        return frames;
    }
};

// Where spa_ringbuffer's bytes live: the heap (as PipeWire's users have them), or shared
// memory like frame_ring's (a memfd, one view) — which tells the memory's cost from the code's.
struct heap_bytes {
    std::unique_ptr<std::byte[]> bytes;
    explicit heap_bytes(std::size_t size) : bytes(std::make_unique<std::byte[]>(size)) {}
    std::byte* get() const noexcept { return bytes.get(); }
};
struct shared_bytes {
    std::byte* bytes = nullptr;
    std::size_t size = 0;
    explicit shared_bytes(std::size_t n) : size(n) {
        const int fd = ::memfd_create("bench-ring", MFD_CLOEXEC);
        if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(n)) != 0) std::abort();
        void* at = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
        ::close(fd);
        if (at == MAP_FAILED) std::abort();
        bytes = static_cast<std::byte*>(at);
    }
    ~shared_bytes() { ::munmap(bytes, size); }
    std::byte* get() const noexcept { return bytes; }
};

// frame_ring's own memory (mirrored, locked): spa_ringbuffer's code over it tells frame_ring's
// memory from its code.
struct mirrored_bytes {
    ae::frame_ring ring;
    std::byte* bytes = nullptr;
    explicit mirrored_bytes(std::size_t size) : ring(*ae::frame_ring::create(size / frame_bytes, frame_bytes)) {
        auto handles = ring.split();
        bytes = handles.first.try_acquire(0); // position 0: the first view's start
    }
    std::byte* get() const noexcept { return bytes; }
};

template <typename Bytes>
struct spa_ring {
    static constexpr std::uint32_t size = capacity_frames * frame_bytes; // power of two
    spa_ringbuffer rb = SPA_RINGBUFFER_INIT();
    Bytes data{size};

    bool try_write(std::uint32_t frames, std::uint64_t first) noexcept {
        const std::uint32_t bytes = frames * frame_bytes;
        std::uint32_t index = 0;
        const std::int32_t filled = spa_ringbuffer_get_write_index(&rb, &index);
        if (size - static_cast<std::uint32_t>(filled) < bytes) return false;
        const std::uint32_t offset = index & (size - 1);
        const std::uint32_t head = std::min(bytes, size - offset) / frame_bytes;
        fill(data.get() + offset, first, head);
        if (head < frames) fill(data.get(), first + head, frames - head);
        spa_ringbuffer_write_update(&rb, index + bytes);
        return true;
    }
    std::uint32_t try_read(std::uint32_t max, std::uint64_t first, std::uint64_t& bad) noexcept {
        std::uint32_t index = 0;
        const std::int32_t available_bytes = spa_ringbuffer_get_read_index(&rb, &index);
        const std::uint32_t available = static_cast<std::uint32_t>(available_bytes) / frame_bytes;
        const std::uint32_t frames = available < max ? available : max;
        if (frames == 0) return 0;
        const std::uint32_t offset = index & (size - 1);
        const std::uint32_t head = std::min(frames * frame_bytes, size - offset) / frame_bytes;
        bad += verify(data.get() + offset, first, head);
        if (head < frames) bad += verify(data.get(), first + head, frames - head);
        spa_ringbuffer_read_update(&rb, index + frames * frame_bytes);
        return frames;
    }
};

// Producer and consumer each on a core of their own, the same two in every run: the scheduler
// moving them (or putting both on one core for a while) was most of the spread between runs.
inline void pin_to_cpu(int cpu) noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
}

} // namespace ae::bench::rings
