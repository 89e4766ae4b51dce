#include "node/closed_channel.h"

#include "wire/wire.h"

namespace sidebolt {
namespace {

constexpr uint8_t kClosedVersion = 1;
//! A bound on counts read back, so a corrupt length cannot make us allocate without limit.
constexpr uint32_t kMaxTxids = 100'000;

} // namespace

Bytes EncodeClosedChannel(const ClosedChannel& closed)
{
    Bytes out;
    WireWriter w(out);
    w.WriteU8(kClosedVersion);
    w.WriteBytes(closed.channel_id);
    w.WriteBytes(closed.peer.span());
    w.WriteU8(closed.opener ? 1 : 0);
    w.WriteU64(closed.capacity.value());
    w.WriteBytes(closed.funding_outpoint.txid);
    w.WriteU32(closed.funding_outpoint.n);
    w.WriteU8(closed.short_channel_id ? 1 : 0);
    if (closed.short_channel_id) w.WriteU64(*closed.short_channel_id);
    w.WriteU16Prefixed(ByteSpan(reinterpret_cast<const uint8_t*>(closed.close_kind.data()), closed.close_kind.size()));
    w.WriteBytes(closed.spend_txid);
    w.WriteU32(closed.spend_height);
    w.WriteU32(closed.resolved_height);
    w.WriteU32(closed.archived_height);
    w.WriteU32(static_cast<uint32_t>(closed.our_txids.size()));
    for (const Hash256& txid : closed.our_txids) w.WriteBytes(txid);
    w.WriteU8(closed.returned ? 1 : 0);
    if (closed.returned) w.WriteU64(closed.returned->value());
    return out;
}

std::optional<ClosedChannel> DecodeClosedChannel(ByteSpan bytes)
{
    WireReader r(bytes);
    if (r.ReadU8() != kClosedVersion) return std::nullopt;
    const Hash256 channel_id = r.ReadArray<32>();
    const auto peer = PubKey::Parse(r.ReadBytes(33));
    if (!peer) return std::nullopt;
    ClosedChannel closed(*peer);
    closed.channel_id = channel_id;
    closed.opener = r.ReadU8() != 0;
    const uint64_t capacity = r.ReadU64();
    closed.funding_outpoint.txid = r.ReadArray<32>();
    closed.funding_outpoint.n = r.ReadU32();
    if (r.ReadU8() != 0) closed.short_channel_id = r.ReadU64();
    const ByteSpan kind = r.ReadBytes(r.ReadU16());
    closed.close_kind.assign(kind.begin(), kind.end());
    closed.spend_txid = r.ReadArray<32>();
    closed.spend_height = r.ReadU32();
    closed.resolved_height = r.ReadU32();
    closed.archived_height = r.ReadU32();
    const uint32_t txids = r.ReadU32();
    if (txids > kMaxTxids) return std::nullopt;
    for (uint32_t i = 0; i < txids && r.Ok(); ++i) closed.our_txids.push_back(r.ReadArray<32>());
    std::optional<uint64_t> returned;
    if (r.ReadU8() != 0) returned = r.ReadU64();
    r.ExpectEnd();
    if (!r.Ok() || capacity > kMaxMoney.value() || (returned && *returned > kMaxMoney.value())) return std::nullopt;
    closed.capacity = Sat{capacity};
    if (returned) closed.returned = Sat{*returned};
    return closed;
}

} // namespace sidebolt
