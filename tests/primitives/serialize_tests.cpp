#include "primitives/serialize.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <limits>

using namespace sidebolt;

TEST_CASE("ByteWriter writes little-endian integers and shortest CompactSize")
{
    ByteWriter w;
    w.U8(0x01).U16(0x0302).U32(0x07060504).U64(0x0f0e0d0c0b0a0908).I64(-1);
    CHECK(ToHex(w.Data()) == "0102030405060708090a0b0c0d0e0fffffffffffffffff");

    const std::pair<uint64_t, std::string> sizes[] = {
        {0, "00"}, {0xfc, "fc"}, {0xfd, "fdfd00"}, {0xffff, "fdffff"}, {0x10000, "fe00000100"},
        {0xffffffff, "feffffffff"}, {0x100000000, "ff0000000001000000"},
    };
    for (const auto& [n, hex] : sizes) {
        ByteWriter cw;
        cw.CompactSize(n);
        CHECK(ToHex(cw.Data()) == hex);
        CHECK(cw.Data().size() == CompactSizeLen(n));
    }
    CHECK(ToHex(ByteWriter{}.VarBytes(ParseHex("abcd")).Data()) == "02abcd");
}

TEST_CASE("ByteReader reads what ByteWriter wrote and tracks position")
{
    ByteWriter w;
    w.U8(7).U16(0xbeef).U32(0xdeadbeef).U64(std::numeric_limits<uint64_t>::max()).I64(-42).CompactSize(300).VarBytes(
        ParseHex("0102"));
    ByteReader r(w.Data());
    CHECK(r.U8() == 7);
    CHECK(r.U16() == 0xbeef);
    CHECK(r.U32() == 0xdeadbeef);
    CHECK(r.U64() == std::numeric_limits<uint64_t>::max());
    CHECK(r.I64() == -42);
    CHECK(r.CompactSize() == 300);
    const ByteSpan bytes = r.VarBytes();
    CHECK(ToHex(bytes) == "0102");
    CHECK(r.Empty());
    CHECK_NOTHROW(r.ExpectEnd());
    CHECK_THROWS_AS(r.U8(), DeserializeError);
}

TEST_CASE("ByteReader rejects truncation, non-canonical and oversized CompactSize")
{
    const auto throws_with = [](const std::string& hex, const std::string& what, auto read) {
        const Bytes data = ParseHex(hex);
        ByteReader r(data);
        try {
            read(r);
            FAIL("no exception for " << hex);
        } catch (const DeserializeError& e) {
            CHECK_MESSAGE(std::string(e.what()).find(what) != std::string::npos, hex << ": " << e.what());
        }
    };
    const auto compact = [](ByteReader& r) { r.CompactSize(); };
    throws_with("", "unexpected end", compact);
    throws_with("fd00", "unexpected end", compact);
    throws_with("fdfc00", "non-canonical", compact);
    throws_with("feffff0000", "non-canonical", compact);
    throws_with("ffffffffff00000000", "non-canonical", compact);
    throws_with("fe01000002", "exceeds maximum", compact);
    throws_with("ff0000000000000001", "exceeds maximum", compact);
    // Counts and lengths are bounded by what remains, so no caller allocates from a lie.
    throws_with("0301", "count exceeds remaining", [](ByteReader& r) { r.VarBytes(); });
    throws_with("02aabbcc", "count exceeds remaining", [](ByteReader& r) { r.Count(2); });
    throws_with("0102", "unexpected end", [](ByteReader& r) { r.U32(); });
    throws_with("01", "unexpected end", [](ByteReader& r) { r.Array<2>(); });
    throws_with("0102", "trailing", [](ByteReader& r) { r.U8(); r.ExpectEnd(); });
}

TEST_CASE("ByteReader accepts the boundary encodings")
{
    const Bytes data = ParseHex("fcfdfd00feffff0100ff0000000000000002");
    ByteReader r(data);
    CHECK(r.CompactSize() == 0xfc);
    CHECK(r.CompactSize() == 0xfd);
    CHECK(r.CompactSize() == 0x1ffff);
    CHECK_THROWS_AS(r.CompactSize(), DeserializeError); // 0x0200000000000000 > 32 MiB
    const Bytes max = ParseHex("fe00000002");
    ByteReader m(max);
    CHECK(m.CompactSize() == MAX_COMPACT_SIZE);
}
