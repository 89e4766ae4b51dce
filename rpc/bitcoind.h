#ifndef SIDEBOLT_RPC_BITCOIND_H
#define SIDEBOLT_RPC_BITCOIND_H

// Typed bitcoind RPCs. Only calls that both Bitcoin Core (>= 0.21) and the project's bcoin
// stand-in (CI regtest node) answer the same way are here; hashes are Hash256 in internal byte
// order (converted from Core's reversed display hex). Errors: RpcError / RpcTransportError
// from the JSON client, and RpcTransportError(BadResponse) when an answer lacks a field.

#include "primitives/hash.h"
#include "rpc/json_rpc_client.h"
#include "util/bytes.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sidebolt::rpc {

//! Oldest supported Bitcoin Core: 0.21 (getnetworkinfo "version" 210000).
constexpr int64_t MIN_BITCOIND_VERSION = 210000;
//! The CI stand-in node (bcoin under a launcher) reports bcoin's own version number, which
//! says nothing about Core compatibility; it is recognized by this tag in its subversion.
constexpr std::string_view STANDIN_SUBVERSION_TAG = "bcoin-standin";

struct BlockchainInfo {
    std::string chain; //!< "main", "test", "testnet4", "signet", "regtest"
    int64_t blocks{0};
    int64_t headers{0};
    Hash256 best_block_hash{};
    //! false when the node does not report it (the stand-in has no such field).
    bool initial_block_download{false};
    double verification_progress{0};
};

struct NetworkInfo {
    //! Core's numeric version (e.g. 270100); 0 when the node reports a non-numeric one.
    int64_t version{0};
    std::string subversion; //!< user agent, e.g. "/Satoshi:27.1.0/"
};

//! nullopt when sidebolt supports this node, otherwise a message for the operator.
std::optional<std::string> CheckNodeVersion(const NetworkInfo& info);

struct BlockHeaderInfo {
    Hash256 hash{};
    int64_t height{0};
    std::optional<Hash256> prev_hash; //!< nullopt for the genesis block
    //! Core reports -1 for a block that is known but not on the active chain.
    int64_t confirmations{0};
    bool OnActiveChain() const { return confirmations >= 0; }
};

struct SendResult {
    enum class Status {
        Accepted,       //!< in the mempool now (or already was)
        AlreadyInChain, //!< -27: already confirmed, which is success for a broadcaster
        Rejected,       //!< see code (e.g. -25 inputs missing/spent, -26 policy) and message
    };
    Status status{Status::Rejected};
    int code{0};
    std::string message;
    bool Ok() const { return status != Status::Rejected; }
};

struct MempoolAcceptResult {
    Hash256 txid{};
    bool allowed{false};
    std::string reject_reason; //!< empty when allowed
};

struct ZmqNotification {
    std::string type;    //!< "pubhashblock", "pubrawblock", "pubhashtx", "pubrawtx", ...
    std::string address; //!< e.g. "tcp://127.0.0.1:28332"
};

struct TxOutInfo {
    Hash256 best_block{};
    int64_t confirmations{0}; //!< 0 when only in the mempool
    int64_t value_sat{0};
    Bytes script_pubkey;
    bool coinbase{false};
};

//! Converts BTC amounts as bitcoind prints them (8 decimals) to satoshis, rounding to nearest.
int64_t BtcToSat(double btc);

class BitcoindClient
{
public:
    //! Does not own the client, which must outlive this object.
    explicit BitcoindClient(JsonRpcClient& client) : m_client{client} {}

    BlockchainInfo GetBlockchainInfo();
    NetworkInfo GetNetworkInfo();
    //! GetNetworkInfo + CheckNodeVersion; throws std::runtime_error for an unsupported node.
    NetworkInfo RequireSupportedNode();

    int64_t GetBlockCount();
    Hash256 GetBestBlockHash();
    //! nullopt when height is above the tip (-8).
    std::optional<Hash256> GetBlockHash(int64_t height);
    //! nullopt when the node does not know the block (-5).
    std::optional<BlockHeaderInfo> GetBlockHeader(const Hash256& hash);
    //! The serialized block (getblock verbosity 0).
    Bytes GetBlockRaw(const Hash256& hash);
    //! nullopt when not found (-5); confirmed transactions need -txindex on Core.
    std::optional<Bytes> GetRawTransaction(const Hash256& txid);

    //! RPC errors become SendResult::Rejected (or AlreadyInChain); transport errors throw.
    SendResult SendRawTransaction(ByteSpan tx);
    std::vector<MempoolAcceptResult> TestMempoolAccept(std::span<const Bytes> txs);
    //! Fee rate in sat per 1000 vbytes; nullopt when the node has no estimate yet.
    std::optional<int64_t> EstimateSmartFee(int conf_target);

    std::vector<ZmqNotification> GetZmqNotifications();
    //! nullopt when the output is spent or unknown.
    std::optional<TxOutInfo> GetTxOut(const Hash256& txid, uint32_t n, bool include_mempool = true);
    std::vector<Hash256> GetRawMempool();

private:
    JsonRpcClient& m_client;
};

} // namespace sidebolt::rpc

#endif
