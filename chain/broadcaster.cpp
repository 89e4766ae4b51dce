#include "chain/broadcaster.h"

#include "primitives/serialize.h"
#include "store/codec.h"
#include "util/logging.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <variant>

namespace sidebolt {

namespace {

Bytes EncodePending(const PendingBroadcast& pending)
{
    ByteWriter out;
    out.U8(pending.confirmed ? 1 : 0);
    out.VarBytes(store::AsBytes(pending.label));
    out.Raw(pending.raw_tx);
    return out.Release();
}

PendingBroadcast DecodePending(ByteSpan key, ByteSpan value)
{
    if (key.size() != 32) throw store::StoreError("broadcaster", "malformed key");
    PendingBroadcast pending;
    std::copy(key.begin(), key.end(), pending.txid.begin());
    ByteReader in{value};
    pending.confirmed = in.U8() != 0;
    pending.label = store::ToString(in.VarBytes());
    const ByteSpan raw = in.Span(in.Remaining());
    pending.raw_tx.assign(raw.begin(), raw.end());
    return pending;
}

} // namespace

Broadcaster::Broadcaster(ChainSource& source, store::Env& env, WatchManager& watches, BroadcasterConfig config)
    : m_source{source}, m_env{env}, m_watches{watches}, m_config{std::move(config)}, m_db{env.OpenDb("broadcasts")}
{
    m_watches.AddListener(m_config.tag_prefix, *this);
}

std::string Broadcaster::Tag(const Hash256& txid) const { return m_config.tag_prefix + HashToHexRev(txid); }

BroadcastResult Broadcaster::Broadcast(const Transaction& tx, const std::string& label, Rebroadcast policy)
{
    const Hash256 txid = tx.GetTxid();
    const Bytes raw = SerializeTransaction(tx);
    const bool persist = policy == Rebroadcast::UNTIL_CONFIRMED;
    if (WatchManager::InsideDelivery()) throw std::logic_error("inside a watch listener, use Broadcast(txn, ...)");
    if (persist) {
        // Persisted before sending: a crash right after the send still resends it.
        try {
            store::WriteTxn txn{m_env};
            PersistRaw(txn, txid, raw, label);
            txn.Commit();
        } catch (...) {
            m_watches.Reload();
            throw;
        }
    }
    return Send(txid, raw, label, persist, spdlog::level::info);
}

Hash256 Broadcaster::Broadcast(store::WriteTxn& txn, const Transaction& tx, const std::string& label)
{
    const Hash256 txid = Persist(txn, tx, label);
    const MutexLock lock{m_mutex};
    m_queued.push_back(txid);
    return txid;
}

Hash256 Broadcaster::Persist(store::WriteTxn& txn, const Transaction& tx, const std::string& label)
{
    const Hash256 txid = tx.GetTxid();
    PersistRaw(txn, txid, SerializeTransaction(tx), label);
    return txid;
}

void Broadcaster::SendQueued()
{
    std::vector<Hash256> queued;
    {
        const MutexLock lock{m_mutex};
        queued.swap(m_queued);
    }
    SendPersisted(queued);
}

void Broadcaster::SendPersisted(std::span<const Hash256> txids)
{
    for (const Hash256& txid : txids) {
        std::optional<PendingBroadcast> pending;
        {
            const store::ReadTxn txn{m_env};
            if (const auto value = txn.GetView(m_db, txid)) pending = DecodePending(txid, *value);
        }
        // Missing: the transaction that queued it was aborted.
        if (!pending || pending->confirmed) continue;
        // When the node is down, the next tip resends everything.
        if (Send(txid, pending->raw_tx, pending->label, true, spdlog::level::info).node_unreachable) return;
    }
}

void Broadcaster::PersistRaw(store::WriteTxn& txn, const Hash256& txid, const Bytes& raw, const std::string& label)
{
    Put(txn, PendingBroadcast{txid, label, raw, false});
    m_watches.WatchTxid(txn, txid, m_config.forget_depth, Tag(txid));
}

BroadcastResult Broadcaster::Send(const Hash256& txid, const Bytes& raw, const std::string& label, bool persisted,
                                  spdlog::level::level_enum log_level)
{
    BroadcastResult result;
    result.txid = txid;
    std::string outcome = "ok";
    try {
        result.send = m_source.SendRawTransaction(raw);
        // A parent of ours the mempool refused (below its floor: a presigned commitment) may get
        // in with this child paying for both (package relay).
        if (persisted && result.send.code == rpc::RPC_VERIFY_ERROR) {
            if (std::vector<Bytes> package = PendingParents(raw); !package.empty()) {
                package.push_back(raw);
                const SendResult as_package = m_source.SubmitPackage(package);
                if (as_package.Ok()) outcome = fmt::format("ok, as a package with {} parent(s)", package.size() - 1);
                if (as_package.Ok() || as_package.code != rpc::RPC_METHOD_NOT_FOUND) result.send = as_package;
            }
        }
    } catch (const ChainSourceUnavailable& e) {
        result.node_unreachable = true;
        result.send.message = e.what();
    }
    if (result.node_unreachable) {
        outcome = "bitcoind unreachable, will retry";
    } else if (!result.send.Ok()) {
        outcome = fmt::format("rejected {} {}", result.send.code, result.send.message);
    }
    Log("chain")->log(log_level, "broadcast {} ({}): {}", HashToHexRev(txid), label, outcome);
    if (persisted && result.send.status == SendResult::Status::AlreadyInChain && ConfirmedBeforeWatch(txid)) {
        Forget(txid);
    }
    return result;
}

std::vector<Bytes> Broadcaster::PendingParents(const Bytes& raw) const
{
    std::vector<Bytes> parents;
    const store::ReadTxn txn{m_env};
    for (const TxIn& in : ParseTransaction(raw).vin) {
        const auto value = txn.Get(m_db, in.prevout.txid);
        if (!value) continue;
        PendingBroadcast parent = DecodePending(in.prevout.txid, *value);
        if (!parent.confirmed && std::ranges::find(parents, parent.raw_tx) == parents.end()) parents.push_back(std::move(parent.raw_tx));
    }
    return parents;
}

bool Broadcaster::ConfirmedBeforeWatch(const Hash256& txid)
{
    // A confirmation our watch reported is forgotten at forget_depth, and one in a block our
    // follower has not processed yet will be reported: both stay, so a reorg resumes sending.
    const auto watch = m_watches.GetTxidWatch(txid, Tag(txid));
    if (watch && watch->confirm_height) return false;
    std::optional<Hash256> tip;
    {
        const MutexLock lock{m_mutex};
        tip = m_tip;
    }
    try {
        return tip && m_source.BestBlockHash() == *tip;
    } catch (const ChainSourceUnavailable&) {
        return false;
    }
}

bool Broadcaster::Cancel(const Hash256& txid) { return Forget(txid); }

bool Broadcaster::Forget(const Hash256& txid)
{
    if (WatchManager::InsideDelivery()) throw std::logic_error("inside a watch listener, cannot cancel a broadcast");
    try {
        store::WriteTxn txn{m_env};
        const bool existed = txn.Delete(m_db, txid);
        m_watches.UnwatchTxid(txn, txid, Tag(txid));
        txn.Commit();
        return existed;
    } catch (...) {
        m_watches.Reload();
        throw;
    }
}

std::vector<PendingBroadcast> Broadcaster::Pending() const
{
    std::vector<PendingBroadcast> pending;
    const store::ReadTxn txn{m_env};
    store::Cursor cursor = txn.OpenCursor(m_db);
    for (bool more = cursor.First(); more; more = cursor.Next()) {
        pending.push_back(DecodePending(cursor.Key(), cursor.Value()));
    }
    return pending;
}

void Broadcaster::RebroadcastPending()
{
    {
        // Everything queued is pending too, so it is sent below.
        const MutexLock lock{m_mutex};
        m_queued.clear();
    }
    for (const PendingBroadcast& pending : Pending()) {
        if (pending.confirmed) continue;
        if (Send(pending.txid, pending.raw_tx, pending.label, true, spdlog::level::debug).node_unreachable) return;
    }
}

void Broadcaster::OnTipChanged(const BlockRef& tip)
{
    {
        const MutexLock lock{m_mutex};
        m_tip = tip.hash;
    }
    RebroadcastPending();
}

void Broadcaster::OnWatchEvent(store::WriteTxn& txn, const WatchEvent& event)
{
    const auto* confirmed = std::get_if<TxConfirmed>(&event);
    const auto* unconfirmed = std::get_if<TxUnconfirmed>(&event);
    if (!confirmed && !unconfirmed) return;
    const Hash256& txid = confirmed ? confirmed->txid : unconfirmed->txid;
    const auto value = txn.Get(m_db, txid);
    if (!value) return;
    PendingBroadcast pending = DecodePending(txid, *value);
    if (confirmed && confirmed->depth >= m_config.forget_depth) {
        txn.Delete(m_db, txid);
        return;
    }
    pending.confirmed = confirmed != nullptr;
    Put(txn, pending);
}

void Broadcaster::Put(store::WriteTxn& txn, const PendingBroadcast& pending)
{
    txn.Put(m_db, pending.txid, EncodePending(pending));
}

} // namespace sidebolt
