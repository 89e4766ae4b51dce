// What the node keeps about a funding spend round-trips and refuses damage, and the BOLT 5 timing
// of its duties: a penalty at once (even before the cheater's commitment confirms), a CSV output
// only once the spend is that deep, a CLTV output at its height, zero-fee HTLC transactions never
// alone, and nothing handed out twice.

#include "node/onchain.h"

#include <doctest/doctest.h>

namespace sidebolt {
namespace {

//! A distinct transaction per tag: its txid tells the duties apart.
Transaction TxTagged(uint32_t tag)
{
    Transaction tx;
    tx.version = 2;
    TxIn in;
    in.prevout.n = tag;
    tx.vin.push_back(in);
    TxOut out;
    out.value = 1000 + tag;
    out.script_pubkey = Bytes{0x51};
    tx.vout.push_back(out);
    return tx;
}

OutputDuty Duty(DutyKind kind, uint32_t index, uint32_t spendable_height, uint16_t csv, bool built = true)
{
    OutputDuty duty;
    duty.kind = kind;
    duty.output_index = index;
    duty.amount = Sat{10'000};
    duty.spendable_height = spendable_height;
    duty.csv_delay = csv;
    if (built) duty.tx = TxTagged(index);
    return duty;
}

OnchainRecord RecordFor(std::optional<uint32_t> spend_height)
{
    OnchainRecord record;
    record.spend_tx = SerializeTransaction(TxTagged(999));
    record.spend_height = spend_height;
    record.sweep_script = Bytes{0x00, 0x14};
    record.feerate_per_kw = 253;
    return record;
}

std::vector<uint32_t> DueIndexes(const std::vector<DueTransaction>& due)
{
    std::vector<uint32_t> out;
    for (const auto& d : due) out.push_back(d.tx.vin.at(0).prevout.n);
    return out;
}

TEST_CASE("an on-chain record round-trips and damage is refused")
{
    OnchainRecord record = RecordFor(812);
    record.broadcast = {TxTagged(1).GetTxid(), TxTagged(2).GetTxid()};
    record.spent = {SpentOutput{3, SerializeTransaction(TxTagged(3)), 813}, SpentOutput{4, SerializeTransaction(TxTagged(4)), std::nullopt}};
    record.preimages = {TxTagged(5).GetTxid()};
    record.bumps = {FeeBump{kBatchedPenaltyKey, 2000, 814, {TxTagged(6).GetTxid(), TxTagged(7).GetTxid()}}, FeeBump{2, 500, 815, {}}};
    record.second_stage = {SecondStageSpend{TxTagged(8).GetTxid(), SerializeTransaction(TxTagged(9)), 900},
                           SecondStageSpend{TxTagged(10).GetTxid(), SerializeTransaction(TxTagged(11)), std::nullopt}};
    const Bytes encoded = EncodeOnchainRecord(record);
    CHECK(DecodeOnchainRecord(encoded) == record);
    CHECK(DecodeOnchainRecord(EncodeOnchainRecord(RecordFor(std::nullopt))) == RecordFor(std::nullopt));

    for (size_t cut = 0; cut < encoded.size(); ++cut) {
        CAPTURE(cut);
        CHECK_FALSE(DecodeOnchainRecord(ByteSpan(encoded.data(), cut)));
    }
    Bytes longer = encoded;
    longer.push_back(0);
    CHECK_FALSE(DecodeOnchainRecord(longer));
    Bytes version = encoded;
    version[0] = 4;
    CHECK_FALSE(DecodeOnchainRecord(version));
    // The spend itself must parse: a record is never resolved from garbage.
    OnchainRecord garbage = record;
    garbage.spend_tx = Bytes{1, 2, 3};
    CHECK_FALSE(DecodeOnchainRecord(EncodeOnchainRecord(garbage)));
    garbage = record;
    garbage.spent[0].tx = Bytes{4, 5};
    CHECK_FALSE(DecodeOnchainRecord(EncodeOnchainRecord(garbage)));
    CHECK(record.SpentAt(3) == &record.spent[0]);
    CHECK(record.BumpFor(2) == &record.bumps[1]);
    CHECK(record.BumpFor(3) == nullptr);
    // Versions 1 (before fee bumps) and 2 (before second-stage spends): the fields they had.
    OnchainRecord old_record = record;
    old_record.second_stage.clear();
    Bytes v2 = EncodeOnchainRecord(old_record);
    v2.resize(v2.size() - 4);
    v2[0] = 2;
    CHECK(DecodeOnchainRecord(v2) == old_record);
    old_record.bumps.clear();
    Bytes v1 = EncodeOnchainRecord(old_record);
    v1.resize(v1.size() - 8);
    v1[0] = 1;
    CHECK(DecodeOnchainRecord(v1) == old_record);
    garbage = record;
    garbage.second_stage[0].tx = Bytes{6};
    CHECK_FALSE(DecodeOnchainRecord(EncodeOnchainRecord(garbage)));
    CHECK(record.SpentAt(7) == nullptr);
}

TEST_CASE("a penalty is due at once, even before the revoked commitment confirms")
{
    Resolution resolution;
    resolution.txid = TxTagged(999).GetTxid();
    resolution.penalty_tx = TxTagged(50);
    resolution.duties = {Duty(DutyKind::PENALTY_TO_LOCAL, 0, 0, 0), Duty(DutyKind::TO_REMOTE, 1, 0, 1),
                         Duty(DutyKind::ANCHOR, 2, 0, 0, /*built=*/false)};
    OnchainRecord record = RecordFor(std::nullopt);
    // The batched penalty alone: the single-output penalties are for a pinned batch, the
    // to_remote waits for its 1-block CSV, the anchor needs wallet inputs.
    CHECK(DueIndexes(DueTransactions(resolution, record, true, 100)) == std::vector<uint32_t>{50});
    record.broadcast.push_back(TxTagged(50).GetTxid());
    CHECK(DueTransactions(resolution, record, true, 100).empty());
    record.spend_height = 101;
    CHECK(DueTransactions(resolution, record, true, 100).empty());
    // Confirmed at 101: a 1-block CSV lets the sweep into block 102, so the mempool takes it at tip 101.
    CHECK(DueIndexes(DueTransactions(resolution, record, true, 101)) == std::vector<uint32_t>{1});
}

TEST_CASE("a cheater's HTLC transaction breaking the batched penalty gets each other output its own")
{
    Resolution resolution;
    resolution.txid = TxTagged(999).GetTxid();
    resolution.penalty_tx = TxTagged(50);
    resolution.duties = {Duty(DutyKind::PENALTY_TO_LOCAL, 0, 0, 0), Duty(DutyKind::PENALTY_HTLC, 1, 0, 0),
                         Duty(DutyKind::PENALTY_HTLC, 2, 0, 0)};
    OnchainRecord record = RecordFor(120);
    record.broadcast.push_back(TxTagged(50).GetTxid());
    // Our own batch spending the outputs breaks nothing.
    record.spent = {SpentOutput{0, SerializeTransaction(TxTagged(50)), std::nullopt}};
    CHECK(DueTransactions(resolution, record, true, 121).empty());
    // The cheater's HTLC-success took output 2 (in the mempool is enough: the batch conflicts).
    record.spent.push_back(SpentOutput{2, SerializeTransaction(TxTagged(77)), std::nullopt});
    CHECK(DueIndexes(DueTransactions(resolution, record, true, 121)) == std::vector<uint32_t>{0, 1});
    record.broadcast.push_back(TxTagged(0).GetTxid());
    record.broadcast.push_back(TxTagged(1).GetTxid());
    CHECK(DueTransactions(resolution, record, true, 121).empty());
}

TEST_CASE("a replacement's feerate climbs by a quarter at least, reaches its cap at the deadline, and never passes it")
{
    // Far from the deadline: +25%, or the BIP 125 minimum step when a quarter is less.
    CHECK(NextBumpFeerate(4000, 100, 10'000, 200'000) == 5000);
    CHECK(NextBumpFeerate(253, 100, 10'000, 200'000) == 253 + kMinFeerateStep);
    // Near it: even steps to the cap. 10 blocks left from 10,000 to 110,000: +10,000 a block.
    CHECK(NextBumpFeerate(10'000, 100, 110, 110'000) == 20'000);
    // The next block is the last chance: the cap.
    CHECK(NextBumpFeerate(10'000, 109, 110, 110'000) == 110'000);
    CHECK(NextBumpFeerate(10'000, 150, 110, 110'000) == 110'000);
    CHECK(NextBumpFeerate(100'000, 100, 10'000, 110'000) == 110'000);
    CHECK(NextBumpFeerate(110'000, 100, 10'000, 110'000) == 110'000);
    // 90% of the value over the weight, at most 1,000 sat/vB.
    CHECK(BumpFeerateCap(Sat{10'000}, 900) == 10'000);
    CHECK(BumpFeerateCap(Sat{100'000'000}, 900) == kMaxBumpFeerate);
    CHECK(BumpFeerateCap(Sat{10'000}, 0) == 0);
}

TEST_CASE("the races of a confirmed spend: penalties until the cheater's delay, HTLC claims until the peer may take them")
{
    Resolution resolution;
    resolution.penalty_tx = TxTagged(50);
    OutputDuty success = Duty(DutyKind::REMOTE_HTLC_SUCCESS, 2, 0, 1);
    success.cltv_expiry = 400;
    resolution.duties = {Duty(DutyKind::PENALTY_TO_LOCAL, 0, 0, 0), Duty(DutyKind::PENALTY_HTLC, 1, 0, 0), success,
                         Duty(DutyKind::REMOTE_HTLC_TIMEOUT, 3, 300, 1), Duty(DutyKind::TO_REMOTE, 4, 0, 1)};
    OnchainRecord record = RecordFor(std::nullopt);
    // Nothing races before the spend confirms: its CSVs have not started.
    CHECK(RunningRaces(resolution, record, 144, false).empty());
    record.spend_height = 200;
    auto races = RunningRaces(resolution, record, 144, false);
    REQUIRE(races.size() == 3);
    CHECK(races[0].key == kBatchedPenaltyKey);
    CHECK(races[0].outputs == std::vector<uint32_t>{0, 1});
    CHECK(races[0].deadline == 343);
    CHECK(races[0].amount == Sat{20'000});
    CHECK((races[1].key == 2 && races[1].deadline == 400));
    CHECK((races[2].key == 3 && races[2].deadline == 306));
    // The batch confirmed; the peer took the timeout output with the preimage.
    record.spent = {SpentOutput{0, SerializeTransaction(TxTagged(50)), 201}, SpentOutput{3, SerializeTransaction(TxTagged(77)), std::nullopt}};
    record.broadcast.push_back(TxTagged(50).GetTxid());
    races = RunningRaces(resolution, record, 144, false);
    REQUIRE(races.size() == 1);
    CHECK(races[0].key == 2);
    // A cheater's HTLC transaction broke the batch: the other penalty races alone.
    record.spent = {SpentOutput{1, SerializeTransaction(TxTagged(78)), std::nullopt}};
    races = RunningRaces(resolution, record, 144, false);
    REQUIRE(races.size() == 3);
    CHECK((races[0].key == 0 && races[0].deadline == 343 && races[0].outputs == std::vector<uint32_t>{0}));
}

TEST_CASE("the cheater's confirmed second stage races its CSV; our wallet-funded HTLC transactions race the peer's claims")
{
    Resolution resolution;
    resolution.penalty_tx = TxTagged(50);
    resolution.duties = {Duty(DutyKind::PENALTY_TO_LOCAL, 0, 0, 0), Duty(DutyKind::PENALTY_HTLC, 1, 0, 0),
                         Duty(DutyKind::PENALTY_HTLC, 2, 0, 0)};
    OnchainRecord record = RecordFor(200);
    // The cheater's HTLC transaction took output 1, still in the mempool: its CSV has not started.
    record.spent = {SpentOutput{1, SerializeTransaction(TxTagged(78)), std::nullopt}};
    auto races = RunningRaces(resolution, record, 144, false);
    REQUIRE(races.size() == 2);
    CHECK((races[0].key == 0 && races[1].key == 2));
    // Confirmed at 210: its output is the cheater's from block 210 + 144.
    record.spent[0].height = 210;
    races = RunningRaces(resolution, record, 144, false);
    REQUIRE(races.size() == 3);
    CHECK(races[2].key == SecondStagePenaltyKey(1));
    CHECK(races[2].key != kBatchedPenaltyKey);
    CHECK(races[2].deadline == 353);
    CHECK(races[2].amount == Sat{1078});
    CHECK(races[2].outputs == std::vector<uint32_t>{1});
    // Our penalty of it in the mempool races on; confirmed, or the cheater's sweep, ends it.
    const Hash256 second_stage = TxTagged(78).GetTxid();
    record.second_stage = {SecondStageSpend{second_stage, SerializeTransaction(TxTagged(90)), std::nullopt}};
    record.broadcast.push_back(TxTagged(90).GetTxid());
    CHECK(RunningRaces(resolution, record, 144, false).size() == 3);
    record.second_stage[0].height = 220;
    CHECK(RunningRaces(resolution, record, 144, false).size() == 2);
    record.second_stage[0] = SecondStageSpend{second_stage, SerializeTransaction(TxTagged(91)), std::nullopt};
    CHECK(RunningRaces(resolution, record, 144, false).size() == 2);

    // Our commitment: the HTLC-success until the peer may time it out, the timeout a few blocks
    // after its CLTV; only when wallet-funded (zero-fee HTLC transactions), else the fee is fixed.
    Resolution ours;
    OutputDuty success = Duty(DutyKind::LOCAL_HTLC_SUCCESS, 2, 0, 1);
    success.cltv_expiry = 400;
    ours.duties = {Duty(DutyKind::LOCAL_DELAYED, 1, 0, 144), success, Duty(DutyKind::LOCAL_HTLC_TIMEOUT, 3, 300, 1)};
    OnchainRecord own = RecordFor(200);
    CHECK(RunningRaces(ours, own, 144, false).empty());
    races = RunningRaces(ours, own, 144, true);
    REQUIRE(races.size() == 2);
    CHECK((races[0].key == 2 && races[0].deadline == 400));
    CHECK((races[1].key == 3 && races[1].deadline == 306));
    // The peer took the success output after its timeout: that race is lost.
    own.spent = {SpentOutput{2, SerializeTransaction(TxTagged(79)), std::nullopt}};
    races = RunningRaces(ours, own, 144, true);
    REQUIRE(races.size() == 1);
    CHECK(races[0].key == 3);
}

TEST_CASE("a commitment in the mempool races the first HTLC claim that must follow it")
{
    Resolution resolution;
    OutputDuty success = Duty(DutyKind::LOCAL_HTLC_SUCCESS, 2, 0, 1);
    success.cltv_expiry = 400;
    OutputDuty unknown_preimage = Duty(DutyKind::REMOTE_HTLC_SUCCESS, 3, 0, 1, /*built=*/false);
    unknown_preimage.cltv_expiry = 300;
    resolution.duties = {Duty(DutyKind::ANCHOR, 0, 0, 0, /*built=*/false), Duty(DutyKind::LOCAL_DELAYED, 1, 0, 144), success,
                         unknown_preimage, Duty(DutyKind::LOCAL_HTLC_TIMEOUT, 4, 500, 0)};
    OnchainRecord record = RecordFor(std::nullopt);
    auto race = UnconfirmedCommitmentRace(resolution, record);
    REQUIRE(race);
    CHECK(race->anchor_output == 0);
    // The HTLC-success must follow a block later (CSV 1) and be in by the CLTV; a preimage we do
    // not have puts nothing at stake.
    CHECK(race->deadline == 399);
    CHECK(race->stake == Sat{20'000});
    // Only the timeout: 6 blocks from its CLTV, the commitment a block before.
    resolution.duties.erase(resolution.duties.begin() + 2);
    race = UnconfirmedCommitmentRace(resolution, record);
    REQUIRE(race);
    CHECK(race->deadline == 505);
    // Confirmed, no anchor, or nothing at stake: no race.
    record.spend_height = 200;
    CHECK(!UnconfirmedCommitmentRace(resolution, record));
    record.spend_height.reset();
    resolution.duties.pop_back();
    CHECK(!UnconfirmedCommitmentRace(resolution, record));
    resolution.duties.erase(resolution.duties.begin());
    resolution.duties.push_back(Duty(DutyKind::LOCAL_HTLC_TIMEOUT, 4, 500, 0));
    CHECK(!UnconfirmedCommitmentRace(resolution, record));
}

TEST_CASE("a CPFP child pays what its parent lacks for the package's feerate")
{
    // 1000 WU paying 253 sat: at 5000 sat/kw it lacks 4747 sat, rounded up.
    CHECK(PackageDeficit(5000, 1000, Sat{253}) == Sat{4747});
    CHECK(PackageDeficit(5001, 999, Sat{253}) == Sat{4996 - 253});
    // The parent pays enough alone.
    CHECK(PackageDeficit(253, 1000, Sat{1000}) == Sat{0});
    CHECK(PackageDeficit(1000, 1000, Sat{1000}) == Sat{0});
}

TEST_CASE("a resolution is irrevocable from its last spend: every output's, and each second stage's")
{
    Resolution resolution;
    OutputDuty timeout = Duty(DutyKind::LOCAL_HTLC_TIMEOUT, 2, 300, 0);
    timeout.payment_hash = Hash256{};
    OutputDuty no_preimage = Duty(DutyKind::LOCAL_HTLC_SUCCESS, 3, 0, 0, /*built=*/false);
    no_preimage.payment_hash = Hash256{};
    resolution.duties = {Duty(DutyKind::ANCHOR, 0, 0, 0, /*built=*/false), Duty(DutyKind::LOCAL_DELAYED, 1, 0, 144), timeout,
                         no_preimage, Duty(DutyKind::TO_REMOTE, 4, 0, 1, /*built=*/false)};
    OnchainRecord record = RecordFor(std::nullopt);
    CHECK(!LastResolvingHeight(resolution, record));
    record.spend_height = 200;
    // The anchor, and a to_remote too small to sweep, wait for nothing; the others do.
    record.spent = {SpentOutput{1, SerializeTransaction(TxTagged(1)), 344}, SpentOutput{2, SerializeTransaction(TxTagged(2)), std::nullopt}};
    record.broadcast = {TxTagged(1).GetTxid(), TxTagged(2).GetTxid()};
    CHECK(!LastResolvingHeight(resolution, record));
    CHECK(SecondStageParents(resolution, record).empty());
    record.spent[1].height = 301;
    // Our HTLC-timeout confirmed: its output is ours to sweep after the delay.
    CHECK(SecondStageParents(resolution, record) == std::vector<Hash256>{TxTagged(2).GetTxid()});
    record.spent.push_back(SpentOutput{3, SerializeTransaction(TxTagged(3)), 250});
    CHECK(!LastResolvingHeight(resolution, record));
    record.second_stage = {SecondStageSpend{TxTagged(2).GetTxid(), SerializeTransaction(TxTagged(12)), std::nullopt}};
    CHECK(!LastResolvingHeight(resolution, record));
    record.second_stage[0].height = 446;
    CHECK(LastResolvingHeight(resolution, record) == std::optional<uint32_t>{446});
    // A cheater's HTLC transaction on a revoked commitment is a second stage at once.
    Resolution revoked;
    revoked.duties = {Duty(DutyKind::PENALTY_HTLC, 0, 0, 0)};
    OnchainRecord breach = RecordFor(500);
    breach.spent = {SpentOutput{0, SerializeTransaction(TxTagged(77)), std::nullopt}};
    CHECK(SecondStageParents(revoked, breach) == std::vector<Hash256>{TxTagged(77).GetTxid()});
}

TEST_CASE("CSV and CLTV outputs wait for their heights; zero-fee HTLC transactions never go alone")
{
    Resolution resolution;
    resolution.duties = {Duty(DutyKind::LOCAL_DELAYED, 0, 0, 144), Duty(DutyKind::LOCAL_HTLC_TIMEOUT, 1, 300, 0),
                         Duty(DutyKind::REMOTE_HTLC_TIMEOUT, 2, 250, 1), Duty(DutyKind::LOCAL_HTLC_SUCCESS, 3, 0, 0),
                         Duty(DutyKind::REMOTE_HTLC_SUCCESS, 4, 0, 1, /*built=*/false)};
    const OnchainRecord unconfirmed = RecordFor(std::nullopt);
    CHECK(DueIndexes(DueTransactions(resolution, unconfirmed, false, 1000)) == std::vector<uint32_t>{1, 3});
    const OnchainRecord record = RecordFor(200);
    CHECK(DueIndexes(DueTransactions(resolution, record, false, 200)) == std::vector<uint32_t>{3});
    CHECK(DueIndexes(DueTransactions(resolution, record, false, 249)) == std::vector<uint32_t>{3});
    CHECK(DueIndexes(DueTransactions(resolution, record, false, 250)) == std::vector<uint32_t>{2, 3});
    // 200 + 144 = 344 is the first block the delayed sweep may enter.
    CHECK(DueIndexes(DueTransactions(resolution, record, false, 342)) == std::vector<uint32_t>{1, 2, 3});
    CHECK(DueIndexes(DueTransactions(resolution, record, false, 343)) == std::vector<uint32_t>{0, 1, 2, 3});
    // option_anchors: the HTLC transactions carry no fee of their own.
    CHECK(DueIndexes(DueTransactions(resolution, record, true, 343)) == std::vector<uint32_t>{0, 2});
}

} // namespace
} // namespace sidebolt
