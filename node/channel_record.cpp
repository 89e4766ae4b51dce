#include "node/channel_record.h"

#include "wire/wire.h"

namespace sidebolt {
namespace {

//! Bumped whenever the layout below changes. Version 1 ended after `failure`; version 2 adds
//! the peer's announcement signatures, and version 1 records still read (without them).
constexpr uint8_t kRecordVersion = 2;
constexpr uint8_t kRecordVersionWithoutAnnouncement = 1;
//! Bounds on counts read back, so a corrupt length cannot make us allocate without limit.
constexpr uint32_t kMaxLockedInputs = 10'000;

void WriteBlob(WireWriter& w, ByteSpan bytes)
{
    w.WriteU32(static_cast<uint32_t>(bytes.size()));
    w.WriteBytes(bytes);
}

Bytes ReadBlob(WireReader& r)
{
    const uint32_t size = r.ReadU32();
    const ByteSpan bytes = r.ReadBytes(size);
    return Bytes(bytes.begin(), bytes.end());
}

void WriteOptionalU32(WireWriter& w, const std::optional<uint32_t>& value)
{
    w.WriteU8(value ? 1 : 0);
    if (value) w.WriteU32(*value);
}

std::optional<uint32_t> ReadOptionalU32(WireReader& r)
{
    if (r.ReadU8() == 0) return std::nullopt;
    return r.ReadU32();
}

bool IsKnownPhase(uint8_t phase) { return phase >= 1 && phase <= static_cast<uint8_t>(ChannelPhase::FAILED); }

} // namespace

std::string_view ChannelPhaseName(ChannelPhase phase)
{
    switch (phase) {
    case ChannelPhase::AWAITING_FUNDING_SIGNED: return "awaiting_funding_signed";
    case ChannelPhase::AWAITING_LOCKIN: return "awaiting_lockin";
    case ChannelPhase::NORMAL: return "normal";
    case ChannelPhase::SHUTTING_DOWN: return "shutting_down";
    case ChannelPhase::CLOSING: return "closing";
    case ChannelPhase::CLOSED: return "closed";
    case ChannelPhase::FAILED: return "failed";
    }
    return "unknown";
}

Bytes SerializeChannelRecord(const ChannelRecord& record)
{
    Bytes out;
    WireWriter w(out);
    w.WriteU8(kRecordVersion);
    w.WritePoint(record.peer);
    w.WriteU64(record.channel_index);
    w.WriteU8(static_cast<uint8_t>(record.phase));
    w.WriteU8(record.opener ? 1 : 0);
    w.WriteBytes(record.channel_id);
    w.WriteBytes(record.temporary_channel_id);
    WriteBlob(w, record.state ? SerializeChannelState(*record.state) : Bytes{});
    WriteBlob(w, record.funding_tx);
    w.WriteU32(static_cast<uint32_t>(record.locked_inputs.size()));
    for (const OutPoint& input : record.locked_inputs) {
        w.WriteBytes(input.txid);
        w.WriteU32(input.n);
    }
    w.WriteU32(record.created_height);
    WriteOptionalU32(w, record.funding_height);
    w.WriteU32(record.funding_tx_index);
    w.WriteU8(record.local_ready_sent ? 1 : 0);
    w.WriteU8(record.remote_ready_received ? 1 : 0);
    w.WriteU8(record.local_shutdown_script ? 1 : 0);
    if (record.local_shutdown_script) WriteBlob(w, *record.local_shutdown_script);
    WriteBlob(w, record.closing_tx);
    w.WriteU8(record.spending_txid ? 1 : 0);
    if (record.spending_txid) w.WriteBytes(*record.spending_txid);
    WriteOptionalU32(w, record.spend_height);
    WriteBlob(w, {reinterpret_cast<const uint8_t*>(record.failure.data()), record.failure.size()});
    w.WriteU8(record.remote_announcement_sigs ? 1 : 0);
    if (record.remote_announcement_sigs) {
        w.WriteBytes(record.remote_announcement_sigs->node_signature.Compact());
        w.WriteBytes(record.remote_announcement_sigs->bitcoin_signature.Compact());
    }
    return out;
}

std::optional<ChannelRecord> DeserializeChannelRecord(ByteSpan bytes)
{
    WireReader r(bytes);
    const uint8_t version = r.ReadU8();
    if (version != kRecordVersion && version != kRecordVersionWithoutAnnouncement) return std::nullopt;
    const auto peer = r.ReadPoint();
    if (!peer) return std::nullopt;
    ChannelRecord record{*peer};
    record.channel_index = r.ReadU64();
    const uint8_t phase = r.ReadU8();
    record.opener = r.ReadU8() != 0;
    record.channel_id = r.ReadArray<32>();
    record.temporary_channel_id = r.ReadArray<32>();
    const Bytes state = ReadBlob(r);
    record.funding_tx = ReadBlob(r);
    const uint32_t locked = r.ReadU32();
    if (locked > kMaxLockedInputs) return std::nullopt;
    for (uint32_t i = 0; i < locked && r.Ok(); ++i) {
        OutPoint input;
        input.txid = r.ReadArray<32>();
        input.n = r.ReadU32();
        record.locked_inputs.push_back(input);
    }
    record.created_height = r.ReadU32();
    record.funding_height = ReadOptionalU32(r);
    record.funding_tx_index = r.ReadU32();
    record.local_ready_sent = r.ReadU8() != 0;
    record.remote_ready_received = r.ReadU8() != 0;
    if (r.ReadU8() != 0) record.local_shutdown_script = ReadBlob(r);
    record.closing_tx = ReadBlob(r);
    if (r.ReadU8() != 0) record.spending_txid = r.ReadArray<32>();
    record.spend_height = ReadOptionalU32(r);
    const Bytes failure = ReadBlob(r);
    if (version == kRecordVersion && r.ReadU8() != 0) {
        const auto node_signature = EcdsaSignature::FromCompact(r.ReadBytes(64));
        const auto bitcoin_signature = EcdsaSignature::FromCompact(r.ReadBytes(64));
        if (!node_signature || !bitcoin_signature) return std::nullopt;
        record.remote_announcement_sigs = EndpointSignatures{*node_signature, *bitcoin_signature};
    }
    r.ExpectEnd();
    if (!r.Ok() || !IsKnownPhase(phase)) return std::nullopt;
    record.phase = static_cast<ChannelPhase>(phase);
    record.failure.assign(failure.begin(), failure.end());
    if (!state.empty()) {
        record.state = DeserializeChannelState(state);
        if (!record.state) return std::nullopt;
    }
    // From lock-in on the channel exists only through its state.
    if (record.phase != ChannelPhase::AWAITING_FUNDING_SIGNED && !record.state) return std::nullopt;
    return record;
}

} // namespace sidebolt
