#include "primitives/base58.h"
#include "primitives/bip32.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <string>

using namespace sidebolt;

namespace {
std::string ErrorName(ExtKeyError error)
{
    using E = ExtKeyError;
    switch (error) {
    case E::InvalidBase58: return "InvalidBase58";
    case E::BadChecksum: return "BadChecksum";
    case E::InvalidLength: return "InvalidLength";
    case E::UnknownVersion: return "UnknownVersion";
    case E::WrongNetwork: return "WrongNetwork";
    case E::ZeroDepthWithParentFingerprint: return "ZeroDepthWithParentFingerprint";
    case E::ZeroDepthWithChildNumber: return "ZeroDepthWithChildNumber";
    case E::PrivateDataWithPubVersion: return "PrivateDataWithPubVersion";
    case E::PublicDataWithPrivVersion: return "PublicDataWithPrivVersion";
    case E::InvalidPubKeyPrefix: return "InvalidPubKeyPrefix";
    case E::InvalidPrivKeyPrefix: return "InvalidPrivKeyPrefix";
    case E::InvalidPubKey: return "InvalidPubKey";
    case E::InvalidPrivKey: return "InvalidPrivKey";
    }
    return "?";
}

std::string ParseErrorName(std::string_view str, Network network)
{
    const auto parsed = ParseExtKey(str, network);
    if (!std::holds_alternative<ExtKeyError>(parsed)) return "accepted";
    return ErrorName(std::get<ExtKeyError>(parsed));
}

ExtPrivKey Master(std::string_view seed_hex) { return ExtPrivKey::FromSeed(ParseHex(seed_hex)).value(); }

//! A mainnet payload with the given fields, for hand-built malformed keys.
Bytes Payload(uint32_t version, uint8_t depth, uint32_t parent, uint32_t child, const Bytes& key_data)
{
    Bytes out;
    auto push_be32 = [&out](uint32_t word) {
        for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(word >> shift));
    };
    push_be32(version);
    out.push_back(depth);
    push_be32(parent);
    push_be32(child);
    out.insert(out.end(), 32, 0x42);
    Append(out, key_data);
    return out;
}
} // namespace

TEST_CASE("BIP32 test vectors 1-4: derivation, serialization, parsing, public derivation")
{
    const auto vectors = test::ReadJsonVectors("chain/bip32.json");
    for (const auto& vector : vectors.at("derivations")) {
        const ExtPrivKey master = Master(vector.at("seed").get<std::string>());
        std::optional<ExtPubKey> parent_pub;
        for (const auto& chain : vector.at("chains")) {
            const std::string path_str = chain.at("path").get<std::string>();
            CAPTURE(vector.at("name").get<std::string>());
            CAPTURE(path_str);
            const auto path = ParseBip32Path(path_str);
            REQUIRE(path);
            CHECK(FormatBip32Path(*path) == path_str);

            const auto priv = master.Derive(*path);
            REQUIRE(priv);
            const ExtPubKey pub = priv->Neuter();
            const std::string xprv = chain.at("xprv").get<std::string>();
            const std::string xpub = chain.at("xpub").get<std::string>();
            CHECK(priv->ToString(Network::Mainnet) == xprv);
            CHECK(pub.ToString(Network::Mainnet) == xpub);

            const auto parsed_priv = ParseExtPrivKey(xprv, Network::Mainnet);
            REQUIRE(parsed_priv);
            CHECK(*parsed_priv == *priv);
            const auto parsed_pub = ParseExtPubKey(xpub, Network::Mainnet);
            REQUIRE(parsed_pub);
            CHECK(*parsed_pub == pub);
            // An xprv is not an xpub and the reverse.
            CHECK_FALSE(ParseExtPubKey(xprv, Network::Mainnet));
            CHECK_FALSE(ParseExtPrivKey(xpub, Network::Mainnet));

            // CKDpub from the parent's xpub agrees with CKDpriv for normal children only.
            if (parent_pub && !path->empty()) {
                const uint32_t index = path->back();
                const auto child_pub = parent_pub->Derive(index);
                if (index & BIP32_HARDENED) {
                    CHECK_FALSE(child_pub);
                } else {
                    REQUIRE(child_pub);
                    CHECK(*child_pub == pub);
                }
                CHECK(pub.parent_fingerprint == parent_pub->Fingerprint());
            }
            parent_pub = pub;
        }
    }
}

TEST_CASE("BIP32 test vector 5: every invalid extended key is refused for the stated reason")
{
    const auto vectors = test::ReadJsonVectors("chain/bip32.json");
    for (const auto& v : vectors.at("invalid_keys")) {
        const std::string key = v.at("key").get<std::string>();
        CAPTURE(key);
        CAPTURE(v.at("reason").get<std::string>());
        CHECK(ParseErrorName(key, Network::Mainnet) == v.at("error").get<std::string>());
    }
}

