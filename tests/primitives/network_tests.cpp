#include "primitives/hash.h"
#include "primitives/network.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using namespace sidebolt;

namespace {
constexpr Network ALL[] = {Network::Mainnet, Network::Testnet, Network::Testnet4, Network::Signet, Network::Regtest};

void PushLE32(Bytes& out, uint32_t value)
{
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

Bytes Reversed(Bytes b)
{
    std::reverse(b.begin(), b.end());
    return b;
}
} // namespace

TEST_CASE("network names: ours and bitcoind's getblockchaininfo chain values")
{
    CHECK(ParseNetwork("main") == Network::Mainnet);
    CHECK(ParseNetwork("mainnet") == Network::Mainnet);
    CHECK(ParseNetwork("test") == Network::Testnet);
    CHECK(ParseNetwork("testnet") == Network::Testnet);
    CHECK(ParseNetwork("testnet4") == Network::Testnet4);
    CHECK(ParseNetwork("signet") == Network::Signet);
    CHECK(ParseNetwork("regtest") == Network::Regtest);
    for (const char* bad : {"", "Main", "MAINNET", "bitcoin", "testnet3", "test4", "regtest ", "sig"}) {
        CAPTURE(bad);
        CHECK_FALSE(ParseNetwork(bad));
    }
    for (const Network n : ALL) {
        CHECK(ParseNetwork(NetworkName(n)) == n);
        CHECK(ParseNetwork(Params(n).bitcoind_chain) == n);
    }
    CHECK(Params(Network::Mainnet).bitcoind_chain == "main");
    CHECK(Params(Network::Testnet).bitcoind_chain == "test");
    CHECK(NetworkName(Network::Mainnet) == "mainnet");
}

TEST_CASE("per-network bitcoind and address constants")
{
    struct Expected {
        Network network;
        uint16_t rpc_port;
        const char* subdir;
        const char* hrp;
        uint8_t p2pkh;
        uint8_t p2sh;
        const char* bolt11;
    };
    const Expected table[] = {
        {Network::Mainnet, 8332, "", "bc", 0, 5, "bc"},
        {Network::Testnet, 18332, "testnet3", "tb", 111, 196, "tb"},
        {Network::Testnet4, 48332, "testnet4", "tb", 111, 196, "tb"},
        {Network::Signet, 38332, "signet", "tb", 111, 196, "tbs"},
        {Network::Regtest, 18443, "regtest", "bcrt", 111, 196, "bcrt"},
    };
    for (const auto& e : table) {
        const NetworkParams& p = Params(e.network);
        CAPTURE(p.name);
        CHECK(p.rpc_port == e.rpc_port);
        CHECK(p.datadir_subdir == e.subdir);
        CHECK(p.bech32_hrp == e.hrp);
        CHECK(p.p2pkh_prefix == e.p2pkh);
        CHECK(p.p2sh_prefix == e.p2sh);
        CHECK(p.bolt11_currency == e.bolt11);
        CHECK(p.xpub_version == (e.network == Network::Mainnet ? 0x0488B21E : 0x043587CF));
        CHECK(p.xprv_version == (e.network == Network::Mainnet ? 0x0488ADE4 : 0x04358394));
    }
}

TEST_CASE("genesis hashes recomputed from the genesis headers")
{
    const auto vectors = test::ReadJsonVectors("chain/network_genesis.json");
    for (const auto& h : vectors.at("headers")) {
        const Network network = ParseNetwork(h.at("network").get<std::string>()).value();
        CAPTURE(NetworkName(network));
        Bytes header;
        PushLE32(header, h.at("version").get<uint32_t>());
        header.insert(header.end(), 32, 0); // no previous block
        Append(header, Reversed(ParseHex(h.at("merkle_root").get<std::string>())));
        PushLE32(header, h.at("time").get<uint32_t>());
        PushLE32(header, h.at("bits").get<uint32_t>());
        PushLE32(header, h.at("nonce").get<uint32_t>());
        REQUIRE(header.size() == 80);
        const Hash256 hash = Sha256d(header);
        CHECK(ToHex(Reversed(Bytes(hash.begin(), hash.end()))) == h.at("hash").get<std::string>());
        CHECK(Params(network).genesis_hash_hex == h.at("hash").get<std::string>());
        CHECK(ChainHash(network) == hash);
    }
}

TEST_CASE("Lightning chain_hash is the genesis hash in internal byte order")
{
    // BOLT 0 / BOLT 7 examples use this value for mainnet.
    CHECK(ToHex(ChainHash(Network::Mainnet)) == "6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000");
    for (const Network n : ALL) CHECK(NetworkFromChainHash(ChainHash(n)) == n);
    CHECK_FALSE(NetworkFromChainHash(Hash256{}));
}
