#ifndef SIDEBOLT_TESTS_FOLLOWER_FAKE_CHAIN_H
#define SIDEBOLT_TESTS_FOLLOWER_FAKE_CHAIN_H

// An in-memory node for the follower tests: mines real (parseable) blocks, reorgs, keeps a
// mempool, answers like bitcoind, and can go down. Thread-safe, as the service calls it from
// its own thread.

#include "chain/chain_source.h"
#include "primitives/tx.h"
#include "store/env.h"
#include "tests/support/scratch_dir.h"

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

namespace sidebolt::test {

//! A transaction spending `inputs` (may be empty: a fresh, unique funding-like transaction).
Transaction MakeTx(const std::vector<OutPoint>& inputs, size_t outputs = 1);

class FakeChain : public ChainSource
{
public:
    FakeChain(); // with a genesis block

    //! Mines a block on the tip with the mempool's transactions (if take_mempool) and `txs`.
    Hash256 Mine(const std::vector<Transaction>& txs = {}, bool take_mempool = true);
    void MineEmpty(int count);
    //! Removes `depth` blocks from the active chain (they stay known by hash); their
    //! transactions return to the mempool unless drop_txs.
    void Disconnect(int depth, bool drop_txs = false);
    void AddToMempool(const Transaction& tx);
    void RemoveFromMempool(const Hash256& txid);
    bool InMempool(const Hash256& txid) const;
    void SetDown(bool down) { m_down = down; }

    int Height() const;
    Hash256 HashAt(int height) const;
    Hash256 Tip() const { return HashAt(Height()); }

    // Broadcast behaviour and record.
    std::vector<Hash256> Sent() const;
    //! Every later sendrawtransaction of txid gets this answer.
    void SetSendResult(const Hash256& txid, SendResult result);
    void SetFeeEstimate(std::optional<int64_t> sat_per_kvb);
    void SetMempoolMinFee(std::optional<int64_t> sat_per_kvb);
    std::vector<std::vector<Hash256>> Packages() const;
    int RawTxCalls() const { return m_raw_tx_calls; }

    Hash256 BestBlockHash() override;
    std::optional<ChainHeader> HeaderByHash(const Hash256& hash) override;
    std::optional<Hash256> BlockHashAtHeight(int height) override;
    std::optional<Bytes> RawBlock(const Hash256& hash) override;
    std::vector<Hash256> MempoolTxids() override;
    std::optional<Bytes> RawTransaction(const Hash256& txid) override;
    bool IsUnspent(const OutPoint& outpoint, bool include_mempool) override;
    SendResult SendRawTransaction(ByteSpan raw_tx) override;
    //! Each transaction as SendRawTransaction would take it, except that a parent refused
    //! (SetSendResult) goes in with its child; recorded in Packages().
    SendResult SubmitPackage(std::span<const Bytes> raw_txs) override;
    std::optional<int64_t> EstimateSmartFee(int conf_target) override;
    std::optional<int64_t> MempoolMinFee() override;

private:
    struct StoredBlock {
        int height;
        Hash256 prev;
        Bytes raw;
        std::vector<Transaction> txs;
    };
    void CheckUp() const;
    Hash256 MineLocked(const std::vector<Transaction>& txs);
    bool InChainLocked(const Hash256& txid) const;

    mutable std::mutex m_mutex;
    std::atomic<bool> m_down{false};
    std::atomic<int> m_raw_tx_calls{0};
    std::map<Hash256, StoredBlock> m_blocks;
    std::vector<Hash256> m_active;
    std::map<Hash256, Transaction> m_mempool;
    std::vector<Hash256> m_sent;
    std::map<Hash256, SendResult> m_send_results;
    std::optional<int64_t> m_fee_estimate;
    std::optional<int64_t> m_mempool_min_fee;
    std::vector<std::vector<Hash256>> m_packages;
    uint32_t m_block_counter{0};
};

store::EnvOptions TestEnvOptions();

} // namespace sidebolt::test

#endif
