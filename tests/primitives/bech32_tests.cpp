#include "primitives/bech32.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using namespace sidebolt;

namespace {
std::string ErrorName(bech32::DecodeError error)
{
    using E = bech32::DecodeError;
    switch (error) {
    case E::TooLong: return "TooLong";
    case E::InvalidCharacter: return "InvalidCharacter";
    case E::MixedCase: return "MixedCase";
    case E::NoSeparator: return "NoSeparator";
    case E::EmptyHrp: return "EmptyHrp";
    case E::HrpTooLong: return "HrpTooLong";
    case E::TooShortChecksum: return "TooShortChecksum";
    case E::InvalidDataCharacter: return "InvalidDataCharacter";
    case E::InvalidChecksum: return "InvalidChecksum";
    }
    return "?";
}

std::string Lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
    return s;
}

//! Another data character of the same case.
char SubstituteDataChar(char c)
{
    const bool upper = c >= 'A' && c <= 'Z';
    const char lower = upper ? static_cast<char>(c - 'A' + 'a') : c;
    const char replacement = lower == 'q' ? 'p' : 'q';
    return upper ? static_cast<char>(replacement - 'a' + 'A') : replacement;
}

//! Invalid vectors carry raw bytes outside printable ASCII as hex.
std::string VectorString(const nlohmann::json& v)
{
    if (v.contains("hex")) {
        const Bytes raw = ParseHex(v.at("hex").get<std::string>());
        return {raw.begin(), raw.end()};
    }
    return v.at("string").get<std::string>();
}

void CheckValid(const std::string& str, bech32::Encoding expected)
{
    CAPTURE(str);
    const auto result = bech32::Decode(str);
    const auto* decoded = std::get_if<bech32::Decoded>(&result);
    REQUIRE(decoded);
    CHECK(decoded->encoding == expected);
    CHECK(bech32::Encode(expected, decoded->hrp, decoded->values) == Lower(str));

    // Any single substitution must be caught; change the last checksum character.
    std::string mutated = str;
    mutated.back() = SubstituteDataChar(mutated.back());
    const auto bad = bech32::Decode(mutated);
    REQUIRE(std::holds_alternative<bech32::DecodeError>(bad));
    CHECK(std::get<bech32::DecodeError>(bad) == bech32::DecodeError::InvalidChecksum);
}

void CheckInvalid(const nlohmann::json& v)
{
    const std::string str = VectorString(v);
    CAPTURE(str);
    CAPTURE(v.at("reason").get<std::string>());
    const auto result = bech32::Decode(str);
    REQUIRE(std::holds_alternative<bech32::DecodeError>(result));
    CHECK(ErrorName(std::get<bech32::DecodeError>(result)) == v.at("error").get<std::string>());
}
} // namespace

TEST_CASE("BIP173 bech32 strings: all valid and invalid vectors")
{
    const auto vectors = test::ReadJsonVectors("chain/bip173.json");
    for (const auto& str : vectors.at("valid_bech32")) CheckValid(str.get<std::string>(), bech32::Encoding::Bech32);
    for (const auto& v : vectors.at("invalid_bech32")) CheckInvalid(v);
}

TEST_CASE("BIP350 bech32m strings: all valid and invalid vectors")
{
    const auto vectors = test::ReadJsonVectors("chain/bip350.json");
    for (const auto& str : vectors.at("valid_bech32m")) CheckValid(str.get<std::string>(), bech32::Encoding::Bech32m);
    for (const auto& v : vectors.at("invalid_bech32m")) CheckInvalid(v);
}

