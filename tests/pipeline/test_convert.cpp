#include <openae/pipeline/convert.h>

#include "rt_guard.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace {
using ae::sample_type;

template <typename Out, typename In, std::size_t N>
std::array<Out, N> convert(const std::array<In, N>& in, sample_type from, sample_type to) {
    std::array<Out, N> out{};
    REQUIRE(ae::pipeline::convert_samples(reinterpret_cast<const std::byte*>(in.data()), from,
                                          reinterpret_cast<std::byte*>(out.data()), to, N));
    return out;
}
// Packed s24 little-endian bytes of `value`.
std::array<std::uint8_t, 3> s24(std::int32_t value) {
    const auto u = static_cast<std::uint32_t>(value);
    return {static_cast<std::uint8_t>(u), static_cast<std::uint8_t>(u >> 8), static_cast<std::uint8_t>(u >> 16)};
}
} // namespace

TEST_CASE("ae::pipeline::convert_samples") {
    SUBCASE("s16 to f32 divides by 32768, exactly") {
        const auto out = convert<float>(std::array<std::int16_t, 4>{16384, -32768, 1, 32767}, sample_type::s16, sample_type::f32);
        CHECK(out[0] == 0.5f);
        CHECK(out[1] == -1.0f);
        CHECK(out[2] == 1.0f / 32768.0f);
        CHECK(out[3] == 32767.0f / 32768.0f);
    }
    SUBCASE("f32 to s16 rounds to nearest (ties to even) and clips") {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        const auto out = convert<std::int16_t>(
            std::array<float, 9>{0.5f, 1.0f, -1.0f, 1.5f, -2.0f, nan, 1.5f / 32768, 2.5f / 32768, -1.5f / 32768},
            sample_type::f32, sample_type::s16);
        CHECK(out == std::array<std::int16_t, 9>{16384, 32767, -32768, 32767, -32768, 0, 2, 2, -2});
    }
    SUBCASE("f32 to packed s24 and s32") {
        std::array<std::uint8_t, 9> packed{};
        const std::array<float, 3> in{0.5f, -1.0f, 1.0f};
        REQUIRE(ae::pipeline::convert_samples(reinterpret_cast<const std::byte*>(in.data()), sample_type::f32,
                                              reinterpret_cast<std::byte*>(packed.data()), sample_type::s24, 3));
        CHECK(std::array<std::uint8_t, 3>{packed[0], packed[1], packed[2]} == s24(4194304));
        CHECK(std::array<std::uint8_t, 3>{packed[3], packed[4], packed[5]} == s24(-8388608));
        CHECK(std::array<std::uint8_t, 3>{packed[6], packed[7], packed[8]} == s24(8388607));
        const auto wide = convert<std::int32_t>(std::array<float, 3>{0.5f, -1.0f, 1.0f}, sample_type::f32, sample_type::s32);
        CHECK(wide == std::array<std::int32_t, 3>{1073741824, std::numeric_limits<std::int32_t>::min(),
                                                  std::numeric_limits<std::int32_t>::max()});
    }
    SUBCASE("widening integers shifts exactly") {
        const auto wide = convert<std::int32_t>(std::array<std::int16_t, 3>{1, -32768, -1}, sample_type::s16, sample_type::s32);
        CHECK(wide == std::array<std::int32_t, 3>{65536, std::numeric_limits<std::int32_t>::min(), -65536});
        std::array<std::uint8_t, 3> out{};
        const std::int16_t minus_one = -1;
        REQUIRE(ae::pipeline::convert_samples(reinterpret_cast<const std::byte*>(&minus_one), sample_type::s16,
                                              reinterpret_cast<std::byte*>(out.data()), sample_type::s24, 1));
        CHECK(out == s24(-256));
    }
    SUBCASE("narrowing integers rounds to nearest, ties away from zero, and saturates") {
        const auto from32 = convert<std::int16_t>(
            std::array<std::int32_t, 5>{std::numeric_limits<std::int32_t>::max(), 0x8000, -0x8000, 0x7fff,
                                        std::numeric_limits<std::int32_t>::min()},
            sample_type::s32, sample_type::s16);
        CHECK(from32 == std::array<std::int16_t, 5>{32767, 1, -1, 0, -32768});
        std::array<std::uint8_t, 9> packed{};
        for (int i = 0; i < 3; ++i) {
            const auto bytes = s24(std::array<std::int32_t, 3>{128, -128, 8388607}[i]);
            std::memcpy(packed.data() + 3 * i, bytes.data(), 3);
        }
        std::array<std::int16_t, 3> out{};
        REQUIRE(ae::pipeline::convert_samples(reinterpret_cast<const std::byte*>(packed.data()), sample_type::s24,
                                              reinterpret_cast<std::byte*>(out.data()), sample_type::s16, 3));
        CHECK(out == std::array<std::int16_t, 3>{1, -1, 32767});
    }
    SUBCASE("every s16 value survives s16 -> f32 -> s16 and s16 -> s24 -> s16") {
        std::vector<std::int16_t> all(65536);
        for (int i = 0; i < 65536; ++i) all[i] = static_cast<std::int16_t>(i - 32768);
        std::vector<float> floats(all.size());
        std::vector<std::uint8_t> packed(all.size() * 3);
        std::vector<std::int16_t> back(all.size());
        auto* bytes = reinterpret_cast<std::byte*>(back.data());
        REQUIRE(ae::pipeline::convert_samples(reinterpret_cast<const std::byte*>(all.data()), sample_type::s16,
                                              reinterpret_cast<std::byte*>(floats.data()), sample_type::f32, all.size()));
        REQUIRE(ae::pipeline::convert_samples(reinterpret_cast<const std::byte*>(floats.data()), sample_type::f32, bytes,
                                              sample_type::s16, all.size()));
        CHECK(back == all);
        REQUIRE(ae::pipeline::convert_samples(reinterpret_cast<const std::byte*>(all.data()), sample_type::s16,
                                              reinterpret_cast<std::byte*>(packed.data()), sample_type::s24, all.size()));
        REQUIRE(ae::pipeline::convert_samples(reinterpret_cast<const std::byte*>(packed.data()), sample_type::s24, bytes,
                                              sample_type::s16, all.size()));
        CHECK(back == all);
    }
    SUBCASE("an unknown type converts nothing") {
        std::array<std::byte, 8> in{}, out{};
        CHECK_FALSE(ae::pipeline::convert_samples(in.data(), static_cast<sample_type>(0), out.data(), sample_type::f32, 1));
        CHECK_FALSE(ae::pipeline::convert_samples(in.data(), sample_type::f32, out.data(), static_cast<sample_type>(7), 1));
    }
    SUBCASE("rt-safe: no allocation, lock or blocking call") {
        std::vector<float> in(4096, 0.25f);
        std::vector<std::int32_t> out(4096);
        ae::test::rt_guard guard;
        {
            auto armed = guard.arm();
            for (auto to : {sample_type::s16, sample_type::s24, sample_type::s32, sample_type::f32}) {
                (void)ae::pipeline::convert_samples(reinterpret_cast<const std::byte*>(in.data()), sample_type::f32,
                                                    reinterpret_cast<std::byte*>(out.data()), to, 1024);
            }
        }
        CHECK(guard.violations() == 0);
    }
}

