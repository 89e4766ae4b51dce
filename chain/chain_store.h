#ifndef SIDEBOLT_CHAIN_CHAIN_STORE_H
#define SIDEBOLT_CHAIN_CHAIN_STORE_H

// The follower's persistent view of the chain: the last fully processed block, the height the
// follower started at, and the hashes of the most recent blocks (to find the fork point of a
// reorg). Written in the same transaction as the effects of each block.

#include "primitives/hash.h"
#include "store/env.h"

#include <optional>

namespace sidebolt {

struct BlockRef {
    //! -1 before the genesis block.
    int height{-1};
    Hash256 hash{};

    bool operator==(const BlockRef&) const = default;
};

struct ChainState {
    //! The first height whose block the follower delivers; blocks below it were never seen.
    int birth_height{0};
    //! The last fully processed block (birth_height - 1 before the first one).
    BlockRef tip;
};

class ChainStore
{
public:
    //! Keeps the tip's hash and the history_depth (at least 1) below it: enough to find the
    //! fork point of a reorg that many blocks deep.
    ChainStore(store::Env& env, int history_depth);

    std::optional<ChainState> Load(const store::Txn& txn) const;
    void Initialize(store::WriteTxn& txn, const ChainState& state);
    //! The stored hash of our chain at height; nullopt when not kept (too old or never seen).
    std::optional<Hash256> HashAt(const store::Txn& txn, int height) const;
    //! Makes block the new tip, one above the current tip, and forgets hashes beyond the depth.
    void Connect(store::WriteTxn& txn, const BlockRef& block);
    //! Drops the tip's hash and makes new_tip (one below) the tip.
    void Disconnect(store::WriteTxn& txn, int old_height, const BlockRef& new_tip);

    int HistoryDepth() const { return m_history_depth; }

private:
    void WriteTip(store::WriteTxn& txn, const BlockRef& tip);

    store::Db m_meta;
    store::Db m_hashes;
    int m_history_depth;
};

} // namespace sidebolt

#endif
