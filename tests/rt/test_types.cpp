#include <openae/openae.h>
#include <openae/openae.hpp>

#include <doctest/doctest.h>

#include <string>

TEST_CASE("ae::errc") {
    SUBCASE("converts to std::error_code in the openae category") {
        const std::error_code ec = ae::errc::busy;
        CHECK(ec == ae::errc::busy);
        CHECK(ec != ae::errc::timeout);
        CHECK(std::string(ec.category().name()) == "openae");
        CHECK(ec.message().find("busy") != std::string::npos);
    }
    SUBCASE("no enumerator is zero and each has a message and a name") {
        for (int value = 1; value <= static_cast<int>(ae::errc::wrong_thread); ++value) {
            const auto code = static_cast<ae::errc>(value);
            CHECK(code != ae::errc{});
            CHECK(make_error_code(code).message().find("unknown openae error") == std::string::npos);
            CHECK(std::string(ae::to_string(code)) != "unknown");
        }
        CHECK(std::string(ae_error_name(AE_ERR_TOO_MANY_FRAMES)) == "too_many_frames");
        CHECK(std::string(ae_error_name(0)) == "ok");
    }
}

TEST_CASE("ae::frame_format") {
    SUBCASE("bytes per frame follow the sample type and channels") {
        CHECK(ae::frame_format{48000, 2, ae::sample_type::s16}.bytes_per_frame() == 4);
        CHECK(ae::frame_format{48000, 2, ae::sample_type::s24}.bytes_per_frame() == 6);
        CHECK(ae::frame_format{48000, 6, ae::sample_type::f32}.bytes_per_frame() == 24);
        CHECK(ae::frame_format{48000, 1, ae::sample_type::s32}.bytes_per_frame() == 4);
    }
    SUBCASE("validity") {
        CHECK(ae::is_valid(ae::frame_format{}));
        CHECK_FALSE(ae::is_valid(ae::frame_format{0, 2, ae::sample_type::f32}));
        CHECK_FALSE(ae::is_valid(ae::frame_format{48000, 0, ae::sample_type::f32}));
        CHECK_FALSE(ae::is_valid(ae::frame_format{48000, 2, static_cast<ae::sample_type>(9)}));
        CHECK_FALSE(ae::is_valid(ae::frame_format{48000, 65, ae::sample_type::f32}));
    }
}

TEST_CASE("ae::position_flags") {
    using ae::position_flags;
    const auto flags = position_flags::continuous | position_flags::time_error;
    CHECK(ae::has(flags, position_flags::continuous));
    CHECK(ae::has(flags, position_flags::time_error));
    CHECK_FALSE(ae::has(flags, position_flags::discontinuous));
    CHECK((flags & ~position_flags::time_error) == position_flags::continuous);
    CHECK(static_cast<std::uint32_t>(position_flags::discontinuous) == 1);
    CHECK(static_cast<std::uint32_t>(position_flags::continuous) == 2);
    CHECK(static_cast<std::uint32_t>(position_flags::time_error) == 4);
    CHECK(static_cast<std::uint32_t>(ae::stream_flags::event_callback) == 0x00040000u);
    CHECK(std::chrono::duration_cast<std::chrono::microseconds>(ae::hns{10}).count() == 1);
}