TEST_CASE("convert: f32 to s16 in float gives what double arithmetic gives, for every tie, edge and a million random samples") {
    // The reference: scaled by 2^15 in double, clamped, rounded to nearest even (nearbyint in
    // the default mode); NaN is silence.
    auto reference = [](float x) -> std::int16_t {
        if (x != x) return 0;
        const double scaled = std::clamp(static_cast<double>(x) * 32768.0, -32768.0, 32767.0);
        return static_cast<std::int16_t>(std::nearbyint(scaled));
    };
    std::vector<float> in;
    for (int v = -32769; v <= 32768; ++v) {
        for (const double offset : {-0.5, -0.25, 0.0, 0.25, 0.5}) in.push_back(static_cast<float>((v + offset) / 32768.0));
    }
    for (const float special : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                                std::numeric_limits<float>::quiet_NaN(), 1e30f, -1e30f, 1.0f, -1.0f, 0.0f, -0.0f,
                                std::numeric_limits<float>::denorm_min(), 0.99999994f, -0.99999994f}) {
        in.push_back(special);
    }
    std::mt19937 random(17);
    std::uniform_real_distribution<float> spread(-1.5f, 1.5f);
    for (int i = 0; i < 1'000'000; ++i) in.push_back(spread(random));
    std::vector<std::int16_t> out(in.size());
    REQUIRE(ae::pipeline::convert_samples(reinterpret_cast<const std::byte*>(in.data()), sample_type::f32, reinterpret_cast<std::byte*>(out.data()),
                            sample_type::s16, in.size()));
    std::size_t differing = 0;
    for (std::size_t i = 0; i < in.size(); ++i) differing += out[i] != reference(in[i]);
    CHECK(differing == 0);
}
