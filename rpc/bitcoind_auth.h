#ifndef SIDEBOLT_RPC_BITCOIND_AUTH_H
#define SIDEBOLT_RPC_BITCOIND_AUTH_H

// Finds a local bitcoind the way bitcoin-cli does with no options: datadir ~/.bitcoin,
// per-network subfolder, cookie file <datadir>/<subfolder>/.cookie, the network's default port.

#include "primitives/network.h"
#include "rpc/json_rpc_client.h"

#include <filesystem>
#include <optional>

namespace sidebolt::rpc {

//! $HOME/.bitcoin; like Core, "/" stands in for an unset or empty HOME (Linux layout only).
std::filesystem::path DefaultBitcoinDatadir();

//! <datadir>/<network subfolder>/.cookie ("" on mainnet, "testnet3", "testnet4", "signet", "regtest").
std::filesystem::path BitcoindCookiePath(const std::filesystem::path& datadir, Network network);

//! 127.0.0.1, the network's default RPC port, cookie auth from datadir (default datadir if unset).
JsonRpcConfig DefaultBitcoindRpcConfig(Network network,
                                       const std::optional<std::filesystem::path>& datadir = std::nullopt);

} // namespace sidebolt::rpc

#endif
