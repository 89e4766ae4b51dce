#include "primitives/address.h"
#include "primitives/base58.h"
#include "primitives/bech32.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using namespace sidebolt;

namespace {
std::string ErrorName(AddressError error)
{
    using E = AddressError;
    switch (error) {
    case E::UnknownFormat: return "UnknownFormat";
    case E::Base58Checksum: return "Base58Checksum";
    case E::InvalidBase58Payload: return "InvalidBase58Payload";
    case E::WrongVersionByte: return "WrongVersionByte";
    case E::InvalidBech32: return "InvalidBech32";
    case E::WrongHrp: return "WrongHrp";
    case E::EmptyWitnessData: return "EmptyWitnessData";
    case E::InvalidWitnessVersion: return "InvalidWitnessVersion";
    case E::InvalidPadding: return "InvalidPadding";
    case E::InvalidProgramLength: return "InvalidProgramLength";
    case E::InvalidV0ProgramLength: return "InvalidV0ProgramLength";
    case E::WrongChecksumVariant: return "WrongChecksumVariant";
    }
    return "?";
}

std::string Bech32ErrorName(bech32::DecodeError error)
{
    switch (error) {
    case bech32::DecodeError::MixedCase: return "MixedCase";
    case bech32::DecodeError::InvalidChecksum: return "InvalidChecksum";
    case bech32::DecodeError::InvalidDataCharacter: return "InvalidDataCharacter";
    default: return "other";
    }
}

std::string ChangeCase(std::string s, bool upper)
{
    std::transform(s.begin(), s.end(), s.begin(), [upper](char c) {
        if (upper && c >= 'a' && c <= 'z') return static_cast<char>(c - 'a' + 'A');
        if (!upper && c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
        return c;
    });
    return s;
}

Network NetworkOf(const nlohmann::json& v) { return ParseNetwork(v.at("network").get<std::string>()).value(); }

std::string ParseError(std::string_view address, Network network)
{
    const auto result = ParseAddress(address, network);
    if (!std::holds_alternative<AddressError>(result)) return "accepted";
    return ErrorName(std::get<AddressError>(result));
}

void CheckValidAddresses(const nlohmann::json& list, bool is_segwit)
{
    for (const auto& v : list) {
        const std::string address = v.at("address").get<std::string>();
        const Bytes script = ParseHex(v.at("script_pubkey").get<std::string>());
        const Network network = NetworkOf(v);
        CAPTURE(address);
        CHECK(DecodeAddress(address, network) == script);
        // Segwit addresses are written lower case; base58 is case-sensitive and kept as is.
        CHECK(EncodeAddress(script, network) == (is_segwit ? ChangeCase(address, false) : address));
        if (is_segwit) CHECK(DecodeAddress(ChangeCase(address, true), network) == script);
        // Mainnet and the test networks never accept each other's addresses.
        const Network other = network == Network::Mainnet ? Network::Testnet : Network::Mainnet;
        CHECK_FALSE(DecodeAddress(address, other));
    }
}

void CheckInvalidAddresses(const nlohmann::json& list)
{
    for (const auto& v : list) {
        const std::string address = v.at("address").get<std::string>();
        CAPTURE(address);
        CAPTURE(v.at("reason").get<std::string>());
        CHECK(ParseError(address, NetworkOf(v)) == v.at("error").get<std::string>());
        CHECK_FALSE(DecodeAddress(address, NetworkOf(v)));
        if (v.contains("bech32_error")) {
            const auto decoded = bech32::Decode(address);
            REQUIRE(std::holds_alternative<bech32::DecodeError>(decoded));
            CHECK(Bech32ErrorName(std::get<bech32::DecodeError>(decoded)) == v.at("bech32_error").get<std::string>());
        }
    }
}
} // namespace

TEST_CASE("BIP173 segwit addresses: valid v0, invalid, and v1+ now refused per BIP350")
{
    const auto vectors = test::ReadJsonVectors("chain/bip173.json");
    CheckValidAddresses(vectors.at("valid_addresses"), true);
    CheckInvalidAddresses(vectors.at("invalid_addresses"));
    for (const auto& v : vectors.at("superseded_by_bip350").at("addresses")) {
        const std::string address = v.at("address").get<std::string>();
        CAPTURE(address);
        CHECK(ParseError(address, NetworkOf(v)) == v.at("error").get<std::string>());
        const auto decoded = bech32::Decode(address);
        REQUIRE(std::holds_alternative<bech32::Decoded>(decoded));
        CHECK(std::get<bech32::Decoded>(decoded).encoding == bech32::Encoding::Bech32);
        // Today the same scriptPubKey encodes with bech32m.
        const auto reencoded = EncodeAddress(ParseHex(v.at("script_pubkey").get<std::string>()), NetworkOf(v));
        REQUIRE(reencoded);
        CHECK(*reencoded != ChangeCase(address, false));
    }
}

TEST_CASE("BIP350 segwit addresses: all valid and invalid vectors")
{
    const auto vectors = test::ReadJsonVectors("chain/bip350.json");
    CheckValidAddresses(vectors.at("valid_addresses"), true);
    CheckInvalidAddresses(vectors.at("invalid_addresses"));
}

TEST_CASE("addresses on every network (Bitcoin Core key_io_valid.json)")
{
    CheckValidAddresses(test::ReadJsonVectors("chain/bip350_key_io_addresses.json").at("addresses"), true);
    CheckValidAddresses(test::ReadJsonVectors("chain/base58_key_io_addresses.json").at("addresses"), false);
}

TEST_CASE("test networks share base58 prefixes; regtest has its own HRP")
{
    // Taken from the key_io vectors: testnet4 P2PKH and P2WPKH.
    for (const Network n : {Network::Testnet, Network::Testnet4, Network::Signet, Network::Regtest}) {
        CHECK(DecodeAddress("mzK2FFDEhxqHcmrJw1ysqFkVyhUULo45hZ", n));
    }
    CHECK(DecodeAddress("tb1qcrh3yqn4nlleplcez2yndq2ry8h9ncg3qh7n54", Network::Signet));
    CHECK(ParseError("tb1qcrh3yqn4nlleplcez2yndq2ry8h9ncg3qh7n54", Network::Regtest) == "WrongHrp");
    CHECK(ParseError("bcrt1qdavt4j2sd7dlhqsavtnfxvzppw6k7qy97tmnu9", Network::Mainnet) == "WrongHrp");
    CHECK(ParseError("bc1qvyq0cc6rahyvsazfdje0twl7ez82ndmuac2lhv", Network::Regtest) == "WrongHrp");
}

TEST_CASE("base58 address refusals")
{
    CHECK(ParseError("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo", Network::Testnet) == "WrongVersionByte");
    CHECK(ParseError("mzK2FFDEhxqHcmrJw1ysqFkVyhUULo45hZ", Network::Mainnet) == "WrongVersionByte");
    CHECK(ParseError("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mp", Network::Mainnet) == "Base58Checksum");
    // Valid base58check, but a 20-byte payload and a 22-byte payload.
    CHECK(ParseError(EncodeBase58Check(Bytes(20, 1)), Network::Mainnet) == "InvalidBase58Payload");
    CHECK(ParseError(EncodeBase58Check(Bytes(22, 0)), Network::Mainnet) == "UnknownFormat");
    // Version byte 0x80 (a WIF private key prefix) is not an address type.
    Bytes wif_like(21, 0x11);
    wif_like[0] = 0x80;
    CHECK(ParseError(EncodeBase58Check(wif_like), Network::Mainnet) == "WrongVersionByte");
    CHECK(ParseError("", Network::Mainnet) == "UnknownFormat");
    CHECK(ParseError("not an address", Network::Mainnet) == "UnknownFormat");
    CHECK(ParseError("bc1", Network::Mainnet) == "InvalidBech32");
}

TEST_CASE("EncodeAddress refuses scripts without an address form")
{
    const Bytes key_hash(20, 0xab);
    auto with = [](std::initializer_list<uint8_t> head, const Bytes& body, std::initializer_list<uint8_t> tail) {
        Bytes out(head);
        Append(out, body);
        out.insert(out.end(), tail);
        return out;
    };
    CHECK(EncodeAddress(with({0x76, 0xa9, 0x14}, key_hash, {0x88, 0xac}), Network::Mainnet));
    CHECK_FALSE(EncodeAddress(with({0x76, 0xa9, 0x14}, key_hash, {0x88, 0xad}), Network::Mainnet));
    CHECK_FALSE(EncodeAddress(with({0xa9, 0x14}, key_hash, {0x88}), Network::Mainnet));
    CHECK_FALSE(EncodeAddress(with({0x6a, 0x14}, key_hash, {}), Network::Mainnet));      // OP_RETURN
    CHECK_FALSE(EncodeAddress(with({0x00, 0x15}, Bytes(21, 1), {}), Network::Mainnet)); // v0, 21 bytes
    CHECK_FALSE(EncodeAddress(with({0x00, 0x15}, key_hash, {}), Network::Mainnet));     // push length mismatch
    CHECK_FALSE(EncodeAddress(with({0x51, 0x01}, Bytes(1, 1), {}), Network::Mainnet));  // 1-byte program
    CHECK_FALSE(EncodeAddress(with({0x51, 0x29}, Bytes(41, 1), {}), Network::Mainnet)); // 41-byte program
    CHECK_FALSE(EncodeAddress(with({0x4f, 0x14}, key_hash, {}), Network::Mainnet));     // OP_1NEGATE
    CHECK_FALSE(EncodeAddress(Bytes{}, Network::Mainnet));
    // v16 with a 40-byte program is the widest address there is.
    CHECK(EncodeAddress(with({0x60, 0x28}, Bytes(40, 1), {}), Network::Regtest)->substr(0, 6) == "bcrt1s");
}
