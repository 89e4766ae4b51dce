// BOLT 5 resolver: funding spends from two state machines run through the protocol, classified
// from Alice's side, and every transaction the resolution lists run through the interpreter.
#include "channel/commitment.h"
#include "channel/funding.h"
#include "channel/htlc_tx.h"
#include "channel/commitment_broadcast.h"
#include "channel/resolver.h"
#include "channel/closing.h"
#include "channel/scripts.h"
#include "channel/state.h"
#include "tests/channel/channel_test_util.h"
#include "tests/channel/machine_fixture.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

using namespace sidebolt;
using namespace sidebolt::test;
using namespace sidebolt::amount_literals;

namespace {
constexpr size_t ALICE = 0; // the opener
constexpr size_t BOB = 1;

const CommitmentFormat ALL_FORMATS[] = {CommitmentFormat::LEGACY, CommitmentFormat::STATIC_REMOTEKEY,
                                        CommitmentFormat::ANCHOR_OUTPUTS, CommitmentFormat::ANCHORS};

// Payments (PreimageOf(n)) and their expiries.
constexpr uint64_t A0 = 1, A1 = 2, A_DUST = 3, A_LATE = 4; // offered by Alice
constexpr uint64_t B0 = 11, B1 = 12, B_LATE = 13;          // offered by Bob
constexpr uint32_t CLTV_A1 = 600'010;
constexpr uint32_t CLTV_B1 = 600'030;

Hash256 HashOf(uint64_t payment) { return Sha256(PreimageOf(payment)); }

//! The holder's current commitment with both signatures, as the holder would publish it.
Transaction SignedCommitment(const ChannelState& state, const ChannelSigner& signer)
{
    Transaction commitment = SignedLocalCommitment(state, signer);
    // A real funding spend: both signatures verify.
    const ChannelParams& params = state.setup.params;
    const TxOut funding{ToTxValue(params.funding_sat),
                        P2wshScript(FundingScript(params.local.funding_pubkey, params.remote.funding_pubkey)).Data()};
    CHECK(VerifyInput(commitment, 0, funding) == ScriptError::OK);
    return commitment;
}

//! Every input of `tx` spends an output of `spent` and verifies against it.
void CheckSpends(const Transaction& tx, const Transaction& spent)
{
    REQUIRE(!tx.vin.empty());
    for (size_t i = 0; i < tx.vin.size(); ++i) {
        CAPTURE(i);
        REQUIRE(tx.vin[i].prevout.txid == spent.GetTxid());
        REQUIRE(tx.vin[i].prevout.n < spent.vout.size());
        CHECK(VerifyInput(tx, i, spent.vout[tx.vin[i].prevout.n]) == ScriptError::OK);
    }
}

std::vector<const OutputDuty*> DutiesOf(const Resolution& resolution, DutyKind kind)
{
    std::vector<const OutputDuty*> out;
    for (const OutputDuty& duty : resolution.duties) {
        if (duty.kind == kind) out.push_back(&duty);
    }
    return out;
}

const OutputDuty& OnlyDuty(const Resolution& resolution, DutyKind kind)
{
    const auto duties = DutiesOf(resolution, kind);
    CAPTURE(DutyKindName(kind));
    REQUIRE(duties.size() == 1);
    return *duties[0];
}

const OutputDuty& HtlcDuty(const Resolution& resolution, uint64_t payment)
{
    const auto it = std::ranges::find_if(resolution.duties, [&](const OutputDuty& d) { return d.payment_hash == HashOf(payment); });
    REQUIRE(it != resolution.duties.end());
    return *it;
}

bool HasHtlcDuty(const Resolution& resolution, uint64_t payment)
{
    return std::ranges::any_of(resolution.duties, [&](const OutputDuty& d) { return d.payment_hash == HashOf(payment); });
}

//! The sequence (CSV) the anchors' `1 OP_CSV` asks of HTLC and to_remote spends.
uint16_t AnchorCsv(CommitmentFormat format) { return HasAnchors(format) ? 1 : 0; }

/**
 * Alice (opener) and Bob with HTLCs both ways (one of Alice's trimmed), Bob's commitment from
 * then kept (it gets revoked), then one HTLC each way fulfilled. Alice logs the HTLCs of each
 * of Bob's commitments.
 */
struct Scenario {
    CommitmentFormat format;
    Harness h;
    ResolveContext context;
    //! Both states and Bob's signed commitment before the fulfills.
    std::optional<ChannelState> old_alice;
    std::optional<ChannelState> old_bob;
    Transaction old_bob_commitment;

