#ifndef SIDEBOLT_CHAIN_CHAIN_SERVICE_H
#define SIDEBOLT_CHAIN_CHAIN_SERVICE_H

// Everything the daemon needs from the chain, driven by one thread: the follower, the watches,
// the broadcaster and the fee estimator, kept in sync by ZMQ hints, a poll timer, and full
// reconciliations after ZMQ loss. RPC is the truth; ZMQ only makes us notice sooner.

#include "chain/broadcaster.h"
#include "chain/chain_source.h"
#include "chain/fees.h"
#include "chain/follower.h"
#include "chain/watches.h"
#include "chain/zmq_listener.h"
#include "store/env.h"
#include "util/sync.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sidebolt {

struct ChainServiceConfig {
    FollowerConfig follower;
    FeeConfig fees;
    BroadcasterConfig broadcaster;
    //! Empty: polling mode.
    std::vector<ZmqSubscription> zmq;
    //! Sync this often without ZMQ, and with it (as a safety net).
    std::chrono::milliseconds poll_interval{1000};
    std::chrono::milliseconds zmq_poll_interval{5000};
    //! Retry delays after a failure double from the poll interval up to this.
    std::chrono::milliseconds max_retry_delay{30000};
    //! Mempool scans (getrawmempool) while watches exist: every poll without a rawtx
    //! subscription, at this interval with one.
    std::chrono::milliseconds zmq_mempool_scan_interval{60000};
    //! Transactions fetched per mempool scan pass.
    size_t mempool_fetch_limit{1000};
    //! rawtx messages waiting for the sync thread; beyond this they are dropped and a
    //! reconciliation scheduled.
    size_t max_queued_txs{10000};
    //! Hidden -debugzmqdrop: drop this many ZMQ messages at start (functional tests of gaps).
    unsigned debug_zmq_drop{0};
};

struct ChainServiceStatus {
    FollowerStatus chain;
    //! "zmq" or "polling".
    std::string mode;
    ZmqStats zmq;
    bool running{false};
};

class ChainService
{
public:
    ChainService(ChainSource& source, store::Env& env, ChainServiceConfig config);
    ~ChainService();
    ChainService(const ChainService&) = delete;
    ChainService& operator=(const ChainService&) = delete;

    //! Block listeners for other components (channel code), called after the watches; add
    //! before Start.
    void AddChainListener(ChainListener& listener) { m_follower.AddListener(listener); }

    //! Starts the sync thread (and ZMQ); it syncs at once. Throws zmq::error_t on a bad endpoint.
    void Start();
    //! Stops and joins. A node call in progress finishes first (interrupt the RPC client to
    //! make that fast).
    void Stop();

    //! Sync soon (a hint, as from ZMQ).
    void RequestSync();
    //! Sync and scan the mempool soon (after possible loss of notifications).
    void RequestReconcile();

    ChainServiceStatus Status() const;
    std::vector<ChainEvent> RecentEvents() const { return m_follower.RecentEvents(); }
    void DropZmqMessages(unsigned n);

    ChainFollower& Follower() { return m_follower; }
    ChainSource& Source() { return m_source; }
    WatchManager& Watches() { return m_watches; }
    Broadcaster& GetBroadcaster() { return m_broadcaster; }
    FeeEstimator& Fees() { return m_fees; }

private:
    using Clock = std::chrono::steady_clock;
    struct QueuedTx {
        Transaction tx;
        Hash256 txid;
    };

    void Run(const std::stop_token& stop);
    //! One sync, and a mempool scan when asked; returns whether it succeeded.
    bool SyncRound(const std::stop_token& stop, bool scan_mempool, bool& more_to_scan);
    void OnRawTx(ByteSpan raw);
    void SendQueuedBroadcasts();
    bool HasRawTxSubscription() const;

    ChainSource& m_source;
    const ChainServiceConfig m_config;
    ChainFollower m_follower;
    WatchManager m_watches;
    FeeEstimator m_fees;
    Broadcaster m_broadcaster;
    std::unique_ptr<ZmqListener> m_zmq;

    mutable Mutex m_mutex;
    std::condition_variable_any m_wake;
    bool m_sync_requested GUARDED_BY(m_mutex){false};
    bool m_reconcile_requested GUARDED_BY(m_mutex){false};
    std::deque<QueuedTx> m_queued_txs GUARDED_BY(m_mutex);
    std::atomic<bool> m_running{false};
    std::jthread m_thread;
};

} // namespace sidebolt

#endif
