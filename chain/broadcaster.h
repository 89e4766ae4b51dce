#ifndef SIDEBOLT_CHAIN_BROADCASTER_H
#define SIDEBOLT_CHAIN_BROADCASTER_H

// Broadcasting our transactions, and rebroadcasting them at every block until they confirm:
// a transaction that fell out of mempools (eviction, restart, a reorg) must still confirm.

#include "chain/chain_source.h"
#include "chain/follower.h"
#include "primitives/tx.h"
#include "chain/watches.h"
#include "store/env.h"
#include "util/sync.h"

#include <spdlog/common.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sidebolt {

struct BroadcasterConfig {
    //! A transaction is forgotten this many blocks deep; until then a reorg resumes rebroadcasting.
    int forget_depth{6};
    //! Tag prefix of the broadcaster's txid watches.
    std::string tag_prefix{"broadcast/"};
};

struct BroadcastResult {
    Hash256 txid{};
    //! The node's answer; status Accepted and AlreadyInChain are both success.
    SendResult send;
    //! The node could not be asked; a persisted transaction is sent at the next block.
    bool node_unreachable{false};

    bool Ok() const { return !node_unreachable && send.Ok(); }
};

enum class Rebroadcast {
    UNTIL_CONFIRMED, //!< persist and resend at every block until confirmed (or cancelled)
    NEVER,           //!< send once
};

struct PendingBroadcast {
    Hash256 txid{};
    std::string label;
    Bytes raw_tx;
    //! Confirmed but not yet forget_depth deep: not resent unless a reorg unconfirms it.
    bool confirmed{false};
};

class Broadcaster : public ChainListener, public WatchListener
{
public:
    //! Registers itself with watches for its tag prefix: construct before syncing starts.
    Broadcaster(ChainSource& source, store::Env& env, WatchManager& watches, BroadcasterConfig config = {});

    /**
     * Sends tx. With UNTIL_CONFIRMED it is persisted first (so it is resent even after a crash
     * right after sending), whatever the node answers: a rejection may be temporary (a
     * timelock not reached yet, a parent not confirmed). The caller keys on send.status and
     * send.code and calls Cancel when the transaction can never confirm.
     */
    BroadcastResult Broadcast(const Transaction& tx, const std::string& label,
                              Rebroadcast policy = Rebroadcast::UNTIL_CONFIRMED);
    /**
     * From inside a listener, in the write transaction being delivered (a penalty for a
     * revoked commitment just seen): persists and watches tx in txn; it is sent once txn has
     * committed (SendQueued, or at the next tip), never if txn is aborted. Returns the txid.
     */
    Hash256 Broadcast(store::WriteTxn& txn, const Transaction& tx, const std::string& label);
    //! Sends what the txn overload queued and was committed; the service calls it after each round.
    void SendQueued();
    /**
     * For a writer outside the listeners (whose commits SendQueued cannot tell from aborts):
     * persists and watches tx in txn without queuing it; the caller passes the txid to
     * SendPersisted once txn has committed. An aborted txn leaves nothing; a crash before
     * sending leaves it to the next tip.
     */
    Hash256 Persist(store::WriteTxn& txn, const Transaction& tx, const std::string& label);
    void SendPersisted(std::span<const Hash256> txids);
    //! Stops rebroadcasting; returns whether it was pending.
    bool Cancel(const Hash256& txid);
    std::vector<PendingBroadcast> Pending() const;
    //! Resends every unconfirmed pending transaction (also done at every new tip).
    void RebroadcastPending();

    void OnTipChanged(const BlockRef& tip) override;
    void OnWatchEvent(store::WriteTxn& txn, const WatchEvent& event) override;

private:
    std::string Tag(const Hash256& txid) const;
    void PersistRaw(store::WriteTxn& txn, const Hash256& txid, const Bytes& raw, const std::string& label);
    //! Sends once; forgets a persisted transaction the node says is confirmed already, if it
    //! confirmed before its watch existed (ConfirmedBeforeWatch).
    BroadcastResult Send(const Hash256& txid, const Bytes& raw, const std::string& label, bool persisted,
                         spdlog::level::level_enum log_level) EXCLUDES(m_mutex);
    //! Our unconfirmed pending transactions that `raw` spends outputs of.
    std::vector<Bytes> PendingParents(const Bytes& raw) const;
    //! For a transaction the node has in its chain: whether our watch can never report it,
    //! because our follower had processed the node's tip (told by OnTipChanged) without it.
    bool ConfirmedBeforeWatch(const Hash256& txid) EXCLUDES(m_mutex);
    //! Drops the record and its watch, in a transaction of our own.
    bool Forget(const Hash256& txid);
    void Put(store::WriteTxn& txn, const PendingBroadcast& pending);

    ChainSource& m_source;
    store::Env& m_env;
    WatchManager& m_watches;
    const BroadcasterConfig m_config;
    const store::Db m_db;
    Mutex m_mutex;
    std::vector<Hash256> m_queued GUARDED_BY(m_mutex);
    //! The follower's tip at the last OnTipChanged.
    std::optional<Hash256> m_tip GUARDED_BY(m_mutex);
};

} // namespace sidebolt

#endif
