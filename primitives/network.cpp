#include "primitives/network.h"

#include "util/hex.h"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace sidebolt {
namespace {
constexpr uint32_t MAINNET_XPUB = 0x0488B21E;
constexpr uint32_t MAINNET_XPRV = 0x0488ADE4;
constexpr uint32_t TEST_XPUB = 0x043587CF;
constexpr uint32_t TEST_XPRV = 0x04358394;

constexpr std::array<Network, 5> ALL_NETWORKS = {Network::Mainnet, Network::Testnet, Network::Testnet4, Network::Signet,
                                                 Network::Regtest};

// Indexed by Network. Test networks share testnet's base58 and BIP32 prefixes.
constexpr std::array<NetworkParams, 5> PARAMS = {{
    {"mainnet", "main", "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f", 8332, "", "bc", 0, 5,
     MAINNET_XPUB, MAINNET_XPRV, "bc"},
    {"testnet", "test", "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943", 18332, "testnet3", "tb",
     111, 196, TEST_XPUB, TEST_XPRV, "tb"},
    {"testnet4", "testnet4", "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043", 48332, "testnet4",
     "tb", 111, 196, TEST_XPUB, TEST_XPRV, "tb"},
    {"signet", "signet", "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6", 38332, "signet", "tb",
     111, 196, TEST_XPUB, TEST_XPRV, "tbs"},
    {"regtest", "regtest", "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206", 18443, "regtest",
     "bcrt", 111, 196, TEST_XPUB, TEST_XPRV, "bcrt"},
}};
static_assert(PARAMS[static_cast<size_t>(Network::Mainnet)].name == "mainnet");
static_assert(PARAMS[static_cast<size_t>(Network::Testnet)].name == "testnet");
static_assert(PARAMS[static_cast<size_t>(Network::Testnet4)].name == "testnet4");
static_assert(PARAMS[static_cast<size_t>(Network::Signet)].name == "signet");
static_assert(PARAMS[static_cast<size_t>(Network::Regtest)].name == "regtest");
} // namespace

const NetworkParams& Params(Network network) { return PARAMS.at(static_cast<size_t>(network)); }

std::optional<Network> ParseNetwork(std::string_view name)
{
    for (const Network network : ALL_NETWORKS) {
        if (name == Params(network).name || name == Params(network).bitcoind_chain) return network;
    }
    return std::nullopt;
}

std::string_view NetworkName(Network network) { return Params(network).name; }

Hash256 ChainHash(Network network)
{
    auto hash = TryParseHexArray<32>(Params(network).genesis_hash_hex);
    if (!hash) throw std::logic_error("bad genesis hash constant");
    std::reverse(hash->begin(), hash->end());
    return *hash;
}

std::optional<Network> NetworkFromChainHash(const Hash256& chain_hash)
{
    // A custom signet maps to Signet too: every signet shares the same genesis block.
    for (const Network network : ALL_NETWORKS) {
        if (ChainHash(network) == chain_hash) return network;
    }
    return std::nullopt;
}

} // namespace sidebolt
