#ifndef SIDEBOLT_CHAIN_WATCHES_H
#define SIDEBOLT_CHAIN_WATCHES_H

// Watches on outpoints (who spends them, in the mempool and in blocks) and on txids (until a
// depth), for channel code. Watches and their state live in LMDB, so they continue after a
// restart; every state change is written in the transaction of the block or mempool
// transaction that caused it, together with whatever the listener writes in response.

#include "chain/chain_source.h"
#include "chain/follower.h"
#include "primitives/tx.h"
#include "store/env.h"
#include "util/sync.h"

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace sidebolt {

//! The watched outpoint's spender was seen, or changed (a replacement, or a block confirming
//! another transaction than the one in our mempool view).
struct OutpointSpent {
    std::string tag;
    OutPoint outpoint;
    Transaction spending_tx;
    Hash256 spending_txid{};
    bool in_mempool{false};
};
//! The spender was confirmed at height (after an OutpointSpent naming it).
struct OutpointSpendConfirmed {
    std::string tag;
    OutPoint outpoint;
    Hash256 spending_txid{};
    int height{0};
};
//! The block confirming the spender was disconnected; the spender is probably back in the mempool.
struct OutpointSpendUnconfirmed {
    std::string tag;
    OutPoint outpoint;
    Hash256 spending_txid{};
};
struct TxSeenInMempool {
    std::string tag;
    Hash256 txid{};
};
//! Delivered at the first confirmation (depth 1) and when the watch's depth is reached; the
//! watch ends then.
struct TxConfirmed {
    std::string tag;
    Hash256 txid{};
    int height{0};
    int depth{0};
};
//! The confirming block was disconnected before the watch's depth was reached.
struct TxUnconfirmed {
    std::string tag;
    Hash256 txid{};
};

using WatchEvent = std::variant<OutpointSpent, OutpointSpendConfirmed, OutpointSpendUnconfirmed, TxSeenInMempool,
                                TxConfirmed, TxUnconfirmed>;

const std::string& EventTag(const WatchEvent& event);

/**
 * Receives the events of the watches whose tag starts with the prefix it registered with.
 * Called on the syncing thread inside the write transaction of the change: write through txn
 * (never begin another WriteTxn here); throwing aborts the change, which is delivered again.
 * The watch API may be called from here with the same txn; a watch added while a block or a
 * mempool transaction is being delivered also sees that block or transaction.
 */
class WatchListener
{
public:
    virtual ~WatchListener() = default;
    virtual void OnWatchEvent(store::WriteTxn& txn, const WatchEvent& event) = 0;
};

struct Hash256Hasher {
    size_t operator()(const Hash256& hash) const
    {
        // Hashes are uniformly random already: their first bytes make a good bucket index.
        uint64_t value;
        std::memcpy(&value, hash.data(), sizeof(value));
        return static_cast<size_t>(value);
    }
};

struct OutPointHasher {
    size_t operator()(const OutPoint& outpoint) const
    {
        return Hash256Hasher{}(outpoint.txid) ^ (size_t{outpoint.n} * 0x9e3779b97f4a7c15ULL);
    }
};

struct OutpointWatchState {
    std::optional<Hash256> spender;
    //! Set while the spender is confirmed.
    std::optional<int> spend_height;
    bool operator==(const OutpointWatchState&) const = default;
};

struct TxidWatchState {
    int depth{1};
    bool seen_in_mempool{false};
    std::optional<int> confirm_height;
    bool operator==(const TxidWatchState&) const = default;
};

class WatchManager : public ChainListener
{
public:
    explicit WatchManager(store::Env& env);

    //! Register before syncing starts. Each event goes to every listener whose prefix its tag
    //! starts with.
    void AddListener(std::string tag_prefix, WatchListener& listener);

    // Watches see blocks and mempool transactions processed after they are added, and the
    // mempool contents at the next mempool scan; a spend confirmed before the watch began is
    // not found (there is no index to look it up; it is logged). Adding an existing (target, tag) keeps its
    // state (a txid watch takes the new depth), so re-adding everything at startup is safe.
    // The overloads without txn commit their own transaction: not from inside a listener.
    void WatchOutpoint(store::WriteTxn& txn, const OutPoint& outpoint, const std::string& tag);
    void WatchOutpoint(const OutPoint& outpoint, const std::string& tag);
    //! Until the transaction is `depth` blocks deep (at least 1).
    void WatchTxid(store::WriteTxn& txn, const Hash256& txid, int depth, const std::string& tag);
    void WatchTxid(const Hash256& txid, int depth, const std::string& tag);
    //! Return whether the watch existed.
    bool UnwatchOutpoint(store::WriteTxn& txn, const OutPoint& outpoint, const std::string& tag);
    bool UnwatchOutpoint(const OutPoint& outpoint, const std::string& tag);
    bool UnwatchTxid(store::WriteTxn& txn, const Hash256& txid, const std::string& tag);
    bool UnwatchTxid(const Hash256& txid, const std::string& tag);

    std::optional<OutpointWatchState> GetOutpointWatch(const OutPoint& outpoint, const std::string& tag) const;
    std::optional<TxidWatchState> GetTxidWatch(const Hash256& txid, const std::string& tag) const;
    size_t WatchCount() const;
    bool HasWatches() const;

    //! A transaction that entered the mempool (from ZMQ rawtx or a scan). Begins a write
    //! transaction only when it touches a watch.
    void ProcessMempoolTx(const Transaction& tx, const Hash256& txid);
    /**
     * Reconciles with the node's mempool: fetches at most fetch_limit transactions not seen
     * yet and processes them. Returns true when unseen ones remain (call again soon). Does
     * nothing without watches.
     */
    bool ScanMempool(ChainSource& source, size_t fetch_limit);

    //! True on a thread running watch listeners: the overloads without txn then throw
    //! std::logic_error rather than wait forever for the transaction being delivered.
    static bool InsideDelivery();

    //! Rebuilds the in-memory watches from the store. Call it when a transaction of your own
    //! in which you called the txn overloads above was aborted.
    void Reload();

    void OnBlockConnected(store::WriteTxn& txn, int height, const Hash256& hash, const Block& block) override;
    void OnBlockDisconnected(store::WriteTxn& txn, int height, const Hash256& hash) override;
    void OnBlockAborted() override;

private:
    //! What is being delivered right now, so that watches added by listeners see it too.
    struct DeliveringBlock {
        int height;
        const Block* block;
    };
    struct DeliveringTx {
        const Transaction* tx;
        Hash256 txid;
    };
    using Delivering = std::variant<std::monostate, DeliveringBlock, DeliveringTx>;

    // The Apply* functions update memory and txn and queue events.
    void ApplyTx(store::WriteTxn& txn, const Transaction& tx, const Hash256& txid, std::optional<int> height)
        REQUIRES(m_mutex);
    void ApplyBlock(store::WriteTxn& txn, const DeliveringBlock& delivering) REQUIRES(m_mutex);
    void ApplyDepths(store::WriteTxn& txn, int height) REQUIRES(m_mutex);
    void ApplyDelivering(store::WriteTxn& txn) REQUIRES(m_mutex);
    bool TouchesWatch(const Transaction& tx, const Hash256& txid) const REQUIRES(m_mutex);
    //! Runs apply under the lock, then delivers the queued events (without the lock).
    template <typename Fn>
    void ApplyAndDeliver(store::WriteTxn& txn, Delivering delivering, Fn&& apply) EXCLUDES(m_mutex);
    void Deliver(store::WriteTxn& txn) EXCLUDES(m_mutex);
    //! A copy of the i-th queued event; nullopt past the end.
    std::optional<WatchEvent> QueuedEvent(size_t i) const EXCLUDES(m_mutex);
    void LoadLocked(const store::Txn& txn) REQUIRES(m_mutex);
    void PutOutpoint(store::WriteTxn& txn, const OutPoint& outpoint, const std::string& tag,
                     const OutpointWatchState& state);
    void PutTxid(store::WriteTxn& txn, const Hash256& txid, const std::string& tag, const TxidWatchState& state);
    //! Runs fn in a write transaction of our own; reloads memory if it fails.
    template <typename Fn>
    auto WithOwnTxn(Fn&& fn);

    store::Env& m_env;
    const store::Db m_outpoint_db;
    const store::Db m_txid_db;
    std::vector<std::pair<std::string, WatchListener*>> m_listeners;

    mutable Mutex m_mutex;
    std::unordered_map<OutPoint, std::map<std::string, OutpointWatchState>, OutPointHasher> m_outpoints GUARDED_BY(m_mutex);
    std::unordered_map<Hash256, std::map<std::string, TxidWatchState>, Hash256Hasher> m_txids GUARDED_BY(m_mutex);
    std::vector<WatchEvent> m_queue GUARDED_BY(m_mutex);
    Delivering m_delivering GUARDED_BY(m_mutex);
    //! Mempool txids already processed, pruned to the mempool at each scan.
    std::unordered_set<Hash256, Hash256Hasher> m_seen GUARDED_BY(m_mutex);
    //! Watches added since the last mempool scan: their spender may be in the mempool already.
    std::vector<OutPoint> m_fresh_outpoints GUARDED_BY(m_mutex);
    std::vector<Hash256> m_fresh_txids GUARDED_BY(m_mutex);
};

} // namespace sidebolt

#endif