TEST_CASE("bech32 length limit is a parameter so invoices can exceed 90 characters")
{
    const Bytes values(500, 7);
    CHECK_THROWS_AS(bech32::Encode(bech32::Encoding::Bech32, "lnbc", values), std::invalid_argument);
    const std::string invoice_like = bech32::Encode(bech32::Encoding::Bech32, "lnbc", values, 1023);
    CHECK(invoice_like.size() == 4 + 1 + 500 + 6);

    const auto too_long = bech32::Decode(invoice_like);
    REQUIRE(std::holds_alternative<bech32::DecodeError>(too_long));
    CHECK(std::get<bech32::DecodeError>(too_long) == bech32::DecodeError::TooLong);

    const auto result = bech32::Decode(invoice_like, 1023);
    const auto* decoded = std::get_if<bech32::Decoded>(&result);
    REQUIRE(decoded);
    CHECK(decoded->hrp == "lnbc");
    CHECK(decoded->values == values);
}

TEST_CASE("bech32 HRP longer than 83 characters is refused even under a larger limit")
{
    const std::string hrp(84, 'a');
    CHECK_THROWS_AS(bech32::Encode(bech32::Encoding::Bech32, hrp, {}, 1000), std::invalid_argument);
    const std::string str = hrp + "1qqqqqq";
    const auto result = bech32::Decode(str, 1000);
    REQUIRE(std::holds_alternative<bech32::DecodeError>(result));
    CHECK(std::get<bech32::DecodeError>(result) == bech32::DecodeError::HrpTooLong);
}

TEST_CASE("bech32 encode refuses bad inputs")
{
    const Bytes ok{0, 1, 31};
    CHECK_THROWS_AS(bech32::Encode(bech32::Encoding::Bech32, "", ok), std::invalid_argument);
    CHECK_THROWS_AS(bech32::Encode(bech32::Encoding::Bech32, "BC", ok), std::invalid_argument);
    CHECK_THROWS_AS(bech32::Encode(bech32::Encoding::Bech32, "b c", ok), std::invalid_argument);
    CHECK_THROWS_AS(bech32::Encode(bech32::Encoding::Bech32, "bc", Bytes{32}), std::invalid_argument);
    CHECK(bech32::Encode(bech32::Encoding::Bech32m, "bc", ok).substr(0, 6) == "bc1qpl");
}

TEST_CASE("ConvertBits: round trips, padding rules and range checks")
{
    const Bytes data = ParseHex("751e76e8199196d454941c45d1b3a323f1433bd6");
    const auto five = bech32::ConvertBits(data, 8, 5, true);
    REQUIRE(five);
    CHECK(five->size() == 32);
    CHECK(std::all_of(five->begin(), five->end(), [](uint8_t v) { return v < 32; }));
    CHECK(bech32::ConvertBits(*five, 5, 8, false) == data);

    // 3 bytes = 24 bits -> 5 groups with 1 zero padding bit.
    const auto padded = bech32::ConvertBits(Bytes{0xff, 0xff, 0xff}, 8, 5, true);
    REQUIRE(padded);
    CHECK(*padded == Bytes{31, 31, 31, 31, 30});
    CHECK(bech32::ConvertBits(*padded, 5, 8, false) == Bytes{0xff, 0xff, 0xff});
    // Without pad, leftover bits are an error on encode.
    CHECK_FALSE(bech32::ConvertBits(Bytes{0xff, 0xff, 0xff}, 8, 5, false));
    // Non-zero padding bit.
    CHECK_FALSE(bech32::ConvertBits(Bytes{31, 31, 31, 31, 31}, 5, 8, false));
    // 5 leftover bits (a whole extra group) is more than 4 bits of padding.
    CHECK_FALSE(bech32::ConvertBits(Bytes{31, 31, 31, 31, 30, 0}, 5, 8, false));
    // Input values must fit in from_bits.
    CHECK_FALSE(bech32::ConvertBits(Bytes{32}, 5, 8, true));
    CHECK(bech32::ConvertBits(Bytes{}, 5, 8, false) == Bytes{});
    CHECK_THROWS_AS(bech32::ConvertBits(Bytes{}, 0, 8, false), std::invalid_argument);
    CHECK_THROWS_AS(bech32::ConvertBits(Bytes{}, 5, 9, false), std::invalid_argument);
}
