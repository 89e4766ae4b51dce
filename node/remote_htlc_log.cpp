#include "node/remote_htlc_log.h"

#include "wire/wire.h"

#include <set>
#include <stdexcept>
#include <utility>

namespace sidebolt {
namespace {
constexpr const char* kRemoteHtlcLogDb = "channels.remote_htlcs";
constexpr uint8_t kRangeVersion = 1;

//! channel_id || offerer || id: a channel's HTLCs under one prefix, in offer order.
Bytes RangeKey(const Hash256& channel_id, Side offerer, uint64_t id)
{
    Bytes key(channel_id.begin(), channel_id.end());
    WireWriter w(key);
    w.WriteU8(static_cast<uint8_t>(offerer));
    w.WriteU64(id);
    return key;
}
} // namespace

Bytes EncodeLoggedRange(const LoggedRange& range)
{
    Bytes out;
    WireWriter w(out);
    w.WriteU8(kRangeVersion);
    w.WriteU8(static_cast<uint8_t>(range.htlc.offerer));
    w.WriteU64(range.htlc.amount_msat.value());
    w.WriteBytes(range.htlc.payment_hash);
    w.WriteU32(range.htlc.cltv_expiry);
    w.WriteU64(range.first);
    w.WriteU8(range.end ? 1 : 0);
    w.WriteU64(range.end.value_or(0));
    return out;
}

std::optional<LoggedRange> DecodeLoggedRange(ByteSpan bytes)
{
    WireReader r(bytes);
    const uint8_t version = r.ReadU8();
    const uint8_t offerer = r.ReadU8();
    LoggedRange range;
    range.htlc.amount_msat = Msat{r.ReadU64()};
    range.htlc.payment_hash = r.ReadArray<32>();
    range.htlc.cltv_expiry = r.ReadU32();
    range.first = r.ReadU64();
    const uint8_t has_end = r.ReadU8();
    const uint64_t end = r.ReadU64();
    r.ExpectEnd();
    if (!r.Ok() || version != kRangeVersion || offerer > 1 || has_end > 1 || (has_end && end <= range.first)) return std::nullopt;
    range.htlc.offerer = offerer == 0 ? Side::LOCAL : Side::REMOTE;
    if (has_end) range.end = end;
    return range;
}

RemoteHtlcLog::RemoteHtlcLog(store::Env& env) : m_db(env.OpenDb(kRemoteHtlcLogDb)) {}

void RemoteHtlcLog::Load(const store::Txn& txn)
{
    m_open.clear();
    txn.ForEachPrefix(m_db, {}, [&](ByteSpan key, ByteSpan value) {
        const auto range = DecodeLoggedRange(value);
        if (!range || key.size() != 32 + 1 + 8) throw std::runtime_error("corrupt entry in the peer's HTLC log");
        if (range->end) return true;
        Hash256 channel_id{};
        std::copy(key.begin(), key.begin() + 32, channel_id.begin());
        WireReader r(key.subspan(32 + 1));
        m_open[channel_id].emplace(std::pair{range->htlc.offerer, r.ReadU64()}, *range);
        return true;
    });
}

std::vector<KeyedHtlc> HtlcsOf(const CommitmentView& view)
{
    std::vector<KeyedHtlc> out;
    for (size_t i = 0; i < view.htlcs.size(); ++i) {
        const Htlc& htlc = view.spec.htlcs.at(i);
        out.push_back({view.htlcs[i],
                       LoggedHtlc{.offerer = view.htlcs[i].offerer,
                                  .amount_msat = htlc.amount_msat,
                                  .payment_hash = htlc.payment_hash,
                                  .cltv_expiry = htlc.cltv_expiry}});
    }
    return out;
}

void RemoteHtlcLog::OnRemoteCommitment(store::WriteTxn& txn, const Hash256& channel_id, uint64_t number,
                                       std::span<const KeyedHtlc> htlcs)
{
    auto& open = m_open[channel_id];
    std::set<std::pair<Side, uint64_t>> in_view;
    for (const KeyedHtlc& keyed : htlcs) {
        const std::pair key{keyed.key.offerer, keyed.key.id};
        in_view.insert(key);
        if (open.contains(key)) continue;
        const LoggedRange range{.htlc = keyed.htlc, .first = number, .end = std::nullopt};
        txn.Put(m_db, RangeKey(channel_id, key.first, key.second), EncodeLoggedRange(range));
        open.emplace(key, range);
    }
    for (auto it = open.begin(); it != open.end();) {
        if (in_view.contains(it->first)) {
            ++it;
            continue;
        }
        LoggedRange closed = it->second;
        closed.end = number;
        txn.Put(m_db, RangeKey(channel_id, it->first.first, it->first.second), EncodeLoggedRange(closed));
        it = open.erase(it);
    }
    if (open.empty()) m_open.erase(channel_id);
}

RevokedCommitmentHtlcs RemoteHtlcLog::Find(const store::Txn& txn, const Hash256& channel_id, uint64_t number) const
{
    RevokedCommitmentHtlcs found{.commitment_number = number, .htlcs = {}};
    txn.ForEachPrefix(m_db, channel_id, [&](ByteSpan, ByteSpan value) {
        const auto range = DecodeLoggedRange(value);
        if (!range) throw std::runtime_error("corrupt entry in the peer's HTLC log");
        if (range->first <= number && (!range->end || number < *range->end)) found.htlcs.push_back(range->htlc);
        return true;
    });
    return found;
}

} // namespace sidebolt
