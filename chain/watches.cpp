#include "chain/watches.h"

#include "primitives/serialize.h"
#include "store/codec.h"
#include "util/logging.h"

#include <algorithm>
#include <stdexcept>
#include <type_traits>

namespace sidebolt {

namespace {

constexpr uint8_t FLAG_SPENDER = 1;   // outpoint: spender known; txid: seen in mempool
constexpr uint8_t FLAG_CONFIRMED = 2; // confirmation height follows
constexpr size_t OUTPOINT_KEY_SIZE = 36;
//! Above this the seen set is dropped rather than grown (a flood between two scans).
constexpr size_t MAX_SEEN = 1'000'000;

//! Set while this thread runs watch listeners, inside someone's write transaction.
thread_local bool t_delivering{false};

Bytes OutpointKey(const OutPoint& outpoint, const std::string& tag)
{
    store::KeyBuilder key;
    key.Raw(outpoint.txid).U32(outpoint.n).Str(tag);
    return std::move(key).Take();
}

Bytes TxidKey(const Hash256& txid, const std::string& tag)
{
    store::KeyBuilder key;
    key.Raw(txid).Str(tag);
    return std::move(key).Take();
}

void WriteHeight(ByteWriter& out, const std::optional<int>& height)
{
    if (height) out.U32(static_cast<uint32_t>(*height));
}

std::optional<int> ReadHeight(ByteReader& in, uint8_t flags)
{
    if (!(flags & FLAG_CONFIRMED)) return std::nullopt;
    return static_cast<int>(in.U32());
}

Bytes EncodeOutpointState(const OutpointWatchState& state)
{
    ByteWriter out;
    out.U8((state.spender ? FLAG_SPENDER : 0) | (state.spend_height ? FLAG_CONFIRMED : 0));
    if (state.spender) out.Raw(*state.spender);
    WriteHeight(out, state.spend_height);
    return out.Release();
}

OutpointWatchState DecodeOutpointState(ByteSpan value)
{
    ByteReader in{value};
    OutpointWatchState state;
    const uint8_t flags = in.U8();
    if (flags & FLAG_SPENDER) state.spender = in.Array<32>();
    state.spend_height = ReadHeight(in, flags);
    in.ExpectEnd();
    return state;
}

Bytes EncodeTxidState(const TxidWatchState& state)
{
    ByteWriter out;
    out.U32(static_cast<uint32_t>(state.depth));
    out.U8((state.seen_in_mempool ? FLAG_SPENDER : 0) | (state.confirm_height ? FLAG_CONFIRMED : 0));
    WriteHeight(out, state.confirm_height);
    return out.Release();
}

TxidWatchState DecodeTxidState(ByteSpan value)
{
    ByteReader in{value};
    TxidWatchState state;
    state.depth = static_cast<int>(in.U32());
    const uint8_t flags = in.U8();
    state.seen_in_mempool = flags & FLAG_SPENDER;
    state.confirm_height = ReadHeight(in, flags);
    in.ExpectEnd();
    return state;
}

Hash256 HashFromKey(ByteSpan key)
{
    Hash256 hash;
    std::copy(key.begin(), key.begin() + 32, hash.begin());
    return hash;
}

} // namespace

const std::string& EventTag(const WatchEvent& event)
{
    return std::visit([](const auto& e) -> const std::string& { return e.tag; }, event);
}

WatchManager::WatchManager(store::Env& env)
    : m_env{env}, m_outpoint_db{env.OpenDb("watch_outpoints")}, m_txid_db{env.OpenDb("watch_txids")}
{
    const MutexLock lock{m_mutex};
    LoadLocked(m_env.BeginRead());
}

void WatchManager::AddListener(std::string tag_prefix, WatchListener& listener)
{
    m_listeners.emplace_back(std::move(tag_prefix), &listener);
}

bool WatchManager::InsideDelivery() { return t_delivering; }

template <typename Fn>
auto WatchManager::WithOwnTxn(Fn&& fn)
{
    // A second WriteTxn on this thread would wait for the one being delivered: forever.
    if (t_delivering) throw std::logic_error("inside a watch listener, use the overloads taking the txn");
    try {
        store::WriteTxn txn{m_env};
        auto result = fn(txn);
        txn.Commit();
        return result;
    } catch (...) {
        Reload();
        throw;
    }
}

template <typename Fn>
void WatchManager::ApplyAndDeliver(store::WriteTxn& txn, Delivering delivering, Fn&& apply)
{
    {
        const MutexLock lock{m_mutex};
        m_delivering = delivering;
        apply();
    }
    Deliver(txn);
}

void WatchManager::Deliver(store::WriteTxn& txn)
{
    struct DeliveringFlag {
        DeliveringFlag() { t_delivering = true; }
        ~DeliveringFlag() { t_delivering = false; }
    } flag;
    try {
        // Listeners may add watches, which queue more events: index, don't iterate.
        for (size_t i = 0;; ++i) {
            const auto event = QueuedEvent(i);
            if (!event) break;
            const std::string& tag = EventTag(*event);
            for (const auto& [prefix, listener] : m_listeners) {
                if (tag.starts_with(prefix)) listener->OnWatchEvent(txn, *event);
            }
        }
    } catch (...) {
        const MutexLock lock{m_mutex};
        m_queue.clear();
        m_delivering = std::monostate{};
        throw;
    }
    const MutexLock lock{m_mutex};
    m_queue.clear();
    m_delivering = std::monostate{};
}

std::optional<WatchEvent> WatchManager::QueuedEvent(size_t i) const
{
    const MutexLock lock{m_mutex};
    if (i >= m_queue.size()) return std::nullopt;
    return m_queue[i];
}

void WatchManager::WatchOutpoint(store::WriteTxn& txn, const OutPoint& outpoint, const std::string& tag)
{
    const MutexLock lock{m_mutex};
    if (!m_outpoints[outpoint].try_emplace(tag).second) return;
    PutOutpoint(txn, outpoint, tag, {});
    m_fresh_outpoints.push_back(outpoint);
    // Events for the block or transaction being delivered go to the delivery loop's queue.
    ApplyDelivering(txn);
}

void WatchManager::WatchOutpoint(const OutPoint& outpoint, const std::string& tag)
{
    WithOwnTxn([&](store::WriteTxn& txn) {
        WatchOutpoint(txn, outpoint, tag);
        return true;
    });
}

void WatchManager::WatchTxid(store::WriteTxn& txn, const Hash256& txid, int depth, const std::string& tag)
{
    const MutexLock lock{m_mutex};
    auto [it, added] = m_txids[txid].try_emplace(tag);
    TxidWatchState& state = it->second;
    const int new_depth = std::max(depth, 1);
    if (!added && state.depth == new_depth) return;
    state.depth = new_depth;
    PutTxid(txn, txid, tag, state);
    if (added) m_fresh_txids.push_back(txid);
    ApplyDelivering(txn);
}

void WatchManager::WatchTxid(const Hash256& txid, int depth, const std::string& tag)
{
    WithOwnTxn([&](store::WriteTxn& txn) {
        WatchTxid(txn, txid, depth, tag);
        return true;
    });
}

bool WatchManager::UnwatchOutpoint(store::WriteTxn& txn, const OutPoint& outpoint, const std::string& tag)
{
    const MutexLock lock{m_mutex};
    const auto it = m_outpoints.find(outpoint);
    if (it == m_outpoints.end() || it->second.erase(tag) == 0) return false;
    if (it->second.empty()) m_outpoints.erase(it);
    txn.Delete(m_outpoint_db, OutpointKey(outpoint, tag));
    return true;
}

bool WatchManager::UnwatchOutpoint(const OutPoint& outpoint, const std::string& tag)
{
    return WithOwnTxn([&](store::WriteTxn& txn) { return UnwatchOutpoint(txn, outpoint, tag); });
}

bool WatchManager::UnwatchTxid(store::WriteTxn& txn, const Hash256& txid, const std::string& tag)
{
    const MutexLock lock{m_mutex};
    const auto it = m_txids.find(txid);
    if (it == m_txids.end() || it->second.erase(tag) == 0) return false;
    if (it->second.empty()) m_txids.erase(it);
    txn.Delete(m_txid_db, TxidKey(txid, tag));
    return true;
}

bool WatchManager::UnwatchTxid(const Hash256& txid, const std::string& tag)
{
    return WithOwnTxn([&](store::WriteTxn& txn) { return UnwatchTxid(txn, txid, tag); });
}

std::optional<OutpointWatchState> WatchManager::GetOutpointWatch(const OutPoint& outpoint, const std::string& tag) const
{
    const MutexLock lock{m_mutex};
    const auto it = m_outpoints.find(outpoint);
    if (it == m_outpoints.end()) return std::nullopt;
    const auto watch = it->second.find(tag);
    if (watch == it->second.end()) return std::nullopt;
    return watch->second;
}

std::optional<TxidWatchState> WatchManager::GetTxidWatch(const Hash256& txid, const std::string& tag) const
{
    const MutexLock lock{m_mutex};
    const auto it = m_txids.find(txid);
    if (it == m_txids.end()) return std::nullopt;
    const auto watch = it->second.find(tag);
    if (watch == it->second.end()) return std::nullopt;
    return watch->second;
}

size_t WatchManager::WatchCount() const
{
    const MutexLock lock{m_mutex};
    size_t count = 0;
    for (const auto& [outpoint, by_tag] : m_outpoints) count += by_tag.size();
    for (const auto& [txid, by_tag] : m_txids) count += by_tag.size();
    return count;
}

bool WatchManager::HasWatches() const
{
    const MutexLock lock{m_mutex};
    return !m_outpoints.empty() || !m_txids.empty();
}

bool WatchManager::TouchesWatch(const Transaction& tx, const Hash256& txid) const
{
    if (m_txids.contains(txid)) return true;
    return std::any_of(tx.vin.begin(), tx.vin.end(),
                       [&](const TxIn& in) REQUIRES(m_mutex) { return m_outpoints.contains(in.prevout); });
}

void WatchManager::ProcessMempoolTx(const Transaction& tx, const Hash256& txid)
{
    {
        const MutexLock lock{m_mutex};
        if (m_seen.size() >= MAX_SEEN) m_seen.clear();
        m_seen.insert(txid);
        if (!TouchesWatch(tx, txid)) return;
    }
    try {
        WithOwnTxn([&](store::WriteTxn& txn) {
            ApplyAndDeliver(txn, DeliveringTx{&tx, txid}, [&]() REQUIRES(m_mutex) { ApplyTx(txn, tx, txid, std::nullopt); });
            return true;
        });
    } catch (...) {
        // Not processed after all: let the next mempool scan offer it again.
        const MutexLock lock{m_mutex};
        m_seen.erase(txid);
        throw;
    }
}

bool WatchManager::ScanMempool(ChainSource& source, size_t fetch_limit)
{
    std::vector<OutPoint> fresh_outpoints;
    std::vector<Hash256> fresh_txids;
    {
        const MutexLock lock{m_mutex};
        if (m_outpoints.empty() && m_txids.empty()) {
            m_seen.clear();
            return false;
        }
        fresh_outpoints = m_fresh_outpoints;
        fresh_txids = m_fresh_txids;
    }
    const std::vector<Hash256> mempool = source.MempoolTxids();
    // A new outpoint watch may already be spent by a transaction we saw before it existed;
    // gettxout tells whether that is so, and only then is the whole mempool read again. An
    // output of an unconfirmed transaction is absent from the chain's view, not spent there.
    const auto in_mempool = [&](const Hash256& txid) {
        return std::find(mempool.begin(), mempool.end(), txid) != mempool.end();
    };
    bool rescan = false;
    for (const OutPoint& outpoint : fresh_outpoints) {
        if (source.IsUnspent(outpoint, true)) continue;
        if (in_mempool(outpoint.txid) || source.IsUnspent(outpoint, false)) {
            rescan = true;
        } else {
            Log("chain")->warn("watched outpoint {} was already spent in the chain before the watch began",
                               outpoint.ToString());
        }
    }
    {
        const MutexLock lock{m_mutex};
        std::unordered_set<Hash256, Hash256Hasher> still_seen;
        if (!rescan) {
            for (const Hash256& txid : mempool) {
                if (m_seen.contains(txid)) still_seen.insert(txid);
            }
        }
        for (const Hash256& txid : fresh_txids) still_seen.erase(txid);
        m_seen = std::move(still_seen);
        std::erase_if(m_fresh_outpoints, [&](const OutPoint& o) {
            return std::find(fresh_outpoints.begin(), fresh_outpoints.end(), o) != fresh_outpoints.end();
        });
        std::erase_if(m_fresh_txids, [&](const Hash256& t) {
            return std::find(fresh_txids.begin(), fresh_txids.end(), t) != fresh_txids.end();
        });
    }
    size_t fetched = 0;
    for (const Hash256& txid : mempool) {
        {
            const MutexLock lock{m_mutex};
            if (m_seen.contains(txid)) continue;
        }
        if (fetched == fetch_limit) return true;
        ++fetched;
        const auto raw = source.RawTransaction(txid);
        const auto tx = raw ? TryParseTransaction(*raw) : std::nullopt;
        if (tx) {
            ProcessMempoolTx(*tx, txid);
        } else {
            // Mined or evicted meanwhile: blocks will tell.
            const MutexLock lock{m_mutex};
            m_seen.insert(txid);
        }
    }
    return false;
}

void WatchManager::OnBlockConnected(store::WriteTxn& txn, int height, const Hash256&, const Block& block)
{
    const DeliveringBlock delivering{height, &block};
    ApplyAndDeliver(txn, delivering, [&]() REQUIRES(m_mutex) { ApplyBlock(txn, delivering); });
}

void WatchManager::OnBlockDisconnected(store::WriteTxn& txn, int height, const Hash256&)
{
    ApplyAndDeliver(txn, std::monostate{}, [&]() REQUIRES(m_mutex) {
        // Reorgs are rare and watches few: a scan is simpler than a per-height index.
        for (auto& [outpoint, by_tag] : m_outpoints) {
            for (auto& [tag, state] : by_tag) {
                if (state.spend_height != height) continue;
                state.spend_height.reset();
                PutOutpoint(txn, outpoint, tag, state);
                m_queue.push_back(OutpointSpendUnconfirmed{tag, outpoint, *state.spender});
            }
        }
        for (auto& [txid, by_tag] : m_txids) {
            for (auto& [tag, state] : by_tag) {
                if (state.confirm_height != height) continue;
                state.confirm_height.reset();
                // Back in the mempool (most likely): let that be reported again, by the next
                // scan too.
                state.seen_in_mempool = false;
                m_seen.erase(txid);
                PutTxid(txn, txid, tag, state);
                m_queue.push_back(TxUnconfirmed{tag, txid});
            }
        }
    });
}

void WatchManager::OnBlockAborted() { Reload(); }

void WatchManager::ApplyDelivering(store::WriteTxn& txn)
{
    // Re-applying is idempotent for existing watches, so only the new watch yields events.
    if (const auto* block = std::get_if<DeliveringBlock>(&m_delivering)) ApplyBlock(txn, *block);
    if (const auto* tx = std::get_if<DeliveringTx>(&m_delivering)) ApplyTx(txn, *tx->tx, tx->txid, std::nullopt);
}

void WatchManager::ApplyBlock(store::WriteTxn& txn, const DeliveringBlock& delivering)
{
    if (!m_outpoints.empty() || !m_txids.empty()) {
        const Block& block = *delivering.block;
        for (size_t i = 0; i < block.txs.size(); ++i) ApplyTx(txn, block.txs[i], block.txids[i], delivering.height);
    }
    ApplyDepths(txn, delivering.height);
}

void WatchManager::ApplyTx(store::WriteTxn& txn, const Transaction& tx, const Hash256& txid, std::optional<int> height)
{
    if (const auto it = m_txids.find(txid); it != m_txids.end()) {
        for (auto& [tag, state] : it->second) {
            if (height) {
                if (state.confirm_height == height) continue;
                state.confirm_height = height;
                m_queue.push_back(TxConfirmed{tag, txid, *height, 1});
            } else {
                if (state.seen_in_mempool || state.confirm_height) continue;
                state.seen_in_mempool = true;
                m_queue.push_back(TxSeenInMempool{tag, txid});
            }
            PutTxid(txn, txid, tag, state);
        }
    }
    for (const TxIn& in : tx.vin) {
        const auto it = m_outpoints.find(in.prevout);
        if (it == m_outpoints.end()) continue;
        for (auto& [tag, state] : it->second) {
            if (height) {
                if (state.spend_height == height && state.spender == txid) continue;
            } else if (state.spend_height || state.spender == txid) {
                continue; // a confirmed spend is final for the mempool
            }
            if (state.spender != txid) {
                state.spender = txid;
                m_queue.push_back(OutpointSpent{tag, in.prevout, tx, txid, !height});
            }
            if (height) {
                state.spend_height = height;
                m_queue.push_back(OutpointSpendConfirmed{tag, in.prevout, txid, *height});
            }
            PutOutpoint(txn, in.prevout, tag, state);
        }
    }
}

void WatchManager::ApplyDepths(store::WriteTxn& txn, int height)
{
    for (auto it = m_txids.begin(); it != m_txids.end();) {
        auto& by_tag = it->second;
        for (auto watch = by_tag.begin(); watch != by_tag.end();) {
            const auto& [tag, state] = *watch;
            if (!state.confirm_height || height - *state.confirm_height + 1 < state.depth) {
                ++watch;
                continue;
            }
            if (state.depth > 1) m_queue.push_back(TxConfirmed{tag, it->first, *state.confirm_height, state.depth});
            txn.Delete(m_txid_db, TxidKey(it->first, tag));
            watch = by_tag.erase(watch);
        }
        it = by_tag.empty() ? m_txids.erase(it) : std::next(it);
    }
}

void WatchManager::Reload()
{
    // Inside a write transaction, so that no other writer has uncommitted changes in memory.
    const store::WriteTxn txn{m_env};
    const MutexLock lock{m_mutex};
    LoadLocked(txn);
}

void WatchManager::LoadLocked(const store::Txn& txn)
{
    m_outpoints.clear();
    m_txids.clear();
    m_queue.clear();
    m_delivering = std::monostate{};
    store::Cursor outpoints = txn.OpenCursor(m_outpoint_db);
    for (bool more = outpoints.First(); more; more = outpoints.Next()) {
        const ByteSpan key = outpoints.Key();
        if (key.size() < OUTPOINT_KEY_SIZE) throw store::StoreError("watches", "malformed outpoint watch key");
        const OutPoint outpoint{HashFromKey(key), *store::DecodeU32(key.subspan(32, 4))};
        m_outpoints[outpoint][store::ToString(key.subspan(OUTPOINT_KEY_SIZE))] = DecodeOutpointState(outpoints.Value());
    }
    store::Cursor txids = txn.OpenCursor(m_txid_db);
    for (bool more = txids.First(); more; more = txids.Next()) {
        const ByteSpan key = txids.Key();
        if (key.size() < 32) throw store::StoreError("watches", "malformed txid watch key");
        m_txids[HashFromKey(key)][store::ToString(key.subspan(32))] = DecodeTxidState(txids.Value());
    }
}

void WatchManager::PutOutpoint(store::WriteTxn& txn, const OutPoint& outpoint, const std::string& tag,
                               const OutpointWatchState& state)
{
    txn.Put(m_outpoint_db, OutpointKey(outpoint, tag), EncodeOutpointState(state));
}

void WatchManager::PutTxid(store::WriteTxn& txn, const Hash256& txid, const std::string& tag,
                           const TxidWatchState& state)
{
    txn.Put(m_txid_db, TxidKey(txid, tag), EncodeTxidState(state));
}

} // namespace sidebolt
