#include "util/hex.h"

#include <doctest/doctest.h>

#include <stdexcept>

using namespace sidebolt;

TEST_CASE("hex round trip and rejects")
{
    CHECK(ToHex(ParseHex("00ff10Ab")) == "00ff10ab");
    CHECK(ToHex({}) == "");
    CHECK_FALSE(TryParseHex("0"));
    CHECK_FALSE(TryParseHex("zz"));
    CHECK_FALSE(TryParseHex("0g"));
    CHECK_THROWS_AS(ParseHex("abc"), std::invalid_argument);
    CHECK(TryParseHexArray<2>("beef").value() == ByteArray<2>{0xbe, 0xef});
    CHECK_FALSE(TryParseHexArray<3>("beef"));
}
