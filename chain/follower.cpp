#include "chain/follower.h"

#include "util/logging.h"

#include <algorithm>
#include <exception>
#include <utility>

namespace sidebolt {

void ChainListener::OnBlockConnected(store::WriteTxn&, int, const Hash256&, const Block&) {}
void ChainListener::OnBlockDisconnected(store::WriteTxn&, int, const Hash256&) {}
void ChainListener::OnBlockAborted() {}
void ChainListener::OnTipChanged(const BlockRef&) {}

ChainFollower::ChainFollower(ChainSource& source, store::Env& env, FollowerConfig config)
    : m_source{source}, m_env{env}, m_config{std::move(config)}, m_store{env, m_config.history_depth}
{
    m_state = m_store.Load(m_env.BeginRead());
    if (m_state) m_status.tip = m_state->tip;
}

void ChainFollower::AddListener(ChainListener& listener) { m_listeners.push_back(&listener); }

bool ChainFollower::Sync(std::stop_token stop)
{
    try {
        if (!m_state) {
            const ChainState state = InitialState();
            m_env.Write([&](store::WriteTxn& txn) { m_store.Initialize(txn, state); });
            m_state = state;
            Log("chain")->info("starting to follow the chain at height {} (tip {} {})", state.birth_height,
                               state.tip.height, HashToHexRev(state.tip.hash));
        }
        bool synced = false;
        while (!synced && !stop.stop_requested()) synced = Step(stop);
        UpdateStatus(synced, true, {});
        return synced;
    } catch (const ChainSourceUnavailable& e) {
        UpdateStatus(false, false, std::string{"bitcoind unreachable: "} + e.what());
        throw;
    } catch (const std::exception& e) {
        UpdateStatus(false, true, e.what());
        throw;
    }
}

ChainState ChainFollower::InitialState()
{
    const Hash256 best = m_source.BestBlockHash();
    const ChainHeader best_header = FetchHeader(best);
    const int birth = std::clamp(m_config.start_height.value_or(best_header.height + 1), 0, best_header.height + 1);
    BlockRef tip{birth - 1, {}};
    if (tip.height == best_header.height) {
        tip.hash = best;
    } else if (tip.height >= 0) {
        const auto hash = m_source.BlockHashAtHeight(tip.height);
        if (!hash) throw std::runtime_error("node has no block at height " + std::to_string(tip.height));
        tip.hash = *hash;
    }
    return ChainState{birth, tip};
}

bool ChainFollower::Step(const std::stop_token& stop)
{
    const BlockRef tip = m_state->tip;
    const Hash256 best = m_source.BestBlockHash();
    if (best == tip.hash) {
        m_source_height = tip.height;
        // Listeners hear the tip at least once per run, even without a new block: the
        // broadcaster resends what it stored before a restart, at once.
        if (!m_tip_announced) NotifyTipChanged();
        return true;
    }
    ChainHeader target = FetchHeader(best);
    m_source_height = target.height;
    {
        // Known before the blocks up to it are delivered: listeners catching up can tell.
        const MutexLock lock{m_status_mutex};
        m_status.source_height = m_source_height;
    }
    const bool to_best = target.height <= tip.height + m_config.max_blocks_per_step;
    if (!to_best) {
        const int height = tip.height + m_config.max_blocks_per_step;
        const auto hash = m_source.BlockHashAtHeight(height);
        if (!hash) return false; // the node's chain shrank meanwhile: start over
        target = FetchHeader(*hash, height);
    }

    // Walk the node's chain back from the target by prev hash until it meets ours. Headers are
    // immutable, so the path is one consistent chain even if the node reorgs meanwhile.
    std::vector<Hash256> path; // newest first
    BlockRef cur{target.height, target.hash};
    std::optional<Hash256> cur_prev = target.prev_hash;
    while (!IsCommonBlock(cur)) {
        path.push_back(cur.hash);
        if (!cur_prev) cur_prev = FetchHeader(cur.hash, cur.height).prev_hash;
        cur = BlockRef{cur.height - 1, *cur_prev};
        cur_prev.reset();
    }

    DisconnectTo(cur);
    for (auto it = path.rbegin(); it != path.rend() && !stop.stop_requested(); ++it) {
        const BlockRef ref{m_state->tip.height + 1, *it};
        const auto raw = m_source.RawBlock(ref.hash);
        if (!raw) throw std::runtime_error("node cannot serve block " + HashToHexRev(ref.hash) + " (pruned?)");
        const Block block = ParseBlock(*raw);
        if (block.header.GetHash() != ref.hash || block.header.prev_block != m_state->tip.hash) {
            throw std::runtime_error("block " + HashToHexRev(ref.hash) + " from the node does not extend our tip");
        }
        ConnectBlock(ref, block);
    }
    NotifyTipChanged();
    return to_best && m_state->tip.hash == best;
}

bool ChainFollower::IsCommonBlock(const BlockRef& block) const
{
    // Blocks below our birth height were never delivered, so any of them is common ground.
    if (block.height < m_state->birth_height) return true;
    if (block.height > m_state->tip.height) return false;
    // A short read transaction per lookup: the walk talks to the node in between.
    const auto ours = m_store.HashAt(m_env.BeginRead(), block.height);
    if (!ours) {
        throw ReorgTooDeepError("reorg deeper than the " + std::to_string(m_store.HistoryDepth()) +
                                " blocks of history kept (fork below height " + std::to_string(block.height) + ")");
    }
    return *ours == block.hash;
}

ChainHeader ChainFollower::FetchHeader(const Hash256& hash, std::optional<int> expected_height)
{
    auto header = m_source.HeaderByHash(hash);
    if (!header) throw std::runtime_error("node does not know block " + HashToHexRev(hash));
    if (expected_height && header->height != *expected_height) {
        throw std::runtime_error("node reports block " + HashToHexRev(hash) + " at an unexpected height");
    }
    return *header;
}

void ChainFollower::DisconnectTo(const BlockRef& ancestor)
{
    const int lowest_delivered = std::max(ancestor.height + 1, m_state->birth_height);
    for (int height = m_state->tip.height; height >= lowest_delivered; --height) {
        BlockRef new_tip{height - 1, ancestor.hash};
        if (new_tip.height != ancestor.height) {
            const auto hash = m_store.HashAt(m_env.BeginRead(), new_tip.height);
            if (!hash) {
                throw store::StoreError("chain store", "missing hash at height " + std::to_string(new_tip.height));
            }
            new_tip.hash = *hash;
        }
        DisconnectBlock(m_state->tip, new_tip);
    }
    if (m_state->tip == ancestor) return;
    // The fork lies below our birth height (the node's chain shrank below where we started, or
    // the block before birth was replaced): nothing delivered is affected; blocks from the fork
    // on are new to us and will be delivered.
    const ChainState state{std::min(m_state->birth_height, ancestor.height + 1), ancestor};
    m_env.Write([&](store::WriteTxn& txn) { m_store.Initialize(txn, state); });
    m_state = state;
}

template <typename Fn>
void ChainFollower::CommitBlock(Fn&& fn)
{
    try {
        store::WriteTxn txn{m_env};
        fn(txn);
        txn.Commit();
    } catch (...) {
        for (ChainListener* listener : m_listeners) listener->OnBlockAborted();
        throw;
    }
}

void ChainFollower::ConnectBlock(const BlockRef& ref, const Block& block)
{
    CommitBlock([&](store::WriteTxn& txn) {
        for (ChainListener* listener : m_listeners) listener->OnBlockConnected(txn, ref.height, ref.hash, block);
        m_store.Connect(txn, ref);
    });
    m_state->tip = ref;
    RecordEvent(ChainEventType::CONNECTED, ref);
}

void ChainFollower::DisconnectBlock(BlockRef ref, const BlockRef& new_tip)
{
    CommitBlock([&](store::WriteTxn& txn) {
        for (ChainListener* listener : m_listeners) listener->OnBlockDisconnected(txn, ref.height, ref.hash);
        m_store.Disconnect(txn, ref.height, new_tip);
    });
    m_state->tip = new_tip;
    RecordEvent(ChainEventType::DISCONNECTED, ref);
}

void ChainFollower::NotifyTipChanged()
{
    m_tip_announced = true;
    for (ChainListener* listener : m_listeners) {
        try {
            listener->OnTipChanged(m_state->tip);
        } catch (const std::exception& e) {
            Log("chain")->warn("after-block work failed: {}", e.what());
        }
    }
}

void ChainFollower::RecordEvent(ChainEventType type, const BlockRef& ref)
{
    const bool connected = type == ChainEventType::CONNECTED;
    Log("chain")->info("block {} height={} hash={}", connected ? "connected" : "disconnected", ref.height,
                       HashToHexRev(ref.hash));
    const MutexLock lock{m_status_mutex};
    m_events.push_back(ChainEvent{type, ref.height, ref.hash, std::chrono::system_clock::now()});
    while (m_events.size() > m_config.event_ring_size) m_events.pop_front();
    m_status.tip = m_state->tip;
}

void ChainFollower::UpdateStatus(bool synced, bool reachable, std::string error)
{
    const MutexLock lock{m_status_mutex};
    if (!error.empty() && error != m_status.last_error) Log("chain")->warn("chain sync failed: {}", error);
    if (error.empty() && !m_status.last_error.empty()) Log("chain")->info("chain sync recovered");
    if (m_state) m_status.tip = m_state->tip;
    m_status.source_height = m_source_height;
    m_status.synced = synced;
    m_status.source_reachable = reachable;
    m_status.last_error = std::move(error);
}

FollowerStatus ChainFollower::Status() const
{
    const MutexLock lock{m_status_mutex};
    return m_status;
}

std::vector<ChainEvent> ChainFollower::RecentEvents() const
{
    const MutexLock lock{m_status_mutex};
    return {m_events.begin(), m_events.end()};
}

} // namespace sidebolt
