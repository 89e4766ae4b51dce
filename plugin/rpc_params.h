#ifndef SIDEBOLT_PLUGIN_RPC_PARAMS_H
#define SIDEBOLT_PLUGIN_RPC_PARAMS_H

#include "node/interfaces.h"
#include "primitives/hash.h"
#include "primitives/key.h"
#include "rpc/server.h"
#include "wire/wire.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace sidebolt {

//! sideboltd's own RPC error codes (bitcoind's range stays for bitcoind's meanings).
enum SideboltRpcErrorCode : int {
    RPC_PEER_CONNECT_FAILED = -100,
    RPC_PEER_NOT_CONNECTED = -101,
};

// Parameter readers for RPC handlers. sidebolt-cli sends every argument as a string, so integers
// and booleans are accepted both as JSON values and as their text. They throw RpcException.
int64_t ParamInt(const nlohmann::json& params, size_t index, const std::string& name);
std::optional<int64_t> OptionalParamInt(const nlohmann::json& params, size_t index, const std::string& name);
//! true/false, as JSON or text.
std::optional<bool> OptionalParamBool(const nlohmann::json& params, size_t index, const std::string& name);
std::string ParamString(const nlohmann::json& params, size_t index, const std::string& name);
//! A txid or block hash in bitcoind's display (reversed) hex.
Hash256 ParamHash(const nlohmann::json& params, size_t index, const std::string& name);
//! A 33-byte compressed public key in hex (a node id).
PubKey ParamPubKey(const std::string& hex, const std::string& name);
//! 32 bytes in natural-order hex (a payment hash or secret, not reversed like a txid).
Hash256 ParamHex32(const nlohmann::json& params, size_t index, const std::string& name);
//! "103x1x0": block height, transaction index and output index of a short channel id.
ShortChannelId ParseShortChannelId(const std::string& text);

//! Runs an RPC's node call: NodeError carries bitcoind's code for wallet refusals and sidebolt's
//! own otherwise, and reaches the caller as an RPC error with that code.
template <typename Fn>
auto Translate(Fn&& fn)
{
    try {
        return fn();
    } catch (const NodeError& e) {
        throw RpcException(e.Code(), e.what());
    }
}

} // namespace sidebolt

#endif