TEST_CASE("BIP32 master fingerprint and child metadata")
{
    const ExtPrivKey master = Master("000102030405060708090a0b0c0d0e0f");
    CHECK(ToHex(master.Fingerprint()) == "3442193e");
    CHECK(master.Neuter().Fingerprint() == master.Fingerprint());
    CHECK(master.depth == 0);
    const auto child = master.Derive(BIP32_HARDENED | 7);
    REQUIRE(child);
    CHECK(child->depth == 1);
    CHECK(child->child_number == (BIP32_HARDENED | 7));
    CHECK(child->parent_fingerprint == master.Fingerprint());
}

TEST_CASE("BIP32 seed length must be 16..64 bytes")
{
    CHECK_FALSE(ExtPrivKey::FromSeed(Bytes(15, 1)));
    CHECK(ExtPrivKey::FromSeed(Bytes(16, 1)));
    CHECK(ExtPrivKey::FromSeed(Bytes(64, 1)));
    CHECK_FALSE(ExtPrivKey::FromSeed(Bytes(65, 1)));
}

TEST_CASE("BIP32 depth 255 cannot have children")
{
    ExtPrivKey deep = Master("000102030405060708090a0b0c0d0e0f");
    deep.depth = 254;
    auto last = deep.Derive(0);
    REQUIRE(last);
    CHECK(last->depth == 255);
    CHECK_FALSE(last->Derive(0));
    CHECK_FALSE(last->Neuter().Derive(0));
    CHECK(last->Neuter().ToString(Network::Mainnet).substr(0, 4) == "xpub");
}

TEST_CASE("BIP32 test networks use tprv/tpub and are kept apart from mainnet")
{
    const ExtPrivKey master = Master("000102030405060708090a0b0c0d0e0f");
    const std::string tprv = master.ToString(Network::Testnet);
    const std::string tpub = master.Neuter().ToString(Network::Signet);
    CHECK(tprv.substr(0, 4) == "tprv");
    CHECK(tpub.substr(0, 4) == "tpub");
    for (const Network n : {Network::Testnet, Network::Testnet4, Network::Signet, Network::Regtest}) {
        CHECK(ParseExtPrivKey(tprv, n) == master);
        CHECK(ParseExtPubKey(tpub, n) == master.Neuter());
    }
    CHECK(ParseErrorName(tprv, Network::Mainnet) == "WrongNetwork");
    CHECK(ParseErrorName(tpub, Network::Mainnet) == "WrongNetwork");
    CHECK(ParseErrorName(master.ToString(Network::Mainnet), Network::Regtest) == "WrongNetwork");
}

TEST_CASE("BIP32 parse refuses malformed encodings")
{
    const ExtPubKey master_pub = Master("000102030405060708090a0b0c0d0e0f").Neuter();
    const Bytes pubkey(master_pub.key.span().begin(), master_pub.key.span().end());
    CHECK(ParseErrorName(EncodeBase58Check(Payload(0x0488B21E, 0, 0, 0, pubkey)), Network::Mainnet) == "accepted");
    Bytes short_key = pubkey;
    short_key.pop_back();
    CHECK(ParseErrorName(EncodeBase58Check(Payload(0x0488B21E, 0, 0, 0, short_key)), Network::Mainnet) == "InvalidLength");
    Bytes long_key = pubkey;
    long_key.push_back(0);
    CHECK(ParseErrorName(EncodeBase58Check(Payload(0x0488B21E, 0, 0, 0, long_key)), Network::Mainnet) == "InvalidLength");
    CHECK(ParseErrorName("xpub0", Network::Mainnet) == "InvalidBase58");
    CHECK(ParseErrorName("", Network::Mainnet) == "InvalidBase58");
    // Non-zero depth may carry any parent fingerprint and child number.
    CHECK(ParseErrorName(EncodeBase58Check(Payload(0x0488B21E, 3, 0xdeadbeef, 0x80000005, pubkey)), Network::Mainnet) ==
          "accepted");
}

TEST_CASE("BIP32 path parsing")
{
    CHECK(ParseBip32Path("m") == std::vector<uint32_t>{});
    CHECK(ParseBip32Path("m/0'/1/2h") == std::vector<uint32_t>{BIP32_HARDENED, 1, BIP32_HARDENED | 2});
    CHECK(ParseBip32Path("m/2147483647H") == std::vector<uint32_t>{0xffffffff});
    CHECK(ParseBip32Path("m/0/2147483647") == std::vector<uint32_t>{0, 0x7fffffff});
    for (const char* bad : {"", "/", "0/1", "M/1", "m/", "m//1", "m/1/", "m/2147483648", "m/4294967296",
                            "m/99999999999999999999", "m/1x", "m/01", "m/-1", "m/+1", "m/1''", "m/1h'", "m/ 1",
                            "m/1 ", "m/h", "m/'", "mm/1", "m1"}) {
        CAPTURE(bad);
        CHECK_FALSE(ParseBip32Path(bad));
    }
    CHECK(FormatBip32Path(std::vector<uint32_t>{}) == "m");
    CHECK(FormatBip32Path(std::vector<uint32_t>{BIP32_HARDENED | 84, 0, 0xffffffff}) == "m/84h/0/2147483647h");
}
