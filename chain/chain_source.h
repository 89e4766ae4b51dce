#ifndef SIDEBOLT_CHAIN_CHAIN_SOURCE_H
#define SIDEBOLT_CHAIN_CHAIN_SOURCE_H

// Everything sidebolt asks of the full node, behind one interface so that the follower, the
// watches, the broadcaster and the fee estimator can be tested against an in-memory chain.

#include "primitives/hash.h"
#include "primitives/tx.h"
#include "rpc/bitcoind.h"
#include "util/bytes.h"

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

namespace sidebolt {

//! The node could not be asked (down, restarting, timeout): try again later, skip nothing.
class ChainSourceUnavailable : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

struct ChainHeader {
    int height{0};
    Hash256 hash{};
    //! All zero for the genesis block.
    Hash256 prev_hash{};
};

//! sendrawtransaction's verdict; callers key on the status and code, never on the message.
using SendResult = rpc::SendResult;

class ChainSource
{
public:
    virtual ~ChainSource() = default;

    //! Every method throws ChainSourceUnavailable when the node cannot be reached; other
    //! exceptions mean the node answered something unexpected.
    virtual Hash256 BestBlockHash() = 0;
    //! nullopt when the node does not know the block (it may be on a chain it never saw).
    virtual std::optional<ChainHeader> HeaderByHash(const Hash256& hash) = 0;
    //! The hash at that height of the node's active chain; nullopt above its tip.
    virtual std::optional<Hash256> BlockHashAtHeight(int height) = 0;
    //! Serialized block; nullopt when unknown or pruned.
    virtual std::optional<Bytes> RawBlock(const Hash256& hash) = 0;
    virtual std::vector<Hash256> MempoolTxids() = 0;
    //! Serialized transaction from the mempool (or the chain, with -txindex); nullopt if unknown.
    virtual std::optional<Bytes> RawTransaction(const Hash256& txid) = 0;
    //! Whether the output exists and is unspent in the active chain (and, with include_mempool,
    //! not spent by a mempool transaction).
    virtual bool IsUnspent(const OutPoint& outpoint, bool include_mempool) = 0;
    virtual SendResult SendRawTransaction(ByteSpan raw_tx) = 0;
    //! Parents first, the child last: a parent below the mempool's floor gets in with its child.
    virtual SendResult SubmitPackage(std::span<const Bytes> raw_txs) = 0;
    //! estimatesmartfee in satoshis per 1000 virtual bytes; nullopt when the node has no estimate.
    virtual std::optional<int64_t> EstimateSmartFee(int conf_target) = 0;
    //! The lowest feerate the mempool takes now, in satoshis per 1000 virtual bytes.
    virtual std::optional<int64_t> MempoolMinFee() = 0;
};

//! ChainSource over bitcoind's RPC interface. Transport failures and "warming up" (-28)
//! become ChainSourceUnavailable; "not found" answers become nullopt.
class BitcoindChainSource : public ChainSource
{
public:
    //! Does not own the client, which must outlive this object.
    explicit BitcoindChainSource(rpc::BitcoindClient& client) : m_client{client} {}

    Hash256 BestBlockHash() override;
    std::optional<ChainHeader> HeaderByHash(const Hash256& hash) override;
    std::optional<Hash256> BlockHashAtHeight(int height) override;
    std::optional<Bytes> RawBlock(const Hash256& hash) override;
    std::vector<Hash256> MempoolTxids() override;
    std::optional<Bytes> RawTransaction(const Hash256& txid) override;
    bool IsUnspent(const OutPoint& outpoint, bool include_mempool) override;
    SendResult SendRawTransaction(ByteSpan raw_tx) override;
    SendResult SubmitPackage(std::span<const Bytes> raw_txs) override;
    std::optional<int64_t> EstimateSmartFee(int conf_target) override;
    std::optional<int64_t> MempoolMinFee() override;

private:
    rpc::BitcoindClient& m_client;
};

} // namespace sidebolt

#endif
