#ifndef SIDEBOLT_PRIMITIVES_NETWORK_H
#define SIDEBOLT_PRIMITIVES_NETWORK_H

#include "primitives/hash.h"

#include <cstdint>
#include <optional>
#include <string_view>

namespace sidebolt {

enum class Network { Mainnet, Testnet, Testnet4, Signet, Regtest };

//! Fixed per-network constants, as Bitcoin Core's chainparams define them.
struct NetworkParams {
    std::string_view name;           //!< ours: "mainnet", "testnet", "testnet4", "signet", "regtest"
    std::string_view bitcoind_chain; //!< getblockchaininfo "chain": "main", "test", "testnet4", ...
    //! Block 0's hash as bitcoind displays it (byte-reversed). All signets share one genesis block.
    std::string_view genesis_hash_hex;
    uint16_t rpc_port;             //!< bitcoind's default -rpcport
    std::string_view datadir_subdir; //!< bitcoind's per-chain folder inside its datadir ("" on mainnet)
    std::string_view bech32_hrp;
    uint8_t p2pkh_prefix;
    uint8_t p2sh_prefix;
    uint32_t xpub_version; //!< BIP32 serialization version bytes
    uint32_t xprv_version;
    //! BOLT 11 currency prefix: an invoice's HRP is "ln" + this + optional amount.
    std::string_view bolt11_currency;
};

const NetworkParams& Params(Network network);

//! Accepts our names and bitcoind's: "main"/"mainnet", "test"/"testnet", "testnet4", "signet", "regtest".
std::optional<Network> ParseNetwork(std::string_view name);
std::string_view NetworkName(Network network);

//! Genesis block hash in internal byte order, which BOLT 1/7 use as `chain_hash`.
Hash256 ChainHash(Network network);
std::optional<Network> NetworkFromChainHash(const Hash256& chain_hash);

} // namespace sidebolt

#endif
