#include <openae/rt/errc.h>
#include <openae/rt/frame_ring.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <sys/mman.h>
#include <unistd.h>

namespace ae {
namespace {

std::error_code last_os_error() { return {errno, std::system_category()}; }

// Maps `bytes` of a fresh memfd twice, back to back. Returns the base of the 2*bytes region.
std::expected<std::byte*, std::error_code> map_mirrored(std::size_t bytes) {
    const int fd = ::memfd_create("openae-frame-ring", MFD_CLOEXEC);
    if (fd < 0) return std::unexpected(last_os_error());
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
        const auto ec = last_os_error();
        ::close(fd);
        return std::unexpected(ec);
    }
    // Reserve 2*bytes of address space, then put the file over both halves.
    void* reserved = ::mmap(nullptr, 2 * bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (reserved == MAP_FAILED) {
        const auto ec = last_os_error();
        ::close(fd);
        return std::unexpected(ec);
    }
    auto* base = static_cast<std::byte*>(reserved);
    for (int view = 0; view < 2; ++view) {
        void* at = ::mmap(base + view * bytes, bytes, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd, 0);
        if (at == MAP_FAILED) {
            const auto ec = last_os_error();
            ::munmap(base, 2 * bytes);
            ::close(fd);
            return std::unexpected(ec);
        }
    }
    ::close(fd); // the mappings keep the memory alive
    return base;
}

} // namespace

std::expected<frame_ring, std::error_code>
frame_ring::create(std::uint64_t capacity_frames, std::uint32_t bytes_per_frame, std::uint64_t start_position) {
    constexpr std::uint64_t max_bytes = std::uint64_t{1} << 32; // 4 GiB a view is plenty for audio
    if (capacity_frames == 0 || bytes_per_frame == 0 || capacity_frames > max_bytes / bytes_per_frame) {
        return std::unexpected(make_error_code(errc::bad_argument));
    }
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t wanted = static_cast<std::size_t>(capacity_frames) * bytes_per_frame;
    const std::size_t bytes = (wanted + page - 1) / page * page;

    auto base = map_mirrored(bytes);
    if (!base) return std::unexpected(base.error());

    auto state = std::make_unique<detail::frame_ring_state>();
    state->base = *base;
    state->mapped_bytes = bytes;
    state->capacity_frames = capacity_frames;
    state->bytes_per_frame = bytes_per_frame;
    // Touch every page of both views so neither side ever takes a page fault on an RT thread.
    std::memset(state->base, 0, bytes);
    volatile std::byte sink{};
    for (std::size_t at = 0; at < bytes; at += page) sink = state->base[bytes + at];
    (void)sink;
    state->memory_locked = ::mlock(state->base, 2 * bytes) == 0;
    state->write_position.store(start_position, std::memory_order_relaxed);
    state->read_position.store(start_position, std::memory_order_relaxed);
    return frame_ring(std::move(state));
}

frame_ring::~frame_ring() {
    if (state_ && state_->base) {
        if (state_->memory_locked) ::munlock(state_->base, 2 * state_->mapped_bytes);
        ::munmap(state_->base, 2 * state_->mapped_bytes);
    }
}

std::pair<frame_ring_writer, frame_ring_reader> frame_ring::split() noexcept {
    if (!state_ || state_->split_done) return {};
    state_->split_done = true;
    return {frame_ring_writer(state_.get()), frame_ring_reader(state_.get())};
}

} // namespace ae
