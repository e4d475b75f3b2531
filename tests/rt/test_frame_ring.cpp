#include <openae/rt/errc.h>
#include <openae/rt/frame_ring.h>

#include <doctest/doctest.h>

#include <cstring>
#include <thread>

namespace {
constexpr std::uint32_t frame_bytes = 8; // two 32-bit words a frame

void write_counting(std::byte* at, std::uint64_t first, std::uint32_t frames) {
    for (std::uint32_t i = 0; i < frames; ++i) {
        const auto value = static_cast<std::uint32_t>(first + i);
        const std::uint32_t words[2] = {value, ~value};
        std::memcpy(at + i * frame_bytes, words, frame_bytes);
    }
}
// Index of the first frame that is not the counting sequence from `first`, or `frames`.
std::uint32_t check_counting(const std::byte* at, std::uint64_t first, std::uint32_t frames) {
    for (std::uint32_t i = 0; i < frames; ++i) {
        std::uint32_t words[2];
        std::memcpy(words, at + i * frame_bytes, frame_bytes);
        const auto value = static_cast<std::uint32_t>(first + i);
        if (words[0] != value || words[1] != ~value) return i;
    }
    return frames;
}
} // namespace

TEST_CASE("ae::frame_ring") {
    SUBCASE("zero sizes are bad arguments") {
        CHECK(ae::frame_ring::create(0, 8).error() == ae::errc::bad_argument);
        CHECK(ae::frame_ring::create(16, 0).error() == ae::errc::bad_argument);
    }
    SUBCASE("split hands out the roles once") {
        auto ring = ae::frame_ring::create(64, frame_bytes);
        REQUIRE(ring);
        auto [writer, reader] = ring->split();
        CHECK(static_cast<bool>(writer));
        CHECK(static_cast<bool>(reader));
        auto [again_writer, again_reader] = ring->split();
        CHECK_FALSE(static_cast<bool>(again_writer));
        CHECK_FALSE(static_cast<bool>(again_reader));
        auto moved = std::move(writer);
        CHECK(static_cast<bool>(moved));
        CHECK_FALSE(static_cast<bool>(writer)); // NOLINT(bugprone-use-after-move): a sent value is gone
    }
    SUBCASE("padding is written minus read; acquire fails without room") {
        auto ring = ae::frame_ring::create(100, frame_bytes);
        REQUIRE(ring);
        auto [writer, reader] = ring->split();
        CHECK(writer.free_frames() == 100);
        REQUIRE(writer.try_acquire(60));
        writer.commit(60);
        CHECK(writer.padding_frames() == 60);
        CHECK(reader.available_frames() == 60);
        CHECK(writer.try_acquire(41) == nullptr);
        CHECK(writer.try_acquire(40) != nullptr);
        CHECK(reader.try_acquire(61) == nullptr);
        REQUIRE(reader.try_acquire(25));
        reader.commit(25);
        CHECK(writer.padding_frames() == 35);
        CHECK(writer.free_frames() == 65);
        CHECK(writer.try_acquire(101) == nullptr); // more than capacity: never
    }
    SUBCASE("available_frames(wanted) reads the writer's position again only when the last one seen is short of it") {
        auto ring = ae::frame_ring::create(1000, frame_bytes);
        REQUIRE(ring);
        auto [writer, reader] = ring->split();
        REQUIRE(writer.try_acquire(100));
        writer.commit(100);
        CHECK(reader.available_frames(50) == 100); // nothing seen yet: read fresh
        REQUIRE(writer.try_acquire(100));
        writer.commit(100);
        CHECK(reader.available_frames(50) == 100);  // the 100 seen cover 50: not read again
        CHECK(reader.available_frames(150) == 200); // they do not cover 150: read again
        CHECK(reader.available_frames() == 200);
        CHECK(sizeof(writer) == 128);
        CHECK(reinterpret_cast<std::uintptr_t>(&writer) % 128 == 0);
    }
    SUBCASE("every span is contiguous across the physical edge, for any frame size") {
        // 1000 frames of 8 bytes map to 8192 bytes: the edge falls at frame 1024, so spans
        // straddle it at ever-changing places as the positions run on.
        auto ring = ae::frame_ring::create(1000, frame_bytes);
        REQUIRE(ring);
        CHECK(ring->mapped_bytes() % 4096 == 0);
        auto [writer, reader] = ring->split();
        std::uint64_t written = 0;
        std::uint64_t read = 0;
        std::uint32_t size = 1;
        std::uint32_t mismatches = 0;
        for (int round = 0; round < 5000; ++round) {
            size = (size * 7919 + 13) % 997 + 1;
            if (std::byte* span = writer.try_acquire(size)) {
                write_counting(span, written, size);
                writer.commit(size);
                written += size;
            }
            const auto take = static_cast<std::uint32_t>(reader.available_frames() * (round % 3 + 1) / 3);
            if (take == 0) continue;
            const std::byte* span = reader.try_acquire(take);
            REQUIRE(span);
            if (check_counting(span, read, take) != take) ++mismatches;
            reader.commit(take);
            read += take;
        }
        CHECK(mismatches == 0);
        CHECK(written > 1'000'000); // many wraps
        CHECK(writer.padding_frames() == written - read);
    }
    SUBCASE("a frame size that does not divide the page still wraps cleanly") {
        auto ring = ae::frame_ring::create(700, 6); // s24 stereo
        REQUIRE(ring);
        auto [writer, reader] = ring->split();
        std::uint32_t mismatches = 0;
        for (std::uint32_t round = 0; round < 2000; ++round) {
            std::byte* span = writer.try_acquire(500);
            REQUIRE(span);
            for (std::uint32_t i = 0; i < 500 * 6; ++i) span[i] = static_cast<std::byte>((round + i) & 0xff);
            writer.commit(500);
            const std::byte* in = reader.try_acquire(500);
            REQUIRE(in);
            for (std::uint32_t i = 0; i < 500 * 6; ++i) {
                if (in[i] != static_cast<std::byte>((round + i) & 0xff)) ++mismatches;
            }
            reader.commit(500);
        }
        CHECK(mismatches == 0);
    }
    SUBCASE("positions run past 2^32 frames without a wrap in padding") {
        const std::uint64_t start = (std::uint64_t{1} << 32) - 300;
        auto ring = ae::frame_ring::create(1024, frame_bytes, start);
        REQUIRE(ring);
        auto [writer, reader] = ring->split();
        CHECK(writer.write_position() == start);
        std::uint64_t position = start;
        for (int pass = 0; pass < 10; ++pass) {
            std::byte* span = writer.try_acquire(200);
            REQUIRE(span);
            write_counting(span, position, 200);
            writer.commit(200);
            CHECK(writer.padding_frames() == 200);
            const std::byte* in = reader.try_acquire(200);
            REQUIRE(in);
            CHECK(check_counting(in, position, 200) == 200);
            reader.commit(200);
            position += 200;
            CHECK(writer.padding_frames() == 0);
        }
        CHECK(reader.read_position() == start + 2000);
        CHECK(reader.read_position() > (std::uint64_t{1} << 32));
    }
    SUBCASE("positions near 2^63 still map to the right bytes") {
        const std::uint64_t start = (std::uint64_t{1} << 63) - 5;
        auto ring = ae::frame_ring::create(64, frame_bytes, start);
        REQUIRE(ring);
        auto [writer, reader] = ring->split();
        std::byte* span = writer.try_acquire(32);
        REQUIRE(span);
        write_counting(span, start, 32);
        writer.commit(32);
        const std::byte* in = reader.try_acquire(32);
        REQUIRE(in);
        CHECK(check_counting(in, start, 32) == 32);
    }
    SUBCASE("discard_all drops what was written") {
        auto ring = ae::frame_ring::create(64, frame_bytes);
        REQUIRE(ring);
        auto [writer, reader] = ring->split();
        REQUIRE(writer.try_acquire(40));
        writer.commit(40);
        CHECK(reader.discard_all() == 40);
        CHECK(writer.padding_frames() == 0);
        CHECK(reader.read_position() == 40);
    }
    SUBCASE("two threads: every frame arrives in order") {
        auto ring = ae::frame_ring::create(512, frame_bytes);
        REQUIRE(ring);
        auto [writer, reader] = ring->split();
        constexpr std::uint64_t total = 2'000'000;
        std::thread producer([&writer = writer] {
            std::uint64_t written = 0;
            std::uint32_t size = 1;
            while (written < total) {
                size = size % 300 + 1;
                const auto frames = static_cast<std::uint32_t>(std::min<std::uint64_t>(size, total - written));
                if (std::byte* span = writer.try_acquire(frames)) {
                    write_counting(span, written, frames);
                    writer.commit(frames);
                    written += frames;
                }
            }
        });
        std::uint64_t read = 0;
        std::uint64_t mismatches = 0;
        while (read < total) {
            const auto frames = static_cast<std::uint32_t>(std::min<std::uint64_t>(reader.available_frames(), 257));
            if (frames == 0) continue;
            const std::byte* span = reader.try_acquire(frames);
            if (check_counting(span, read, frames) != frames) ++mismatches;
            reader.commit(frames);
            read += frames;
        }
        producer.join();
        CHECK(mismatches == 0);
        CHECK(read == total);
    }
}