    explicit Scenario(CommitmentFormat f) : format(f), h(PairOptions{.format = f})
    {
        context.target = SweepTarget{P2wpkhScript(NamedKey("alice wallet").GetPubKey()).Data(), 2'500};
        h.Do(ALICE, AddCommand(Msat{5'000'000}, A0, 600'000));
        h.Do(ALICE, AddCommand(Msat{8'000'000}, A1, CLTV_A1));
        h.Do(ALICE, AddCommand(Msat{200'000}, A_DUST, 600'005));
        h.Do(BOB, AddCommand(Msat{6'000'000}, B0, 600'020));
        h.Do(BOB, AddCommand(Msat{7'000'000}, B1, CLTV_B1));
        SettleAndLog();
        old_alice = h.State(ALICE);
        old_bob = h.State(BOB);
        old_bob_commitment = SignedCommitment(*old_bob, Signer(BOB));
        // Bob takes A0, Alice takes B0: Bob's commitment above is revoked after this.
        h.Do(BOB, FulfillHtlcCommand{.id = 0, .preimage = PreimageOf(A0)});
        h.Do(ALICE, FulfillHtlcCommand{.id = 0, .preimage = PreimageOf(B0)});
        SettleAndLog();
        REQUIRE(h.State(ALICE).remote_commitment_number > old_bob->local_commitment_number + 1);
    }

    const ChannelSigner& Signer(size_t side) const { return h.pair.signers[side]; }
    ChannelState& Alice() { return h.State(ALICE); }

    void SettleAndLog()
    {
        h.Settle();
        REQUIRE(h.State(ALICE).remote_commitment_number == h.State(BOB).local_commitment_number);
        context.revoked_htlcs.push_back(LogRemoteCommitmentHtlcs(h.State(ALICE)));
    }

    Resolution Resolve(const Transaction& tx) const { return sidebolt::Resolve(tx, h.pair.states[ALICE], Signer(ALICE), context); }
    Classification Classify(const Transaction& tx) const
    {
        return sidebolt::Classify(tx, h.pair.states[ALICE], Signer(ALICE), context);
    }
};

//! Rewrites a commitment's locktime/sequence to claim `number`.
Transaction WithNumber(Transaction tx, const ChannelState& state, uint64_t number)
{
    const ChannelParams& params = state.setup.params;
    const uint64_t obscured = number ^ CommitmentNumberObscurer(params.local.basepoints.payment, params.remote.basepoints.payment);
    tx.locktime = 0x20000000 | static_cast<uint32_t>(obscured & 0xffffff);
    tx.vin[0].sequence = 0x80000000 | static_cast<uint32_t>((obscured >> 24) & 0xffffff);
    return tx;
}
} // namespace

TEST_CASE("resolver: our own commitment")
{
    for (const CommitmentFormat format : ALL_FORMATS) {
        CAPTURE(static_cast<int>(format));
        Scenario s(format);
        const Transaction commitment = SignedCommitment(s.Alice(), s.Signer(ALICE));
        const Resolution r = s.Resolve(commitment);
        CHECK(r.classification.kind == SpendKind::LOCAL_COMMITMENT);
        CHECK(r.classification.commitment_number == s.Alice().local_commitment_number);
        CHECK(r.classification.per_commitment_point == s.Signer(ALICE).PerCommitmentPoint(s.Alice().local_commitment_number));
        CHECK(r.txid == commitment.GetTxid());

        // to_local after Bob's to_self_delay.
        const OutputDuty& to_local = OnlyDuty(r, DutyKind::LOCAL_DELAYED);
        CHECK(to_local.csv_delay == 144);
        CHECK(to_local.spendable_height == 0);
        REQUIRE(to_local.tx);
        CHECK(to_local.tx->vin[0].sequence == 144);
        CheckSpends(*to_local.tx, commitment);
        Transaction early = *to_local.tx;
        early.vin[0].sequence = 143;
        CHECK(VerifyInput(early, 0, commitment.vout[to_local.output_index]) != ScriptError::OK);
        CHECK(DutiesOf(r, DutyKind::ANCHOR).size() == (HasAnchors(format) ? 1U : 0U));
        // Bob's to_remote and anchor are his.
        CHECK(DutiesOf(r, DutyKind::TO_REMOTE).empty());

        // A1 (ours): HTLC-timeout at its cltv_expiry, with Bob's signature from the state.
        const OutputDuty& timeout = HtlcDuty(r, A1);
        CHECK(timeout.kind == DutyKind::LOCAL_HTLC_TIMEOUT);
        CHECK(timeout.spendable_height == CLTV_A1);
        CHECK(timeout.cltv_expiry == CLTV_A1);
        CHECK(timeout.csv_delay == AnchorCsv(format));
        REQUIRE(timeout.tx);
        CHECK(timeout.tx->locktime == CLTV_A1);
        CHECK(timeout.tx->vin[0].sequence == AnchorCsv(format));
        CheckSpends(*timeout.tx, commitment);
        // Its output, after to_self_delay.
        const std::vector<Transaction> second = SweepSecondStage(r, *timeout.tx, s.Alice(), s.Signer(ALICE), s.context.target);
        REQUIRE(second.size() == 1);
        CHECK(second[0].vin[0].sequence == 144);
        CheckSpends(second[0], *timeout.tx);

        // B1 (Bob's): the HTLC-success transaction needs the preimage.
        const OutputDuty& success = HtlcDuty(r, B1);
        CHECK(success.kind == DutyKind::LOCAL_HTLC_SUCCESS);
        CHECK(success.spendable_height == 0);
        CHECK(success.csv_delay == AnchorCsv(format));
        CHECK(!success.tx);
        // Fulfilled/trimmed HTLCs are gone: A0, B0 settled; A_DUST trimmed.
        CHECK(!HasHtlcDuty(r, A0));
        CHECK(!HasHtlcDuty(r, B0));
        CHECK(!HasHtlcDuty(r, A_DUST));
        CHECK(r.duties.size() == (HasAnchors(format) ? 4U : 3U));
        CHECK(r.unmatched_outputs.empty());
        CHECK(!r.penalty_tx);

        s.context.preimages = {PreimageOf(B1)};
        const Resolution with_preimage = s.Resolve(commitment);
        const OutputDuty& claimed = HtlcDuty(with_preimage, B1);
        REQUIRE(claimed.tx);
        CHECK(claimed.tx->locktime == 0);
        CheckSpends(*claimed.tx, commitment);
        CHECK(ExtractPreimages(with_preimage, *claimed.tx) == std::vector<Hash256>{PreimageOf(B1)});
        const std::vector<Transaction> success_sweep =
            SweepSecondStage(with_preimage, *claimed.tx, s.Alice(), s.Signer(ALICE), s.context.target);
        REQUIRE(success_sweep.size() == 1);
        CheckSpends(success_sweep[0], *claimed.tx);
        // Same duties otherwise: Resolve is deterministic.
        CHECK(with_preimage.duties.size() == r.duties.size());
        CHECK(*OnlyDuty(with_preimage, DutyKind::LOCAL_DELAYED).tx == *to_local.tx);

        // Second-stage sweeps only take our HTLC transactions' outputs.
        CHECK(SweepSecondStage(r, *to_local.tx, s.Alice(), s.Signer(ALICE), s.context.target).empty());
        CHECK(SweepSecondStage(r, commitment, s.Alice(), s.Signer(ALICE), s.context.target).empty());
        Transaction elsewhere = *timeout.tx;
        elsewhere.vout[0].script_pubkey = s.context.target.script_pubkey;
        CHECK(SweepSecondStage(r, elsewhere, s.Alice(), s.Signer(ALICE), s.context.target).empty());
        Transaction invalid = *timeout.tx;
        invalid.vout[0].value = -1;
        CHECK(SweepSecondStage(r, invalid, s.Alice(), s.Signer(ALICE), s.context.target).empty());
        Transaction dust = *timeout.tx;
        dust.vout[0].value = 300;
        CHECK(SweepSecondStage(r, dust, s.Alice(), s.Signer(ALICE), s.context.target).empty());
        // Only our commitment's resolution sweeps second stages.
        const Resolution remote = s.Resolve(SignedCommitment(s.h.State(BOB), s.Signer(BOB)));
        CHECK(SweepSecondStage(remote, *timeout.tx, s.Alice(), s.Signer(ALICE), s.context.target).empty());
    }
}

TEST_CASE("resolver: a preimage claim waits until the peer is irrevocably committed")
{
    Scenario s(CommitmentFormat::ANCHORS);
    // Bob offers B_LATE; Alice has it in her commitment, but Bob has not revoked the
    // commitment without it.
    s.h.Do(BOB, AddCommand(Msat{9'000'000}, B_LATE, 600'040));
    s.h.Do(BOB, SignCommitmentCommand{});
    s.h.Deliver(ALICE);
    s.h.Deliver(ALICE);
    s.context.preimages = {PreimageOf(B_LATE), PreimageOf(B1)};
    const Transaction commitment = SignedCommitment(s.Alice(), s.Signer(ALICE));
    const Resolution r = s.Resolve(commitment);
    REQUIRE(r.classification.kind == SpendKind::LOCAL_COMMITMENT);
    CHECK(HtlcDuty(r, B_LATE).kind == DutyKind::LOCAL_HTLC_SUCCESS);
    CHECK(!HtlcDuty(r, B_LATE).tx);
    REQUIRE(HtlcDuty(r, B1).tx);
    CheckSpends(*HtlcDuty(r, B1).tx, commitment);

    // Alice signs B_LATE into Bob's next commitment, but his revoke_and_ack does not arrive:
    // on that (pending) commitment B_LATE is still not to be claimed.
    s.h.Do(ALICE, SignCommitmentCommand{});
    s.h.Deliver(BOB);
    s.h.Deliver(BOB);
    REQUIRE(s.Alice().AwaitingRevocation());
    const Transaction pending = SignedCommitment(s.h.State(BOB), s.Signer(BOB));
    const Resolution remote = s.Resolve(pending);
    REQUIRE(remote.classification.kind == SpendKind::REMOTE_PENDING_COMMITMENT);
    CHECK(HtlcDuty(remote, B_LATE).kind == DutyKind::REMOTE_HTLC_SUCCESS);
    CHECK(!HtlcDuty(remote, B_LATE).tx);
    REQUIRE(HtlcDuty(remote, B1).tx);
    CheckSpends(*HtlcDuty(remote, B1).tx, pending);
}

TEST_CASE("resolver: without the peer's HTLC signatures our HTLC transactions are not built")
{
    Scenario s(CommitmentFormat::STATIC_REMOTEKEY);
    const Transaction commitment = SignedCommitment(s.Alice(), s.Signer(ALICE));
    s.context.preimages = {PreimageOf(B1)};
    ChannelState state = s.Alice();
    state.local_htlc_signatures.pop_back();
    const Resolution r = Resolve(commitment, state, s.Signer(ALICE), s.context);
    REQUIRE(r.classification.kind == SpendKind::LOCAL_COMMITMENT);
    CHECK(HtlcDuty(r, A1).kind == DutyKind::LOCAL_HTLC_TIMEOUT);
    CHECK(!HtlcDuty(r, A1).tx);
    CHECK(!HtlcDuty(r, B1).tx);
    // to_local needs no signature of the peer.
    REQUIRE(OnlyDuty(r, DutyKind::LOCAL_DELAYED).tx);
}

TEST_CASE("resolver: the peer's current commitment")
{
    for (const CommitmentFormat format : ALL_FORMATS) {
        CAPTURE(static_cast<int>(format));
        Scenario s(format);
        const Transaction commitment = SignedCommitment(s.h.State(BOB), s.Signer(BOB));
        const Resolution r = s.Resolve(commitment);
        CHECK(r.classification.kind == SpendKind::REMOTE_COMMITMENT);
        CHECK(r.classification.commitment_number == s.Alice().remote_commitment_number);
        CHECK(r.classification.per_commitment_point == s.Alice().remote_per_commitment_point);

        const OutputDuty& to_remote = OnlyDuty(r, DutyKind::TO_REMOTE);
        CHECK(to_remote.csv_delay == AnchorCsv(format));
        REQUIRE(to_remote.tx);
        CHECK(to_remote.tx->vin[0].sequence == (HasAnchors(format) ? 1U : 0xfffffffdU));
        CheckSpends(*to_remote.tx, commitment);
        if (HasAnchors(format)) {
            Transaction immediate = *to_remote.tx;
            immediate.vin[0].sequence = 0;
            CHECK(VerifyInput(immediate, 0, commitment.vout[to_remote.output_index]) != ScriptError::OK);
        }
        CHECK(DutiesOf(r, DutyKind::ANCHOR).size() == (HasAnchors(format) ? 1U : 0U));
        CHECK(DutiesOf(r, DutyKind::LOCAL_DELAYED).empty());

        // A1 (ours) comes back to us directly at its expiry.
        const OutputDuty& timeout = HtlcDuty(r, A1);
        CHECK(timeout.kind == DutyKind::REMOTE_HTLC_TIMEOUT);
        CHECK(timeout.spendable_height == CLTV_A1);
        CHECK(timeout.csv_delay == AnchorCsv(format));
        REQUIRE(timeout.tx);
        CHECK(timeout.tx->locktime == CLTV_A1);
        CheckSpends(*timeout.tx, commitment);
        Transaction early = *timeout.tx;
        early.locktime = CLTV_A1 - 1;
        CHECK(VerifyInput(early, 0, commitment.vout[timeout.output_index]) == ScriptError::UNSATISFIED_LOCKTIME);

        // B1 (Bob's) we take with the preimage, once we have it.
        const OutputDuty& success = HtlcDuty(r, B1);
        CHECK(success.kind == DutyKind::REMOTE_HTLC_SUCCESS);
        CHECK(!success.tx);
        CHECK(!HasHtlcDuty(r, A_DUST));
        s.context.preimages = {PreimageOf(B1)};
        const Resolution claimed = s.Resolve(commitment);
        REQUIRE(HtlcDuty(claimed, B1).tx);
        CheckSpends(*HtlcDuty(claimed, B1).tx, commitment);
        CHECK(claimed.duties.size() == r.duties.size());

        // Bob's HTLC-success transaction for A1 would reveal its preimage to us.
        const Hash256 preimage = PreimageOf(A1);
        const Bytes preimage_item(preimage.begin(), preimage.end());
        Transaction bob_success;
        bob_success.vin.push_back(TxIn{.prevout = {r.txid, timeout.output_index}, .script_sig = {}, .sequence = 1,
                                       .witness = {Bytes{}, Bytes(72, 1), Bytes(72, 2),
                                                   preimage_item, Bytes(10, 3)}});
        CHECK(ExtractPreimages(r, bob_success) == std::vector<Hash256>{PreimageOf(A1)});
        bob_success.vin[0].witness[3] = Bytes(32, 7);
        CHECK(ExtractPreimages(r, bob_success).empty());
        bob_success.vin[0].prevout.txid = Sha256(Bytes{1});
        bob_success.vin[0].witness[3] = preimage_item;
        CHECK(ExtractPreimages(r, bob_success).empty());
    }
}

TEST_CASE("resolver: while awaiting revoke_and_ack both of the peer's commitments are valid")
{
    for (const CommitmentFormat format : ALL_FORMATS) {
        CAPTURE(static_cast<int>(format));
        Scenario s(format);
        const Transaction current = SignedCommitment(s.h.State(BOB), s.Signer(BOB));
        // Alice offers A_LATE and signs; Bob gets it, but his revoke_and_ack never arrives.
        s.h.Do(ALICE, AddCommand(Msat{9'000'000}, A_LATE, 600'050));
        s.h.Do(ALICE, SignCommitmentCommand{});
        s.h.Deliver(BOB);
        s.h.Deliver(BOB);
        REQUIRE(s.Alice().AwaitingRevocation());
        const Transaction pending = SignedCommitment(s.h.State(BOB), s.Signer(BOB));

        const Resolution r_pending = s.Resolve(pending);
        CHECK(r_pending.classification.kind == SpendKind::REMOTE_PENDING_COMMITMENT);
        CHECK(r_pending.classification.commitment_number == s.Alice().remote_commitment_number);
        REQUIRE(HasHtlcDuty(r_pending, A_LATE));
        const OutputDuty& late = HtlcDuty(r_pending, A_LATE);
        CHECK(late.kind == DutyKind::REMOTE_HTLC_TIMEOUT);
        REQUIRE(late.tx);
        CheckSpends(*late.tx, pending);
        CheckSpends(*OnlyDuty(r_pending, DutyKind::TO_REMOTE).tx, pending);

        const Resolution r_current = s.Resolve(current);
        CHECK(r_current.classification.kind == SpendKind::REMOTE_COMMITMENT);
        CHECK(r_current.classification.commitment_number == s.Alice().remote_commitment_number - 1);
        CHECK(r_current.classification.per_commitment_point == s.Alice().remote_prev_per_commitment_point);
        CHECK(!HasHtlcDuty(r_current, A_LATE));
        REQUIRE(HasHtlcDuty(r_current, A1));
        CheckSpends(*HtlcDuty(r_current, A1).tx, current);
        CheckSpends(*OnlyDuty(r_current, DutyKind::TO_REMOTE).tx, current);
    }
}

TEST_CASE("resolver: a revoked commitment of the peer is penalized")
{
    for (const CommitmentFormat format : ALL_FORMATS) {
        CAPTURE(static_cast<int>(format));
        Scenario s(format);
        const Transaction& revoked = s.old_bob_commitment;
        const Resolution r = s.Resolve(revoked);
        CHECK(r.classification.kind == SpendKind::REVOKED_REMOTE_COMMITMENT);
        CHECK(r.classification.commitment_number == s.old_bob->local_commitment_number);
        CHECK(r.classification.per_commitment_point == s.Signer(BOB).PerCommitmentPoint(s.old_bob->local_commitment_number));
        CHECK(r.unmatched_outputs.empty());

        // to_local and every HTLC output (the dust one has none) go to the penalty.
        const OutputDuty& to_local = OnlyDuty(r, DutyKind::PENALTY_TO_LOCAL);
        const auto htlcs = DutiesOf(r, DutyKind::PENALTY_HTLC);
        REQUIRE(htlcs.size() == 4);
        for (const uint64_t payment : {A0, A1, B0, B1}) CHECK(HtlcDuty(r, payment).kind == DutyKind::PENALTY_HTLC);
        CHECK(!HasHtlcDuty(r, A_DUST));
        REQUIRE(r.penalty_tx);
        CheckSpends(*r.penalty_tx, revoked);
        std::vector<uint32_t> penalized;
        for (const TxIn& in : r.penalty_tx->vin) penalized.push_back(in.prevout.n);
        std::vector<uint32_t> expected{to_local.output_index};
        for (const OutputDuty* duty : htlcs) expected.push_back(duty->output_index);
        std::ranges::sort(penalized);
        std::ranges::sort(expected);
        CHECK(penalized == expected);
        // Each also alone, for when a batch gets pinned; no delay on the revocation path.
        for (const OutputDuty& duty : r.duties) {
            CAPTURE(DutyKindName(duty.kind));
            REQUIRE(duty.tx.has_value() == (duty.kind != DutyKind::ANCHOR));
            if (duty.tx) CheckSpends(*duty.tx, revoked);
        }
        CHECK(to_local.csv_delay == 0);
        // Our own main output, as on any of the peer's commitments.
        const OutputDuty& to_remote = OnlyDuty(r, DutyKind::TO_REMOTE);
        CHECK(to_remote.csv_delay == AnchorCsv(format));
        CHECK(r.duties.size() == (HasAnchors(format) ? 7U : 6U));

        // Bob publishes his HTLC-timeout (B1) and HTLC-success (A0) transactions instead:
        // resolving his own commitment from his old state gives us exactly those.
        ResolveContext bob_context{.shutdown_scripts = {}, .revoked_htlcs = {}, .preimages = {PreimageOf(A0)}, .target = s.context.target};
        const Resolution bob_view = Resolve(revoked, *s.old_bob, s.Signer(BOB), bob_context);
        REQUIRE(bob_view.classification.kind == SpendKind::LOCAL_COMMITMENT);
        for (const uint64_t payment : {B1, A0}) {
            CAPTURE(payment);
            const std::optional<Transaction>& second_stage = HtlcDuty(bob_view, payment).tx;
            REQUIRE(second_stage);
            CheckSpends(*second_stage, revoked);
            const std::optional<Transaction> penalty = PenalizeSecondStage(r, *second_stage, s.Alice(), s.Signer(ALICE), s.context.target);
            REQUIRE(penalty);
            CheckSpends(*penalty, *second_stage);
        }
        // "SHOULD extract the payment preimage from the transaction input witness".
        CHECK(ExtractPreimages(r, *HtlcDuty(bob_view, A0).tx) == std::vector<Hash256>{PreimageOf(A0)});

        // Not a second stage of this commitment: nothing to penalize.
        CHECK(!PenalizeSecondStage(r, revoked, s.Alice(), s.Signer(ALICE), s.context.target));
        CHECK(!PenalizeSecondStage(r, *r.penalty_tx, s.Alice(), s.Signer(ALICE), s.context.target));
        Transaction other_script = *HtlcDuty(bob_view, B1).tx;
        other_script.vout[0].script_pubkey = s.context.target.script_pubkey;
        CHECK(!PenalizeSecondStage(r, other_script, s.Alice(), s.Signer(ALICE), s.context.target));
        Transaction invalid = *HtlcDuty(bob_view, B1).tx;
        invalid.vout[0].value = -1;
        CHECK(!PenalizeSecondStage(r, invalid, s.Alice(), s.Signer(ALICE), s.context.target));
        Transaction dust = *HtlcDuty(bob_view, B1).tx;
        dust.vout[0].value = 300;
        CHECK(!PenalizeSecondStage(r, dust, s.Alice(), s.Signer(ALICE), s.context.target));
        // A resolution that is not of a revoked commitment penalizes nothing.
        const Resolution current = s.Resolve(SignedCommitment(s.h.State(BOB), s.Signer(BOB)));
        CHECK(!PenalizeSecondStage(current, *HtlcDuty(bob_view, B1).tx, s.Alice(), s.Signer(ALICE), s.context.target));
    }
}

TEST_CASE("resolver: our own revoked commitment is recognized, and nothing of it is ours")
{
    for (const CommitmentFormat format : ALL_FORMATS) {
        CAPTURE(static_cast<int>(format));
        Scenario s(format);
        const Transaction old_ours = SignedCommitment(*s.old_alice, s.Signer(ALICE));
        REQUIRE(s.old_alice->local_commitment_number < s.Alice().local_commitment_number);
        const Resolution r = s.Resolve(old_ours);
        CHECK(r.classification.kind == SpendKind::REVOKED_LOCAL_COMMITMENT);
        CHECK(r.classification.commitment_number == s.old_alice->local_commitment_number);
        CHECK(r.classification.per_commitment_point == s.Signer(ALICE).PerCommitmentPoint(s.old_alice->local_commitment_number));
        CHECK(r.duties.empty());
        CHECK(!r.penalty_tx);
        // Claiming a newer number than it is breaks the proof: unknown.
        CHECK(s.Classify(WithNumber(old_ours, s.Alice(), s.old_alice->local_commitment_number + 1)).kind == SpendKind::UNKNOWN);
    }
    CHECK(SpendKindName(SpendKind::REVOKED_LOCAL_COMMITMENT) == "revoked_local_commitment");
}

TEST_CASE("resolver: a revoked commitment without its HTLC log")
{
    for (const CommitmentFormat format : ALL_FORMATS) {
        CAPTURE(static_cast<int>(format));
        Scenario s(format);
        s.context.revoked_htlcs.clear();
        const Transaction& revoked = s.old_bob_commitment;
        const Resolution r = s.Resolve(revoked);
        REQUIRE(r.classification.kind == SpendKind::REVOKED_REMOTE_COMMITMENT);
        // to_local still penalized, to_remote claimed, the four HTLC outputs reported.
        CHECK(r.unmatched_outputs.size() == 4);
        CHECK(DutiesOf(r, DutyKind::PENALTY_HTLC).empty());
        const OutputDuty& to_local = OnlyDuty(r, DutyKind::PENALTY_TO_LOCAL);
        REQUIRE(r.penalty_tx);
        REQUIRE(r.penalty_tx->vin.size() == 1);
        CHECK(r.penalty_tx->vin[0].prevout.n == to_local.output_index);
        CheckSpends(*r.penalty_tx, revoked);
        CheckSpends(*OnlyDuty(r, DutyKind::TO_REMOTE).tx, revoked);
        for (const uint32_t index : r.unmatched_outputs) CHECK(r.DutyFor(index) == nullptr);

        // A log of another commitment, or with a wrong amount, matches nothing either.
        RevokedCommitmentHtlcs log = LogRemoteCommitmentHtlcs(*s.old_alice);
        REQUIRE(log.commitment_number == *r.classification.commitment_number);
        RevokedCommitmentHtlcs wrong_number = log;
        wrong_number.commitment_number += 1;
        s.context.revoked_htlcs = {wrong_number};
        CHECK(s.Resolve(revoked).unmatched_outputs.size() == 4);
        RevokedCommitmentHtlcs wrong_amount = log;
        for (LoggedHtlc& htlc : wrong_amount.htlcs) htlc.amount_msat += Msat{1'000};
        s.context.revoked_htlcs = {wrong_amount};
        CHECK(s.Resolve(revoked).unmatched_outputs.size() == 4);
        s.context.revoked_htlcs = {log};
        CHECK(s.Resolve(revoked).unmatched_outputs.empty());
    }
}

TEST_CASE("resolver: a commitment of the peer newer than our state (our data loss)")
{
    for (const CommitmentFormat format : ALL_FORMATS) {
        CAPTURE(static_cast<int>(format));
        Scenario s(format);
        const Transaction future = SignedCommitment(s.h.State(BOB), s.Signer(BOB));
        // Alice restored the old state: Bob's commitment is above anything she knows.
        ChannelState lost = *s.old_alice;
        const auto resolve = [&] { return Resolve(future, lost, s.Signer(ALICE), s.context); };
        const Resolution blind = resolve();
        CHECK(blind.classification.kind == SpendKind::FUTURE_REMOTE_COMMITMENT);
        CHECK(blind.classification.commitment_number == s.h.State(BOB).local_commitment_number);
        CHECK(!blind.classification.per_commitment_point);
        CHECK(DutiesOf(blind, DutyKind::ANCHOR).size() == (HasAnchors(format) ? 1U : 0U));
        if (HasStaticRemoteKey(format)) {
            CheckSpends(*OnlyDuty(blind, DutyKind::TO_REMOTE).tx, future);
            // Only to_remote (and our anchor) is ours: the HTLCs are lost to us.
            CHECK(blind.duties.size() == (HasAnchors(format) ? 2U : 1U));
        } else {
            // Without the peer's point the rotating to_remote key cannot be found.
            CHECK(DutiesOf(blind, DutyKind::TO_REMOTE).empty());
        }
        // With my_current_per_commitment_point from channel_reestablish.
        lost.remote_point_after_data_loss = s.Signer(BOB).PerCommitmentPoint(s.h.State(BOB).local_commitment_number);
        const Resolution r = resolve();
        CHECK(r.classification.kind == SpendKind::FUTURE_REMOTE_COMMITMENT);
        CHECK(r.classification.per_commitment_point == lost.remote_point_after_data_loss);
        const OutputDuty& to_remote = OnlyDuty(r, DutyKind::TO_REMOTE);
        CHECK(to_remote.csv_delay == AnchorCsv(format));
        REQUIRE(to_remote.tx);
        CheckSpends(*to_remote.tx, future);
        CHECK(DutiesOf(r, DutyKind::PENALTY_TO_LOCAL).empty());
        CHECK(r.duties.size() == (HasAnchors(format) ? 2U : 1U));
        // A wrong point recovers nothing of a rotating key.
        lost.remote_point_after_data_loss = s.Signer(BOB).PerCommitmentPoint(0);
        CHECK(DutiesOf(resolve(), DutyKind::TO_REMOTE).size() == (HasStaticRemoteKey(format) ? 1U : 0U));

        // We prove a future commitment by our signature on it: without it (no witness, a
        // signature of the peer only, or one on other bytes) it is nothing we know.
        Transaction bare = future;
        bare.vin[0].witness.clear();
        CHECK(Resolve(bare, lost, s.Signer(ALICE), s.context).classification.kind == SpendKind::UNKNOWN);
        // One signature copied over the other: only the copy that keeps ours still proves it.
        Transaction first_twice = future;
        first_twice.vin[0].witness[2] = first_twice.vin[0].witness[1];
        Transaction second_twice = future;
        second_twice.vin[0].witness[1] = second_twice.vin[0].witness[2];
        const SpendKind first = Resolve(first_twice, lost, s.Signer(ALICE), s.context).classification.kind;
        const SpendKind second = Resolve(second_twice, lost, s.Signer(ALICE), s.context).classification.kind;
        CHECK(std::ranges::count(std::vector{first, second}, SpendKind::UNKNOWN) == 1);
        CHECK(std::ranges::count(std::vector{first, second}, SpendKind::FUTURE_REMOTE_COMMITMENT) == 1);
        const Transaction relabelled = WithNumber(future, lost, s.h.State(BOB).local_commitment_number + 1);
        CHECK(Resolve(relabelled, lost, s.Signer(ALICE), s.context).classification.kind == SpendKind::UNKNOWN);
        Transaction wrong_script = future;
        wrong_script.vin[0].witness[3].push_back(OP_TRUE);
        CHECK(Resolve(wrong_script, lost, s.Signer(ALICE), s.context).classification.kind == SpendKind::UNKNOWN);
        Transaction other_sighash = future;
        for (size_t i = 1; i <= 2; ++i) other_sighash.vin[0].witness[i].back() = SIGHASH_NONE;
        CHECK(Resolve(other_sighash, lost, s.Signer(ALICE), s.context).classification.kind == SpendKind::UNKNOWN);
    }
}

TEST_CASE("resolver: mutual close")
{
    Scenario s(CommitmentFormat::ANCHORS);
    const Bytes ours = s.context.target.script_pubkey;
    const Bytes theirs = P2wpkhScript(NamedKey("bob wallet").GetPubKey()).Data();
    const ChannelParams& params = s.Alice().setup.params;
    const Transaction close = BuildLegacyClosingTx(params.funding_outpoint, {Msat{500'000'000}, ours}, {Msat{500'000'000}, theirs},
                                                   true, Sat{1'000}, Sat{354});
    // Unknown until we know the shutdown scripts.
    CHECK(s.Classify(close).kind == SpendKind::UNKNOWN);
    s.context.shutdown_scripts = {ours, theirs};
    const Resolution r = s.Resolve(close);
    CHECK(r.classification.kind == SpendKind::MUTUAL_CLOSE);
    CHECK(!r.classification.commitment_number);
    CHECK(r.duties.empty());
    // An output to anything else is not our close.
    Transaction stolen = close;
    stolen.vout[0].script_pubkey = P2wpkhScript(NamedKey("thief").GetPubKey()).Data();
    CHECK(s.Classify(stolen).kind == SpendKind::UNKNOWN);
    Transaction empty = close;
    empty.vout.clear();
    CHECK(s.Classify(empty).kind == SpendKind::UNKNOWN);
    Transaction two_inputs = close;
    two_inputs.vin.push_back(TxIn{.prevout = {Sha256(Bytes{2}), 0}, .script_sig = {}, .sequence = 0xffffffff, .witness = {}});
    CHECK(s.Classify(two_inputs).kind == SpendKind::UNKNOWN);
    // Upfront shutdown scripts count without being told.
    s.context.shutdown_scripts.clear();
    s.Alice().setup.local_upfront_shutdown_script = P2wpkhScript(NamedKey("alice wallet").GetPubKey());
    s.Alice().setup.remote_upfront_shutdown_script = P2wpkhScript(NamedKey("bob wallet").GetPubKey());
    CHECK(s.Classify(close).kind == SpendKind::MUTUAL_CLOSE);
}

TEST_CASE("resolver: unrelated, invalid and tampered transactions are UNKNOWN")
{
    for (const CommitmentFormat format : ALL_FORMATS) {
        CAPTURE(static_cast<int>(format));
        Scenario s(format);
        const ChannelState& alice = s.Alice();
        const Transaction remote = SignedCommitment(s.h.State(BOB), s.Signer(BOB));
        const Transaction local = SignedCommitment(alice, s.Signer(ALICE));

        // Not spending the funding output.
        Transaction unrelated = remote;
        unrelated.vin[0].prevout.n += 1;
        CHECK(s.Classify(unrelated).kind == SpendKind::UNKNOWN);
        const Resolution nothing = s.Resolve(unrelated);
        CHECK(nothing.duties.empty());
        CHECK(!nothing.penalty_tx);
        // Output values consensus rejects.
        Transaction negative = remote;
        negative.vout[0].value = -1;
        CHECK(s.Classify(negative).kind == SpendKind::UNKNOWN);
        Transaction too_much = remote;
        too_much.vout[0].value = ToTxValue(kMaxMoney);
        CHECK(s.Classify(too_much).kind == SpendKind::UNKNOWN);
        // Two inputs: not a commitment.
        Transaction two_inputs = remote;
        two_inputs.vin.push_back(two_inputs.vin[0]);
        two_inputs.vin[1].prevout.n += 1;
        CHECK(s.Classify(two_inputs).kind == SpendKind::UNKNOWN);

        // The encoding alone is never trusted: each commitment relabelled with every other
        // number we know, a future one, a revoked one and no marker at all.
        const uint64_t revoked_number = s.old_bob->local_commitment_number;
        for (const Transaction& tx : {remote, local}) {
            for (const uint64_t number : {alice.local_commitment_number, alice.remote_commitment_number, revoked_number,
                                          alice.remote_commitment_number + 5}) {
                CAPTURE(number);
                const Transaction tampered = WithNumber(tx, alice, number);
                if (tampered.GetTxid() == tx.GetTxid()) continue;
                CHECK(s.Classify(tampered).kind == SpendKind::UNKNOWN);
            }
            Transaction unmarked = tx;
            unmarked.locktime = 0;
            CHECK(s.Classify(unmarked).kind == SpendKind::UNKNOWN);
            Transaction other_output = tx;
            other_output.vout[0].value -= 1;
            CHECK(s.Classify(other_output).kind == SpendKind::UNKNOWN);
        }
        // A revoked commitment relabelled as another revoked number.
        CHECK(s.Classify(WithNumber(s.old_bob_commitment, alice, revoked_number - 1)).kind == SpendKind::UNKNOWN);
        // A revoked commitment whose secret we do not hold cannot be proven.
        ChannelState forgetful = alice;
        forgetful.remote_secrets = ShachainStore{};
        CHECK(Classify(s.old_bob_commitment, forgetful, s.Signer(ALICE), s.context).kind == SpendKind::UNKNOWN);
        // Our own old (revoked) commitment is no stranger: it has a kind of its own.
        const Transaction our_old = SignedCommitment(*s.old_alice, s.Signer(ALICE));
        CHECK(s.Classify(our_old).kind == SpendKind::REVOKED_LOCAL_COMMITMENT);
    }
}

TEST_CASE("resolver: the HTLC log follows the peer's commitment")
{
    Scenario s(CommitmentFormat::ANCHORS);
    const RevokedCommitmentHtlcs log = LogRemoteCommitmentHtlcs(*s.old_alice);
    CHECK(log.commitment_number == s.old_alice->remote_commitment_number);
    REQUIRE(log.htlcs.size() == 5);
    const auto a1 = std::ranges::find_if(log.htlcs, [](const LoggedHtlc& h) { return h.payment_hash == HashOf(A1); });
    REQUIRE(a1 != log.htlcs.end());
    CHECK(a1->offerer == Side::LOCAL);
    CHECK(a1->amount_msat == Msat{8'000'000});
    CHECK(a1->cltv_expiry == CLTV_A1);
    const auto b1 = std::ranges::find_if(log.htlcs, [](const LoggedHtlc& h) { return h.payment_hash == HashOf(B1); });
    REQUIRE(b1 != log.htlcs.end());
    CHECK(b1->offerer == Side::REMOTE);
    // After the fulfills only A1, the dust HTLC and B1 remain.
    CHECK(LogRemoteCommitmentHtlcs(s.Alice()).htlcs.size() == 3);
    CHECK(SpendKindName(SpendKind::REVOKED_REMOTE_COMMITMENT) == "revoked_remote_commitment");
    CHECK(DutyKindName(DutyKind::PENALTY_HTLC) == "penalty_htlc");
}

TEST_CASE("resolver: a cheater's tools: our HTLC transactions signed ahead, fee inputs added after under anchors")
{
    for (const CommitmentFormat format : ALL_FORMATS) {
        CAPTURE(static_cast<int>(format));
        Scenario s(format);
        const Transaction commitment = SignedCommitment(s.Alice(), s.Signer(ALICE));
        // Alice offered A1 (and A_DUST, trimmed or not) and received B1.
        const Hash256 preimages[] = {PreimageOf(B1)};
        const std::vector<DevHtlcTx> signed_txs = DevSignedLocalHtlcTxs(s.Alice(), s.Signer(ALICE), preimages);
        const Resolution r = s.Resolve(commitment);
        REQUIRE(signed_txs.size() == DutiesOf(r, DutyKind::LOCAL_HTLC_TIMEOUT).size() + DutiesOf(r, DutyKind::LOCAL_HTLC_SUCCESS).size());
        for (const DevHtlcTx& htlc : signed_txs) {
            CAPTURE(htlc.is_success);
            CheckSpends(htlc.tx, commitment);
            CHECK(htlc.preimage_known == htlc.is_success);
            CHECK(htlc.tx.locktime == (htlc.is_success ? 0 : htlc.cltv_expiry));
            if (!HasAnchors(format)) continue;
            // A fee input and change added: both signatures still hold.
            Transaction funded = htlc.tx;
            funded.vin.push_back(TxIn{.prevout = OutPoint{Sha256(Bytes{1}), 3}, .script_sig = {}, .sequence = 0xfffffffd, .witness = {}});
            funded.vout.push_back(TxOut{5'000, P2wpkhScript(NamedKey("cheater wallet").GetPubKey()).Data()});
            CHECK(VerifyInput(funded, 0, commitment.vout[htlc.tx.vin[0].prevout.n]) == ScriptError::OK);
        }
        // The preimage unknown: a placeholder the signatures do not cover, filled in later.
        const std::vector<DevHtlcTx> unknown = DevSignedLocalHtlcTxs(s.Alice(), s.Signer(ALICE), {});
        const auto success = std::ranges::find_if(unknown, [](const DevHtlcTx& h) { return h.is_success; });
        REQUIRE(success != unknown.end());
        CHECK(!success->preimage_known);
        Transaction filled = success->tx;
        CHECK(VerifyInput(filled, 0, commitment.vout[filled.vin[0].prevout.n]) != ScriptError::OK);
        const Hash256 preimage = PreimageOf(B1);
        filled.vin[0].witness.at(3) = Bytes(preimage.begin(), preimage.end());
        CHECK(VerifyInput(filled, 0, commitment.vout[filled.vin[0].prevout.n]) == ScriptError::OK);
    }
}
