#include "primitives/base58.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <string>

using namespace sidebolt;

TEST_CASE("base58 encode/decode known answers (Bitcoin Core base58_encode_decode.json)")
{
    const auto vectors = test::ReadJsonVectors("chain/base58_encode_decode.json");
    for (const auto& v : vectors.at("vectors")) {
        const Bytes data = ParseHex(v.at("hex").get<std::string>());
        const std::string encoded = v.at("base58").get<std::string>();
        CAPTURE(encoded);
        CHECK(EncodeBase58(data) == encoded);
        CHECK(DecodeBase58(encoded, data.size()) == data);
        // One byte less than the true length must be refused.
        if (!data.empty()) CHECK_FALSE(DecodeBase58(encoded, data.size() - 1));
    }
}

TEST_CASE("base58 decode refuses characters outside the alphabet")
{
    for (const char* bad : {"0", "O", "I", "l", " ", "3SEo3LWLoPntC ", " 3SEo3LWLoPntC", "3SEo3LW\nLoPntC", "+", "\xc3\xa9"}) {
        CAPTURE(bad);
        CHECK_FALSE(DecodeBase58(bad, 100));
    }
    // An embedded NUL is not silently treated as the end of the string.
    CHECK_FALSE(DecodeBase58(std::string("3SEo3LWLoPntC\0" "1", 15), 100));
}

TEST_CASE("base58 max_len bounds leading '1's too")
{
    CHECK(DecodeBase58("1111", 4) == Bytes(4, 0));
    CHECK_FALSE(DecodeBase58("1111", 3));
    CHECK_FALSE(DecodeBase58(std::string(1000, '1'), 100));
}

TEST_CASE("base58check round trip and every refusal")
{
    // A P2PKH address from Bitcoin Core's key_io vectors: version 0 || HASH160.
    const Bytes payload = ParseHex("00a31c06bd463e3923bc1aadbde48b16976c080717");
    const std::string encoded = EncodeBase58Check(payload);
    CHECK(encoded == "1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo");
    const auto decoded = DecodeBase58Check(encoded, 21);
    REQUIRE(std::holds_alternative<Bytes>(decoded));
    CHECK(std::get<Bytes>(decoded) == payload);

    // Payload longer than allowed.
    const auto too_long = DecodeBase58Check(encoded, 20);
    REQUIRE(std::holds_alternative<Base58CheckError>(too_long));
    CHECK(std::get<Base58CheckError>(too_long) == Base58CheckError::InvalidEncoding);

    // A changed character breaks the checksum.
    std::string corrupted = encoded;
    corrupted.back() = corrupted.back() == 'L' ? 'M' : 'L';
    const auto bad_checksum = DecodeBase58Check(corrupted, 21);
    REQUIRE(std::holds_alternative<Base58CheckError>(bad_checksum));
    CHECK(std::get<Base58CheckError>(bad_checksum) == Base58CheckError::BadChecksum);

    // Fewer than 4 bytes cannot even hold the checksum.
    const auto too_short = DecodeBase58Check(EncodeBase58(Bytes{1, 2, 3}), 21);
    REQUIRE(std::holds_alternative<Base58CheckError>(too_short));
    CHECK(std::get<Base58CheckError>(too_short) == Base58CheckError::InvalidEncoding);

    const auto bad_char = DecodeBase58Check("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mI", 21);
    REQUIRE(std::holds_alternative<Base58CheckError>(bad_char));
    CHECK(std::get<Base58CheckError>(bad_char) == Base58CheckError::InvalidEncoding);

    // Empty payload is legal: only the checksum is encoded.
    const auto empty = DecodeBase58Check(EncodeBase58Check({}), 0);
    REQUIRE(std::holds_alternative<Bytes>(empty));
    CHECK(std::get<Bytes>(empty).empty());
}
