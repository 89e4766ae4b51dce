#include "node/onchain.h"

#include "util/hex.h"
#include "wire/wire.h"

#include <algorithm>

namespace sidebolt {
namespace {

//! Version 2 added the fee bumps, version 3 the second-stage spends; older records are still read.
constexpr uint8_t kOnchainVersion = 3;
//! An HTLC we offered, claimed on the peer's commitment after its timeout: the peer may still
//! claim it with the preimage, so we aim to be in within this many blocks of the timeout.
constexpr uint32_t kTimeoutRaceBlocks = 6;
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
    w.WriteU32(static_cast<uint32_t>(record.bumps.size()));
    for (const FeeBump& bump : record.bumps) {
        w.WriteU32(bump.key);
        w.WriteU32(bump.feerate_per_kw);
        w.WriteU32(bump.height);
        w.WriteU32(static_cast<uint32_t>(bump.versions.size()));
        for (const Hash256& txid : bump.versions) w.WriteBytes(txid);
    }
    w.WriteU32(static_cast<uint32_t>(record.second_stage.size()));
    for (const SecondStageSpend& spend : record.second_stage) {
        w.WriteBytes(spend.parent_txid);
        WriteBlob(w, spend.tx);
        w.WriteU8(spend.height ? 1 : 0);
        if (spend.height) w.WriteU32(*spend.height);
    }
    return out;
}

std::optional<OnchainRecord> DecodeOnchainRecord(ByteSpan bytes)
{
    WireReader r(bytes);
    const uint8_t version = r.ReadU8();
    if (version < 1 || version > kOnchainVersion) return std::nullopt;
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
    const uint32_t bumps = version == 1 ? 0 : r.ReadU32();
    if (bumps > kMaxBroadcasts) return std::nullopt;
    for (uint32_t i = 0; i < bumps && r.Ok(); ++i) {
        FeeBump bump;
        bump.key = r.ReadU32();
        bump.feerate_per_kw = r.ReadU32();
        bump.height = r.ReadU32();
        const uint32_t versions = r.ReadU32();
        if (versions > kMaxBroadcasts) return std::nullopt;
        for (uint32_t v = 0; v < versions && r.Ok(); ++v) bump.versions.push_back(r.ReadArray<32>());
        record.bumps.push_back(std::move(bump));
    }
    const uint32_t second_stage = version < 3 ? 0 : r.ReadU32();
    if (second_stage > kMaxBroadcasts) return std::nullopt;
    for (uint32_t i = 0; i < second_stage && r.Ok(); ++i) {
        SecondStageSpend spend;
        spend.parent_txid = r.ReadArray<32>();
        spend.tx = ReadBlob(r);
        if (r.ReadU8() != 0) spend.height = r.ReadU32();
        if (r.Ok() && !TryParseTransaction(spend.tx)) return std::nullopt;
        record.second_stage.push_back(std::move(spend));
    }
    r.ExpectEnd();
    if (!r.Ok() || !TryParseTransaction(record.spend_tx)) return std::nullopt;
    return record;
}

FeeBump* OnchainRecord::BumpFor(uint32_t key)
{
    const auto it = std::ranges::find_if(bumps, [&](const FeeBump& b) { return b.key == key; });
    return it == bumps.end() ? nullptr : &*it;
}

const FeeBump* OnchainRecord::BumpFor(uint32_t key) const
{
    const auto it = std::ranges::find_if(bumps, [&](const FeeBump& b) { return b.key == key; });
    return it == bumps.end() ? nullptr : &*it;
}

std::vector<Hash256> SecondStageParents(const Resolution& resolution, const OnchainRecord& record)
{
    std::vector<Hash256> parents;
    for (const SpentOutput& spent : record.spent) {
        const OutputDuty* duty = resolution.DutyFor(spent.output_index);
        if (!duty) continue;
        const Hash256 txid = ParseTransaction(spent.tx).GetTxid();
        const bool ours = record.Broadcast(txid);
        // Ours once confirmed (its sweep waits on that depth); the cheater's HTLC transaction at once.
        if ((ours && IsSecondStageDuty(duty->kind) && spent.height) || (!ours && duty->kind == DutyKind::PENALTY_HTLC)) {
            parents.push_back(txid);
        }
    }
    return parents;
}

std::optional<uint32_t> LastResolvingHeight(const Resolution& resolution, const OnchainRecord& record)
{
    if (!record.spend_height) return std::nullopt;
    uint32_t last = *record.spend_height;
    for (const OutputDuty& duty : resolution.duties) {
        const bool htlc = duty.payment_hash.has_value();
        // Our anchor is anyone's after 16 blocks; an output we would not sweep (dust) stays.
        if (duty.kind == DutyKind::ANCHOR || (!duty.tx && !htlc)) continue;
        const SpentOutput* spent = record.SpentAt(duty.output_index);
        if (!spent || !spent->height) return std::nullopt;
        last = std::max(last, *spent->height);
    }
    for (const Hash256& parent : SecondStageParents(resolution, record)) {
        const auto it = std::ranges::find_if(record.second_stage, [&](const SecondStageSpend& s) { return s.parent_txid == parent; });
        if (it == record.second_stage.end() || !it->height) return std::nullopt;
        last = std::max(last, *it->height);
    }
    return last;
}

bool PenaltyBatchBroken(const Resolution& resolution, const OnchainRecord& record)
{
    return std::ranges::any_of(resolution.duties, [&](const OutputDuty& duty) {
        return IsPenaltyDuty(duty.kind) && SpentByOther(record, duty.output_index);
    });
}

const SpentOutput* CheaterSecondStage(const Resolution& resolution, const OnchainRecord& record, uint32_t output_index)
{
    const OutputDuty* duty = resolution.DutyFor(output_index);
    if (!duty || duty->kind != DutyKind::PENALTY_HTLC || !SpentByOther(record, output_index)) return nullptr;
    return record.SpentAt(output_index);
}

namespace {
//! The deadline of our own HTLC transaction or of our claim of an HTLC on the peer's commitment.
std::optional<uint32_t> HtlcClaimDeadline(const OutputDuty& duty, bool zero_fee_htlc_txs)
{
    const bool success = duty.kind == DutyKind::REMOTE_HTLC_SUCCESS || (zero_fee_htlc_txs && duty.kind == DutyKind::LOCAL_HTLC_SUCCESS);
    const bool timeout = duty.kind == DutyKind::REMOTE_HTLC_TIMEOUT || (zero_fee_htlc_txs && duty.kind == DutyKind::LOCAL_HTLC_TIMEOUT);
    // The peer's timeout claim may enter block cltv_expiry + 1.
    if (success && duty.cltv_expiry) return *duty.cltv_expiry;
    // The peer's preimage claim may come at any time: a few blocks to win it.
    if (timeout) return duty.spendable_height + kTimeoutRaceBlocks;
    return std::nullopt;
}

//! The penalties of the cheater's confirmed second-stage transactions: its CSV runs from there.
void AddSecondStagePenaltyRaces(const Resolution& resolution, const OnchainRecord& record, uint16_t cheater_delay,
                                std::vector<DeadlineRace>& races)
{
    for (const SpentOutput& spent : record.spent) {
        const SpentOutput* cheater = CheaterSecondStage(resolution, record, spent.output_index);
        if (!cheater || !cheater->height) continue;
        const Transaction second_stage = ParseTransaction(cheater->tx);
        const Hash256 parent = second_stage.GetTxid();
        const auto resolved = std::ranges::find_if(record.second_stage, [&](const SecondStageSpend& s) {
            return s.parent_txid == parent && (s.height || !record.Broadcast(ParseTransaction(s.tx).GetTxid()));
        });
        if (resolved != record.second_stage.end() || second_stage.vout.empty()) continue;
        races.push_back({SecondStagePenaltyKey(spent.output_index), {spent.output_index},
                         *cheater->height + std::max<uint32_t>(cheater_delay, 1) - 1,
                         Sat{static_cast<uint64_t>(second_stage.vout[0].value)}, *cheater->height});
    }
}
} // namespace

std::vector<DeadlineRace> RunningRaces(const Resolution& resolution, const OnchainRecord& record, uint16_t cheater_delay,
                                       bool zero_fee_htlc_txs)
{
    if (!record.spend_height) return {};
    // BIP 68: the cheater's to_local sweep may enter block spend_height + delay; ours must be in before.
    const uint32_t cheater_deadline = *record.spend_height + std::max<uint32_t>(cheater_delay, 1) - 1;
    const auto confirmed = [&](uint32_t index) {
        const SpentOutput* spent = record.SpentAt(index);
        return spent && spent->height;
    };
    const bool batch_broken = PenaltyBatchBroken(resolution, record);
    std::vector<DeadlineRace> races;
    if (resolution.penalty_tx && !batch_broken) {
        DeadlineRace batch{kBatchedPenaltyKey, {}, cheater_deadline, Sat{0}, *record.spend_height};
        bool done = false;
        for (const OutputDuty& duty : resolution.duties) {
            if (!IsPenaltyDuty(duty.kind)) continue;
            batch.outputs.push_back(duty.output_index);
            batch.amount += duty.amount;
            done = done || confirmed(duty.output_index);
        }
        if (!done && !batch.outputs.empty()) races.push_back(std::move(batch));
    }
    for (const OutputDuty& duty : resolution.duties) {
        const std::optional<uint32_t> deadline =
            IsPenaltyDuty(duty.kind) ? (batch_broken ? std::optional(cheater_deadline) : std::nullopt)
                                     : HtlcClaimDeadline(duty, zero_fee_htlc_txs);
        if (!deadline || !duty.tx || SpentByOther(record, duty.output_index) || confirmed(duty.output_index)) continue;
        races.push_back({duty.output_index, {duty.output_index}, *deadline, duty.amount, *record.spend_height});
    }
    AddSecondStagePenaltyRaces(resolution, record, cheater_delay, races);
    return races;
}

std::optional<CommitmentRace> UnconfirmedCommitmentRace(const Resolution& resolution, const OnchainRecord& record)
{
    if (record.spend_height) return std::nullopt;
    const auto anchor = std::ranges::find_if(resolution.duties, [](const OutputDuty& d) { return d.kind == DutyKind::ANCHOR; });
    if (anchor == resolution.duties.end()) return std::nullopt;
    std::optional<uint32_t> deadline;
    Sat stake;
    for (const OutputDuty& duty : resolution.duties) {
        std::optional<uint32_t> by;
        if (duty.kind == DutyKind::LOCAL_HTLC_TIMEOUT || duty.kind == DutyKind::REMOTE_HTLC_TIMEOUT) {
            by = duty.spendable_height + kTimeoutRaceBlocks - 1;
        } else if ((duty.kind == DutyKind::LOCAL_HTLC_SUCCESS || duty.kind == DutyKind::REMOTE_HTLC_SUCCESS) && duty.tx &&
                   duty.cltv_expiry && *duty.cltv_expiry > 0) {
            by = *duty.cltv_expiry - 1;
        }
        if (!by) continue;
        deadline = std::min(deadline.value_or(*by), *by);
        stake += duty.amount;
    }
    if (!deadline) return std::nullopt;
    return CommitmentRace{anchor->output_index, *deadline, stake};
}

std::optional<CommitmentRace> StuckCommitmentRace(const Resolution& resolution, const OnchainRecord& record)
{
    if (record.spend_height) return std::nullopt;
    const auto anchor = std::ranges::find_if(resolution.duties, [](const OutputDuty& d) { return d.kind == DutyKind::ANCHOR; });
    if (anchor == resolution.duties.end()) return std::nullopt;
    Sat stake;
    for (const OutputDuty& duty : resolution.duties) {
        if (duty.kind != DutyKind::ANCHOR) stake += duty.amount;
    }
    return CommitmentRace{anchor->output_index, UINT32_MAX, stake};
}

Sat PackageDeficit(uint32_t package_feerate, uint32_t parent_weight, Sat parent_fee)
{
    const uint64_t needed = (uint64_t{package_feerate} * parent_weight + 999) / 1000;
    return Sat{needed > parent_fee.value() ? needed - parent_fee.value() : 0};
}

uint32_t BumpFeerateCap(Sat amount, uint32_t weight)
{
    if (weight == 0) return 0;
    const uint64_t cap = amount.value() * 900 / weight;
    return static_cast<uint32_t>(std::min<uint64_t>(cap, kMaxBumpFeerate));
}

uint32_t NextBumpFeerate(uint32_t current, uint32_t tip, uint32_t deadline, uint32_t cap)
{
    if (current >= cap) return current;
    uint64_t next = current + std::max<uint64_t>(current / 4, kMinFeerateStep);
    // The block after tip is the last one that may take it: everything goes in.
    if (deadline <= tip + 1) return cap;
    next = std::max<uint64_t>(next, current + (cap - current) / (deadline - tip));
    return static_cast<uint32_t>(std::min<uint64_t>(next, cap));
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
    const bool batch_broken = PenaltyBatchBroken(resolution, record);
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
