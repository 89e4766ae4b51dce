#include "wire/bigsize.h"
#include "wire/wire.h"
#include "tests/wire/wire_test_util.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

using namespace sidebolt;

TEST_CASE("BOLT 1 Appendix A: BigSize decoding vectors")
{
    const auto vectors = test::ReadJsonVectors("net/bolt1_bigsize.json");
    for (const auto& v : vectors["decoding"]) {
        CAPTURE(v["name"].get<std::string>());
        const Bytes bytes = ParseHex(v["bytes"].get<std::string>());
        ByteSpan in(bytes);
        const auto value = ReadBigSize(in);
        if (v.contains("exp_error")) {
            REQUIRE_FALSE(value);
            const auto expected = v["exp_error"] == "decoded bigsize is not canonical" ? DecodeError::kNonMinimal : DecodeError::kTruncated;
            CHECK(value.error() == expected);
            CHECK(in.size() == bytes.size());
        } else {
            REQUIRE(value);
            CHECK(*value == v["value"].get<uint64_t>());
            CHECK(in.empty());
        }
    }
}

TEST_CASE("BOLT 1 Appendix A: BigSize encoding vectors")
{
    const auto vectors = test::ReadJsonVectors("net/bolt1_bigsize.json");
    for (const auto& v : vectors["encoding"]) {
        CAPTURE(v["name"].get<std::string>());
        const uint64_t value = v["value"].get<uint64_t>();
        Bytes out;
        AppendBigSize(out, value);
        CHECK(ToHex(out) == v["bytes"].get<std::string>());
        CHECK(out.size() == BigSizeLength(value));
        WireReader reader(out);
        CHECK(reader.ReadBigSize() == value);
        CHECK(reader.AtEnd());
    }
}

TEST_CASE("BOLT 1 Appendix D: signed integers in big-endian two's complement")
{
    const auto vectors = test::ReadJsonVectors("net/bolt1_signed_integers.json");
    for (const auto& v : vectors["vectors"]) {
        const int64_t value = v["value"].get<int64_t>();
        const Bytes bytes = ParseHex(v["bytes"].get<std::string>());
        CAPTURE(value);
        Bytes out;
        WireWriter writer(out);
        WireReader reader(bytes);
        switch (bytes.size()) {
        case 1: writer.WriteS8(static_cast<int8_t>(value)); CHECK(reader.ReadS8() == value); break;
        case 2: writer.WriteS16(static_cast<int16_t>(value)); CHECK(reader.ReadS16() == value); break;
        case 4: writer.WriteS32(static_cast<int32_t>(value)); CHECK(reader.ReadS32() == value); break;
        case 8: writer.WriteS64(value); CHECK(reader.ReadS64() == value); break;
        default: FAIL("unexpected width");
        }
        CHECK(out == bytes);
        CHECK(reader.AtEnd());
        CHECK(reader.Ok());
    }
}

TEST_CASE("fixed-width integers are big-endian and bounds-checked; failure is sticky")
{
    const Bytes bytes = ParseHex("0102030405060708090a0b0c0d0e0f");
    WireReader reader(bytes);
    CHECK(reader.ReadU8() == 0x01);
    CHECK(reader.ReadU16() == 0x0203);
    CHECK(reader.ReadU32() == 0x04050607);
    CHECK(reader.ReadU64() == 0x08090a0b0c0d0e0fULL);
    CHECK(reader.AtEnd());
    CHECK(reader.Ok());
    CHECK(reader.ReadU8() == 0);
    REQUIRE(reader.Error());
    CHECK(*reader.Error() == DecodeError::kTruncated);

    const Bytes three = ParseHex("010203");
    WireReader short_reader(three);
    CHECK(short_reader.ReadU32() == 0);
    CHECK(*short_reader.Error() == DecodeError::kTruncated);
    // Once failed, nothing more is consumed or returned, even where bytes would suffice.
    CHECK(short_reader.ReadU8() == 0);
    CHECK(short_reader.ReadBytes(1).empty());

    Bytes out;
    WireWriter writer(out);
    writer.WriteU16(0x0102);
    writer.WriteU32(0x03040506);
    writer.WriteU64(0x0708090a0b0c0d0eULL);
    CHECK(ToHex(out) == "0102030405060708090a0b0c0d0e");
}

TEST_CASE("truncated integers: minimal on write, leading zeros and overlong rejected on read")
{
    const std::pair<uint64_t, std::string> cases[] = {
        {0, ""}, {1, "01"}, {0xff, "ff"}, {0x100, "0100"}, {0x12345678, "12345678"}, {~uint64_t{0}, "ffffffffffffffff"}};
    for (const auto& [value, hex] : cases) {
        Bytes out;
        WireWriter(out).WriteTu64(value);
        CHECK(ToHex(out) == hex);
        CHECK(TruncatedLength(value) == out.size());
        WireReader reader(out);
        CHECK(reader.ReadTu64() == value);
        CHECK(reader.Ok());
    }
    const Bytes three_bytes = ParseHex("010000");
    WireReader tu16_long(three_bytes);
    tu16_long.ReadTu16();
    CHECK(*tu16_long.Error() == DecodeError::kBadLength);
    const Bytes five_bytes = ParseHex("0100000000");
    WireReader tu32_long(five_bytes);
    tu32_long.ReadTu32();
    CHECK(*tu32_long.Error() == DecodeError::kBadLength);
    const Bytes zero_byte = ParseHex("00");
    WireReader tu32_zero(zero_byte);
    tu32_zero.ReadTu32();
    CHECK(*tu32_zero.Error() == DecodeError::kNonMinimal);
    const Bytes max16 = ParseHex("ffff");
    WireReader tu16_ok(max16);
    CHECK(tu16_ok.ReadTu16() == 0xffff);
    CHECK(tu16_ok.Ok());
}

TEST_CASE("points, chain hashes, short channel ids and exact-length checks")
{
    const Bytes good = ParseHex("023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb");
    WireReader reader(good);
    const auto point = reader.ReadPoint();
    REQUIRE(point);
    CHECK(ToHex(point->span()) == ToHex(good));
    Bytes out;
    WireWriter(out).WritePoint(*point);
    CHECK(out == good);

    Bytes bad = good;
    bad[0] = 0x04;
    WireReader bad_reader(bad);
    CHECK_FALSE(bad_reader.ReadPoint());
    CHECK(*bad_reader.Error() == DecodeError::kInvalidPoint);

    const auto scid = ShortChannelId::FromU64(0x0000010000020003ULL);
    CHECK(scid.block_height == 1);
    CHECK(scid.tx_index == 2);
    CHECK(scid.output_index == 3);
    CHECK(scid.ToString() == "1x2x3");
    CHECK(scid.ToU64() == 0x0000010000020003ULL);

    const Bytes leftover_bytes = ParseHex("0001ff");
    WireReader leftover(leftover_bytes);
    leftover.ReadU16();
    leftover.ExpectEnd();
    CHECK(*leftover.Error() == DecodeError::kBadLength);

    Bytes too_long(65536, 0);
    Bytes sink;
    CHECK_THROWS_AS(WireWriter(sink).WriteU16Prefixed(too_long), std::length_error);
}
