#ifndef SIDEBOLT_CHAIN_FOLLOWER_H
#define SIDEBOLT_CHAIN_FOLLOWER_H

// The chain follower: reconciles our processed chain with the node's active chain, block by
// block, so that no block is ever skipped, whatever the node, ZMQ or this process did meanwhile.
//
// Each connected or disconnected block is one LMDB write transaction holding both the new tip
// and everything the listeners wrote for that block: after a crash the follower resumes exactly
// after the last committed block, and a block whose processing failed is delivered again.

#include "chain/chain_source.h"
#include "chain/chain_store.h"
#include "primitives/tx.h"
#include "store/env.h"
#include "util/sync.h"

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

namespace sidebolt {

struct FollowerConfig {
    //! On a fresh store, the first height to deliver (clamped to the node's tip + 1). Unset:
    //! start after the node's current tip, without replaying history.
    std::optional<int> start_height;
    //! The deepest reorg followed (the hashes of the tip and this many blocks below it are
    //! kept to find its fork point). A deeper one stops the follower with ReorgTooDeepError
    //! instead of guessing.
    int history_depth{2016};
    //! Blocks connected per reconciliation step (bounds the header walk of a long catch-up).
    int max_blocks_per_step{500};
    size_t event_ring_size{1000};
};

//! A reorg reaches below the hashes we kept: the fork point is unknown, so the follower refuses
//! to continue rather than leave watches confirmed by blocks it can no longer disconnect.
class ReorgTooDeepError : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

/**
 * Told about every block change. Calls come from the syncing thread, in listener order.
 * OnBlockConnected/OnBlockDisconnected run inside the block's write transaction: write state
 * through txn (never begin another WriteTxn on this thread) and it commits with the block.
 * Throwing aborts the block; it is delivered again on the next Sync. Delivery is at least once:
 * after a crash, anything not committed is delivered again.
 */
class ChainListener
{
public:
    virtual ~ChainListener() = default;
    virtual void OnBlockConnected(store::WriteTxn& txn, int height, const Hash256& hash, const Block& block);
    virtual void OnBlockDisconnected(store::WriteTxn& txn, int height, const Hash256& hash);
    //! The block's transaction was aborted: drop any in-memory state derived from it.
    virtual void OnBlockAborted();
    //! After a batch of blocks committed, outside any transaction: for work that talks to the
    //! node (rebroadcasting, fee caches). Exceptions are logged and ignored.
    virtual void OnTipChanged(const BlockRef& tip);
};

enum class ChainEventType { CONNECTED, DISCONNECTED };

struct ChainEvent {
    ChainEventType type{ChainEventType::CONNECTED};
    int height{0};
    Hash256 hash{};
    std::chrono::system_clock::time_point time;
};

struct FollowerStatus {
    BlockRef tip;
    //! The node's best height when last asked.
    std::optional<int> source_height;
    //! Our tip was the node's best block at the end of the last Sync.
    bool synced{false};
    bool source_reachable{false};
    //! Why the last Sync failed; empty after a successful one.
    std::string last_error;
};

class ChainFollower
{
public:
    ChainFollower(ChainSource& source, store::Env& env, FollowerConfig config = {});
    ChainFollower(const ChainFollower&) = delete;
    ChainFollower& operator=(const ChainFollower&) = delete;

    //! Register before the first Sync; listeners are called in the order added.
    void AddListener(ChainListener& listener);

    /**
     * Brings our tip to the node's best block: disconnects our blocks newest first down to the
     * fork point, then connects the node's blocks oldest first. Returns true when in sync,
     * false when stopped early. Throws ChainSourceUnavailable (node down), ReorgTooDeepError,
     * or whatever a listener threw; the status records it and calling again resumes. One
     * thread at a time.
     */
    bool Sync(std::stop_token stop = {});

    FollowerStatus Status() const;
    //! The last event_ring_size connects/disconnects, oldest first.
    std::vector<ChainEvent> RecentEvents() const;

private:
    //! One reconciliation step (at most max_blocks_per_step connects); true when at the best block.
    bool Step(const std::stop_token& stop);
    ChainState InitialState();
    //! Whether `block` is on our processed chain; throws ReorgTooDeepError beyond our history.
    bool IsCommonBlock(const BlockRef& block) const;
    ChainHeader FetchHeader(const Hash256& hash, std::optional<int> expected_height = std::nullopt);
    void DisconnectTo(const BlockRef& ancestor);
    void ConnectBlock(const BlockRef& ref, const Block& block);
    //! ref by value: callers pass our tip, which this replaces.
    void DisconnectBlock(BlockRef ref, const BlockRef& new_tip);
    //! Runs one block's write transaction: fn calls the listeners; then the tip is stored.
    template <typename Fn>
    void CommitBlock(Fn&& fn);
    void NotifyTipChanged();
    void RecordEvent(ChainEventType type, const BlockRef& ref) EXCLUDES(m_status_mutex);
    void UpdateStatus(bool synced, bool reachable, std::string error) EXCLUDES(m_status_mutex);

    ChainSource& m_source;
    store::Env& m_env;
    const FollowerConfig m_config;
    ChainStore m_store;
    std::vector<ChainListener*> m_listeners;

    //! Only touched by the syncing thread.
    std::optional<ChainState> m_state;
    std::optional<int> m_source_height;
    //! Whether listeners heard the tip since this follower was made (see Step).
    bool m_tip_announced{false};

    mutable Mutex m_status_mutex;
    FollowerStatus m_status GUARDED_BY(m_status_mutex);
    std::deque<ChainEvent> m_events GUARDED_BY(m_status_mutex);
};

} // namespace sidebolt

#endif
