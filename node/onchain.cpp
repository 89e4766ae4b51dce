#include "node/onchain.h"

#include "util/hex.h"
#include "wire/wire.h"

#include <algorithm>

namespace sidebolt {
namespace {

constexpr uint8_t kOnchainVersion = 1;
//! A bound on counts read back, so a corrupt length cannot make us allocate without limit.
constexpr uint32_t kMaxBroadcasts = 100'000;

void WriteBlob(WireWriter& w, ByteSpan bytes)
{
    w.WriteU32(static_cast<uint32_t>(bytes.size()));
    w.WriteBytes(bytes);
}

Bytes ReadBlob(WireReader& r)
{
    const ByteSpan bytes = r.ReadBytes(r.ReadU32());
    return Bytes(bytes.begin(), bytes.end());
}

size_t CompactSizeLength(size_t n) { return n < 253 ? 1 : n <= 0xffff ? 3 : n <= 0xffffffff ? 5 : 9; }

} // namespace

bool DutySpendable(const OutputDuty& duty, const OnchainRecord& record, uint32_t tip)
{
    // A locktime of L lets the transaction into block L + 1 (BIP 65: the next block's height is
    // above it); bitcoind's mempool takes it once the tip is L.
    if (duty.spendable_height > tip) return false;
    if (duty.csv_delay == 0) return true;
    // BIP 68: an input with a relative lock of N blocks enters block spend_height + N at the earliest.
    return record.spend_height && tip + 1 >= *record.spend_height + duty.csv_delay;
}

bool IsPenaltyDuty(DutyKind kind) { return kind == DutyKind::PENALTY_TO_LOCAL || kind == DutyKind::PENALTY_HTLC; }

bool SpentByOther(const OnchainRecord& record, uint32_t output_index)
{
    const SpentOutput* spent = record.SpentAt(output_index);
    return spent && !record.Broadcast(ParseTransaction(spent->tx).GetTxid());
}

bool IsSecondStageDuty(DutyKind kind) { return kind == DutyKind::LOCAL_HTLC_TIMEOUT || kind == DutyKind::LOCAL_HTLC_SUCCESS; }

uint32_t SignedInputWeight(const Transaction& tx, size_t index)
{
    const TxIn& in = tx.vin.at(index);
    // outpoint, scriptSig length and script, sequence.
    size_t base = 32 + 4 + CompactSizeLength(in.script_sig.size()) + in.script_sig.size() + 4;
    size_t witness = CompactSizeLength(in.witness.size());
    for (const Bytes& item : in.witness) witness += CompactSizeLength(item.size()) + item.size();
    return static_cast<uint32_t>(4 * base + witness);
}

bool OnchainRecord::Broadcast(const Hash256& txid) const { return std::ranges::find(broadcast, txid) != broadcast.end(); }

const SpentOutput* OnchainRecord::SpentAt(uint32_t output_index) const
{
    const auto it = std::ranges::find_if(spent, [&](const SpentOutput& s) { return s.output_index == output_index; });
    return it == spent.end() ? nullptr : &*it;
}

Bytes EncodeOnchainRecord(const OnchainRecord& record)
{
    Bytes out;
    WireWriter w(out);
    w.WriteU8(kOnchainVersion);
    WriteBlob(w, record.spend_tx);
    w.WriteU8(record.spend_height ? 1 : 0);
    if (record.spend_height) w.WriteU32(*record.spend_height);
    WriteBlob(w, record.sweep_script);
    w.WriteU32(record.feerate_per_kw);
    w.WriteU32(static_cast<uint32_t>(record.broadcast.size()));
    for (const Hash256& txid : record.broadcast) w.WriteBytes(txid);
    w.WriteU32(static_cast<uint32_t>(record.spent.size()));
    for (const SpentOutput& spent : record.spent) {
        w.WriteU32(spent.output_index);
        WriteBlob(w, spent.tx);
        w.WriteU8(spent.height ? 1 : 0);
        if (spent.height) w.WriteU32(*spent.height);
    }
    w.WriteU32(static_cast<uint32_t>(record.preimages.size()));
    for (const Hash256& preimage : record.preimages) w.WriteBytes(preimage);
    return out;
}

std::optional<OnchainRecord> DecodeOnchainRecord(ByteSpan bytes)
{
    WireReader r(bytes);
    if (r.ReadU8() != kOnchainVersion) return std::nullopt;
    OnchainRecord record;
    record.spend_tx = ReadBlob(r);
    if (r.ReadU8() != 0) record.spend_height = r.ReadU32();
    record.sweep_script = ReadBlob(r);
    record.feerate_per_kw = r.ReadU32();
    const uint32_t broadcasts = r.ReadU32();
    if (broadcasts > kMaxBroadcasts) return std::nullopt;
    for (uint32_t i = 0; i < broadcasts && r.Ok(); ++i) record.broadcast.push_back(r.ReadArray<32>());
    const uint32_t spent = r.ReadU32();
    if (spent > kMaxBroadcasts) return std::nullopt;
    for (uint32_t i = 0; i < spent && r.Ok(); ++i) {
        SpentOutput output;
        output.output_index = r.ReadU32();
        output.tx = ReadBlob(r);
        if (r.ReadU8() != 0) output.height = r.ReadU32();
        if (r.Ok() && !TryParseTransaction(output.tx)) return std::nullopt;
        record.spent.push_back(std::move(output));
    }
    const uint32_t preimages = r.ReadU32();
    if (preimages > kMaxBroadcasts) return std::nullopt;
    for (uint32_t i = 0; i < preimages && r.Ok(); ++i) record.preimages.push_back(r.ReadArray<32>());
    r.ExpectEnd();
    if (!r.Ok() || !TryParseTransaction(record.spend_tx)) return std::nullopt;
    return record;
}

std::vector<DueTransaction> DueTransactions(const Resolution& resolution, const OnchainRecord& record,
                                            bool zero_fee_htlc_txs, uint32_t tip)
{
    std::vector<DueTransaction> due;
    const std::string spend = HashToHexRev(resolution.txid).substr(0, 16);
    auto add = [&](const Transaction& tx, std::string_view what) {
        if (record.Broadcast(tx.GetTxid())) return;
        due.push_back({tx, std::string(what) + " of " + spend});
    };
    // The cheater's HTLC transaction spending one output of the batched penalty first makes the
    // batch invalid for good: each other revoked output then goes in a penalty of its own.
    const bool batch_broken = std::ranges::any_of(resolution.duties, [&](const OutputDuty& duty) {
        return IsPenaltyDuty(duty.kind) && SpentByOther(record, duty.output_index);
    });
    if (resolution.penalty_tx && !batch_broken) add(*resolution.penalty_tx, "penalty");
    for (const OutputDuty& duty : resolution.duties) {
        if (IsPenaltyDuty(duty.kind)) {
            if (batch_broken && duty.tx && !SpentByOther(record, duty.output_index)) add(*duty.tx, DutyKindName(duty.kind));
            continue;
        }
        if (!duty.tx || !DutySpendable(duty, record, tip)) continue;
        if (zero_fee_htlc_txs && IsSecondStageDuty(duty.kind)) continue;
        add(*duty.tx, DutyKindName(duty.kind));
    }
    return due;
}

} // namespace sidebolt
