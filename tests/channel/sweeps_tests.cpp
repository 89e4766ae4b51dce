// Enforcement transactions (BOLT 5): every sweep, claim and penalty is signed here and its
// witness run through the script interpreter; their expected weights bound the signed ones.
#include "primitives/sighash.h"
#include "channel/commitment.h"
#include "channel/funding.h"
#include "channel/htlc_tx.h"
#include "channel/keys.h"
#include "channel/scripts.h"
#include "channel/sweeps.h"
#include "channel/weights.h"
#include "tests/channel/channel_test_util.h"

#include <doctest/doctest.h>

#include <cstdint>

using namespace sidebolt;
using namespace sidebolt::test;
using namespace sidebolt::amount_literals;

namespace {
struct PartySecrets {
    PrivKey funding;
    PrivKey revocation;
    PrivKey payment;
    PrivKey delayed_payment;
    PrivKey htlc;

    explicit PartySecrets(const std::string& name)
        : funding(NamedKey(name + " funding")), revocation(NamedKey(name + " revocation")),
          payment(NamedKey(name + " payment")), delayed_payment(NamedKey(name + " delayed")), htlc(NamedKey(name + " htlc"))
    {
    }
    Basepoints Points() const
    {
        return {revocation.GetPubKey(), payment.GetPubKey(), delayed_payment.GetPubKey(), htlc.GetPubKey()};
    }
};

Hash256 Preimage(int i) { return Sha256(Bytes(1, static_cast<uint8_t>(i))); }

//! The holder's (Alice's) signed commitment with two HTLCs each way, as Bob would see it on chain.
struct Scenario {
    CommitmentFormat format;
    PartySecrets alice{"alice"};
    PartySecrets bob{"bob"};
    PrivKey per_commitment_secret{NamedKey("alice commitment 7")};
    CommitmentSpec spec;
    CommitmentKeys keys;
    CommitmentTx commitment;
    std::vector<HtlcTx> htlc_txs;
    SweepTarget target{P2wpkhScript(NamedKey("wallet").GetPubKey()).Data(), 2500};

    explicit Scenario(CommitmentFormat f)
        : format(f), spec(MakeSpec()), keys(DeriveCommitmentKeys(spec)), commitment(BuildCommitmentTx(spec, keys))
    {
        const Sat funding_sat = spec.funding_sat;
        SetFundingWitness(commitment.tx, commitment.funding_script, keys.local_funding,
                          SignFundingInput(commitment.tx, commitment.funding_script, funding_sat, alice.funding),
                          keys.remote_funding,
                          SignFundingInput(commitment.tx, commitment.funding_script, funding_sat, bob.funding));
        htlc_txs = BuildHtlcTxs(commitment, spec, keys);
        const PrivKey local_htlc = DerivePrivKey(alice.htlc, spec.per_commitment_point);
        const PrivKey remote_htlc = DerivePrivKey(bob.htlc, spec.per_commitment_point);
        const uint8_t remote_type = CounterpartyHtlcSigHashType(format);
        for (HtlcTx& htlc_tx : htlc_txs) {
            const EcdsaSignature remote = SignHtlcTx(htlc_tx, remote_htlc, remote_type);
            const EcdsaSignature local = SignHtlcTx(htlc_tx, local_htlc, SIGHASH_ALL);
            if (htlc_tx.is_success) {
                SetHtlcSuccessWitness(htlc_tx, remote, remote_type, local, Preimage(static_cast<int>(htlc_tx.htlc_index)));
            } else {
                SetHtlcTimeoutWitness(htlc_tx, remote, remote_type, local);
            }
        }
    }

    CommitmentSpec MakeSpec() const
    {
        CommitmentSpec s{
            .format = format,
            .funding_outpoint = OutPoint{Sha256(Bytes{1, 2, 3}), 1},
            .funding_sat = 2'000'000_sat,
            .holder_funding_pubkey = alice.funding.GetPubKey(),
            .counterparty_funding_pubkey = bob.funding.GetPubKey(),
            .holder = alice.Points(),
            .counterparty = bob.Points(),
            .holder_is_opener = true,
            .to_self_delay = 144,
            .dust_limit_sat = 546_sat,
            .feerate_per_kw = 2500,
            .commitment_number = 7,
            .per_commitment_point = per_commitment_secret.GetPubKey(),
            .to_local_msat = 1'200'000'000_msat,
            .to_remote_msat = 700'000'000_msat,
            .htlcs = {},
        };
        const Msat amounts[] = {20'000'000_msat, 30'000'000_msat, 25'000'000_msat, 25'000'000_msat};
        for (int i = 0; i < 4; ++i) {
            s.htlcs.push_back(Htlc{.direction = i % 2 ? HtlcDirection::RECEIVED : HtlcDirection::OFFERED,
                                   .amount_msat = amounts[i],
                                   .payment_hash = Sha256(Preimage(i)),
                                   .cltv_expiry = 500'000u + static_cast<uint32_t>(i)});
        }
        return s;
    }

    OutPoint Out(size_t index) const { return {commitment.tx.GetTxid(), static_cast<uint32_t>(index)}; }
    size_t OutputOf(CommitmentOutputKind kind) const
    {
        for (size_t i = 0; i < commitment.outputs.size(); ++i) {
            if (commitment.outputs[i].kind == kind) return i;
        }
        FAIL("no such output");
        return 0;
    }
};

//! Every input verifies against the outputs it spends; the expected weight bounds the real one.
void CheckSpends(const Transaction& tx, const std::vector<TxOut>& spent, const std::vector<size_t>& expected_witness)
{
    REQUIRE(tx.vin.size() == spent.size());
    for (size_t i = 0; i < spent.size(); ++i) {
        CAPTURE(i);
        CHECK(VerifyInput(tx, i, spent[i]) == ScriptError::OK);
    }
    std::vector<size_t> scripts;
    for (const TxOut& out : tx.vout) scripts.push_back(out.script_pubkey.size());
    const uint64_t expected = TransactionWeight(expected_witness, scripts);
    CHECK(expected >= tx.GetWeight());
    CHECK(expected - tx.GetWeight() <= 4 * tx.vin.size());
}

const CommitmentFormat ALL_FORMATS[] = {CommitmentFormat::LEGACY, CommitmentFormat::STATIC_REMOTEKEY,
                                        CommitmentFormat::ANCHOR_OUTPUTS, CommitmentFormat::ANCHORS};
} // namespace

TEST_CASE("holder's delayed sweeps: to_local and second-stage outputs after to_self_delay")
{
    for (const CommitmentFormat format : ALL_FORMATS) {
        CAPTURE(static_cast<int>(format));
        Scenario s(format);
        const PrivKey delayed_key = DerivePrivKey(s.alice.delayed_payment, s.spec.per_commitment_point);
        const size_t to_local = s.OutputOf(CommitmentOutputKind::TO_LOCAL);
        const Script& script = s.commitment.outputs[to_local].witness_script;
        const auto sweep = BuildDelayedSweep(s.Out(to_local), SatFromTxValue(s.commitment.tx.vout[to_local].value), script,
                                             s.spec.to_self_delay, delayed_key, s.target);
        REQUIRE(sweep);
        CHECK(sweep->vin[0].sequence == 144);
        CheckSpends(*sweep, {s.commitment.tx.vout[to_local]}, {DelayedSweepWitnessSize(script.size())});
        // One block short of the delay the CSV branch fails.
        Transaction early = *sweep;
        early.vin[0].sequence = 143;
        CHECK(VerifyInput(early, 0, s.commitment.tx.vout[to_local]) != ScriptError::OK);

        REQUIRE(s.htlc_txs.size() == 4);
        for (const HtlcTx& htlc_tx : s.htlc_txs) {
            CHECK(VerifyInput(htlc_tx.tx, 0, s.commitment.tx.vout[htlc_tx.commitment_output]) == ScriptError::OK);
            const Script second_stage = ToLocalScript(s.keys.revocation, s.spec.to_self_delay, s.keys.local_delayed);
            const auto claim = BuildDelayedSweep({htlc_tx.tx.GetTxid(), 0}, SatFromTxValue(htlc_tx.tx.vout[0].value), second_stage,
                                                 s.spec.to_self_delay, delayed_key, s.target);
            REQUIRE(claim);
            CheckSpends(*claim, {htlc_tx.tx.vout[0]}, {DelayedSweepWitnessSize(second_stage.size())});
        }
    }
}

TEST_CASE("penalty transactions: each revoked output alone, and all batched in one")
{
    for (const CommitmentFormat format : ALL_FORMATS) {
        CAPTURE(static_cast<int>(format));
        Scenario s(format);
        // Alice revoked this commitment: Bob now knows her per-commitment secret.
        const PrivKey revocation_key = DeriveRevocationPrivKey(s.bob.revocation, s.per_commitment_secret);
        CHECK(revocation_key.GetPubKey() == s.keys.revocation);
        std::vector<RevokedOutput> revoked;
        std::vector<TxOut> spent;
        std::vector<size_t> witness_sizes;
        for (size_t i = 0; i < s.commitment.outputs.size(); ++i) {
            const CommitmentOutput& out = s.commitment.outputs[i];
            RevokedOutputKind kind;
            if (out.kind == CommitmentOutputKind::TO_LOCAL) {
                kind = RevokedOutputKind::TO_LOCAL;
            } else if (out.kind == CommitmentOutputKind::OFFERED_HTLC) {
                kind = RevokedOutputKind::OFFERED_HTLC;
            } else if (out.kind == CommitmentOutputKind::RECEIVED_HTLC) {
                kind = RevokedOutputKind::RECEIVED_HTLC;
            } else {
                continue;
            }
            revoked.push_back({s.Out(i), SatFromTxValue(s.commitment.tx.vout[i].value), kind, out.witness_script});
            spent.push_back(s.commitment.tx.vout[i]);
            witness_sizes.push_back(kind == RevokedOutputKind::TO_LOCAL ? RevokedDelayedWitnessSize(out.witness_script.size())
                                                                        : RevokedHtlcWitnessSize(out.witness_script.size()));
        }
        // Revoked second-stage outputs, had Alice already published her HTLC transactions.
        const Script second_stage = ToLocalScript(s.keys.revocation, s.spec.to_self_delay, s.keys.local_delayed);
        for (const HtlcTx& htlc_tx : s.htlc_txs) {
            revoked.push_back({{htlc_tx.tx.GetTxid(), 0}, SatFromTxValue(htlc_tx.tx.vout[0].value), RevokedOutputKind::SECOND_STAGE, second_stage});
            spent.push_back(htlc_tx.tx.vout[0]);
            witness_sizes.push_back(RevokedDelayedWitnessSize(second_stage.size()));
        }
        REQUIRE(revoked.size() == 9);
        for (size_t i = 0; i < revoked.size(); ++i) {
            const auto single = BuildPenaltyTx({&revoked[i], 1}, revocation_key, s.target);
            REQUIRE(single);
            CheckSpends(*single, {spent[i]}, {witness_sizes[i]});
        }
        const auto batch = BuildPenaltyTx(revoked, revocation_key, s.target);
        REQUIRE(batch);
        CheckSpends(*batch, spent, witness_sizes);
        // The wrong key cannot take the penalty path.
        const auto forged = BuildPenaltyTx({&revoked[0], 1}, s.bob.revocation, s.target);
        REQUIRE(forged);
        CHECK(VerifyInput(*forged, 0, spent[0]) != ScriptError::OK);
    }
}

TEST_CASE("counterparty claims: to_remote, HTLCs by preimage and after timeout")
{
    for (const CommitmentFormat format : ALL_FORMATS) {
        CAPTURE(static_cast<int>(format));
        Scenario s(format);
        const PubKey& point = s.spec.per_commitment_point;
        // Bob's payment key: his basepoint secret with static_remotekey, else tweaked.
        const PrivKey payment_key = HasStaticRemoteKey(format) ? s.bob.payment : DerivePrivKey(s.bob.payment, point);
        const size_t to_remote = s.OutputOf(CommitmentOutputKind::TO_REMOTE);
        const auto sweep = BuildToRemoteSweep(s.Out(to_remote), SatFromTxValue(s.commitment.tx.vout[to_remote].value), format, payment_key, s.target);
        REQUIRE(sweep);
        const size_t to_remote_witness = HasAnchors(format)
                                             ? SingleSigWitnessSize(s.commitment.outputs[to_remote].witness_script.size())
                                             : P2wpkhWitnessSize();
        CheckSpends(*sweep, {s.commitment.tx.vout[to_remote]}, {to_remote_witness});
        if (HasAnchors(format)) {
            CHECK(sweep->vin[0].sequence == 1);
            Transaction immediate = *sweep;
            immediate.vin[0].sequence = 0;
            CHECK(VerifyInput(immediate, 0, s.commitment.tx.vout[to_remote]) != ScriptError::OK);
        }

        const PrivKey bob_htlc = DerivePrivKey(s.bob.htlc, point);
        for (size_t i = 0; i < s.commitment.outputs.size(); ++i) {
            const CommitmentOutput& out = s.commitment.outputs[i];
            if (!out.htlc_index) continue;
            const Htlc& htlc = s.spec.htlcs[*out.htlc_index];
            const RemoteHtlcOutput remote_htlc{s.Out(i), SatFromTxValue(s.commitment.tx.vout[i].value), out.witness_script, htlc.cltv_expiry};
            if (out.kind == CommitmentOutputKind::OFFERED_HTLC) {
                // Alice offered it: Bob takes it with the preimage.
                const auto claim = BuildHtlcPreimageClaim(remote_htlc, format, bob_htlc,
                                                          Preimage(static_cast<int>(*out.htlc_index)), s.target);
                REQUIRE(claim);
                CheckSpends(*claim, {s.commitment.tx.vout[i]}, {HtlcPreimageClaimWitnessSize(out.witness_script.size())});
                const auto wrong = BuildHtlcPreimageClaim(remote_htlc, format, bob_htlc, Preimage(99), s.target);
                REQUIRE(wrong);
                CHECK(VerifyInput(*wrong, 0, s.commitment.tx.vout[i]) != ScriptError::OK);
            } else {
                // Bob offered it: he takes it back once cltv_expiry is reached.
                const auto claim = BuildHtlcTimeoutClaim(remote_htlc, format, bob_htlc, s.target);
                REQUIRE(claim);
                CHECK(claim->locktime == htlc.cltv_expiry);
                CheckSpends(*claim, {s.commitment.tx.vout[i]}, {HtlcTimeoutClaimWitnessSize(out.witness_script.size())});
                Transaction early = *claim;
                early.locktime = htlc.cltv_expiry - 1;
                CHECK(VerifyInput(early, 0, s.commitment.tx.vout[i]) == ScriptError::UNSATISFIED_LOCKTIME);
            }
        }
    }
}

TEST_CASE("anchor spends: with the funding key, and by anyone after 16 blocks")
{
    Scenario s(CommitmentFormat::ANCHORS);
    const PrivKey wallet_key = NamedKey("fee wallet");
    const WalletInput fee_input{.outpoint = {Sha256(Bytes{9}), 0}, .amount_sat = 50'000_sat, .key = wallet_key};
    const TxOut fee_output{50'000, P2wpkhScript(wallet_key.GetPubKey()).Data()};
    const size_t local_anchor = s.OutputOf(CommitmentOutputKind::LOCAL_ANCHOR);
    const TxOut& anchor_output = s.commitment.tx.vout[local_anchor];
    const Script& anchor_script = s.commitment.outputs[local_anchor].witness_script;

    const auto cpfp = BuildAnchorSpend(s.Out(local_anchor), s.alice.funding, {&fee_input, 1}, s.target);
    REQUIRE(cpfp);
    CheckSpends(*cpfp, {anchor_output, fee_output}, {SingleSigWitnessSize(anchor_script.size()), P2wpkhWitnessSize()});

    const auto anyone = BuildAnchorSweepByAnyone(s.Out(local_anchor), s.alice.funding.GetPubKey(), {&fee_input, 1}, s.target);
    REQUIRE(anyone);
    CHECK(anyone->vin[0].sequence == ANCHOR_ANYONE_CSV);
    CheckSpends(*anyone, {anchor_output, fee_output}, {AnchorAnyoneWitnessSize(anchor_script.size()), P2wpkhWitnessSize()});
    Transaction early = *anyone;
    early.vin[0].sequence = ANCHOR_ANYONE_CSV - 1;
    CHECK(VerifyInput(early, 0, anchor_output) != ScriptError::OK);
    // The anchor alone cannot pay for its own spend.
    CHECK(!BuildAnchorSpend(s.Out(local_anchor), s.alice.funding, {}, s.target));
}

TEST_CASE("a CPFP child funded by bitcoind's wallet: our anchor signed over the wallet's inputs and change")
{
    Scenario s(CommitmentFormat::ANCHORS);
    const size_t local_anchor = s.OutputOf(CommitmentOutputKind::LOCAL_ANCHOR);
    const TxOut& anchor_output = s.commitment.tx.vout[local_anchor];
    const Transaction unfunded = UnfundedAnchorSpend(s.Out(local_anchor), s.target.script_pubkey);
    REQUIRE(unfunded.vin.size() == 1);
    CHECK(unfunded.vin[0].prevout == s.Out(local_anchor));
    CHECK(unfunded.vin[0].witness.empty());
    REQUIRE(unfunded.vout.size() == 1);
    CHECK(unfunded.vout[0] == TxOut{330, s.target.script_pubkey});
    // What the wallet does: a coin of its own and a change output behind ours.
    Transaction funded = unfunded;
    funded.vin.push_back(TxIn{.prevout = {Sha256(Bytes{9}), 1}, .script_sig = {}, .sequence = 0xfffffffd, .witness = {}});
    funded.vout.push_back(TxOut{40'000, Bytes{0x00, 0x14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}});
    const auto signed_tx = SignAnchorInput(funded, s.Out(local_anchor), s.alice.funding);
    REQUIRE(signed_tx);
    CHECK(VerifyInput(*signed_tx, 0, anchor_output) == ScriptError::OK);
    size_t witness_size = 1;
    for (const Bytes& item : signed_tx->vin[0].witness) witness_size += 1 + item.size();
    CHECK(4 * 41 + witness_size <= AnchorInputWeight(s.alice.funding.GetPubKey()));
    CHECK(4 * 41 + witness_size + 2 >= AnchorInputWeight(s.alice.funding.GetPubKey()));
    // SIGHASH_ALL: the signature covers the wallet's change.
    Transaction changed = *signed_tx;
    changed.vout[1].value -= 1;
    CHECK(VerifyInput(changed, 0, anchor_output) != ScriptError::OK);
    // Bob's key cannot spend Alice's anchor; a transaction not spending the anchor first is refused.
    const auto wrong_key = SignAnchorInput(funded, s.Out(local_anchor), s.bob.funding);
    REQUIRE(wrong_key);
    CHECK(VerifyInput(*wrong_key, 0, anchor_output) != ScriptError::OK);
    std::swap(funded.vin[0], funded.vin[1]);
    CHECK(!SignAnchorInput(funded, s.Out(local_anchor), s.alice.funding));
}

TEST_CASE("sweeps refuse to create dust outputs")
{
    Scenario s(CommitmentFormat::ANCHORS);
    const size_t to_local = s.OutputOf(CommitmentOutputKind::TO_LOCAL);
    const PrivKey delayed_key = DerivePrivKey(s.alice.delayed_payment, s.spec.per_commitment_point);
    const Script& script = s.commitment.outputs[to_local].witness_script;
    CHECK(!BuildDelayedSweep(s.Out(to_local), 500_sat, script, 144, delayed_key, s.target));
    CHECK(BuildDelayedSweep(s.Out(to_local), 5000_sat, script, 144, delayed_key, s.target));
    CHECK(DustThreshold(P2wpkhScript(NamedKey("x").GetPubKey()).Data()) == 294_sat);
    CHECK(DustThreshold(P2wshScript(Script{}.Op(OP_TRUE)).Data()) == 330_sat);
    CHECK(DustThreshold(P2pkhScript(NamedKey("x").GetPubKey()).Data()) == 546_sat);
    CHECK(DustThreshold(P2shScript(Script{}.Op(OP_TRUE)).Data()) == 540_sat);
    CHECK(DustThreshold(Script{}.Op(OP_RETURN).Push(Bytes(8, 1)).Data()) == 0_sat);
}

TEST_CASE("sweeps reject inputs worth more than 21 million bitcoin")
{
    Scenario s(CommitmentFormat::ANCHORS);
    const size_t to_local = s.OutputOf(CommitmentOutputKind::TO_LOCAL);
    const Script& script = s.commitment.outputs[to_local].witness_script;
    const PrivKey key = NamedKey("revocation");
    const RevokedOutput all_money{s.Out(to_local), kMaxMoney, RevokedOutputKind::TO_LOCAL, script};
    const RevokedOutput too_much[] = {all_money, all_money};
    CHECK(BuildPenaltyTx({too_much, 1}, key, s.target));
    CHECK_THROWS_AS(BuildPenaltyTx(too_much, key, s.target), AmountError);
    // A sum past 2^64 throws instead of wrapping to a small, plausible amount.
    const RevokedOutput wrapping[] = {{s.Out(to_local), Sat{UINT64_MAX}, RevokedOutputKind::TO_LOCAL, script}, all_money};
    CHECK_THROWS_AS(BuildPenaltyTx(wrapping, key, s.target), AmountError);
    CHECK_THROWS_AS(BuildDelayedSweep(s.Out(to_local), kMaxMoney + 1_sat, script, 144, key, s.target), AmountError);
}

TEST_CASE("expected weights: BOLT 3 and BOLT 5 appendices against signed transactions")
{
    // BOLT 5's witness sizes come from the same formulas (non-anchor scripts, 3-byte cltv).
    CHECK(RevokedHtlcWitnessSize(133) == OFFERED_HTLC_PENALTY_WITNESS);
    CHECK(RevokedHtlcWitnessSize(139) == ACCEPTED_HTLC_PENALTY_WITNESS);
    // BOLT 5 counts the `1` item as one byte; the real encoding (length + value) is one more.
    CHECK(RevokedDelayedWitnessSize(83) == TO_LOCAL_PENALTY_WITNESS + 1);

    for (const CommitmentFormat format : ALL_FORMATS) {
        CAPTURE(static_cast<int>(format));
        Scenario s(format);
        // Both main outputs present and fewer than 253 outputs: the formula is an upper bound.
        const uint64_t expected_commitment =
            (HasAnchors(format) ? COMMITMENT_BASE_WEIGHT_ANCHORS : COMMITMENT_BASE_WEIGHT) +
            COMMITMENT_WEIGHT_PER_HTLC * s.htlc_txs.size();
        CHECK(expected_commitment >= s.commitment.tx.GetWeight());
        // Appendix A counts the anchors' output count as 3 bytes where 1 is used: 8 WU more.
        CHECK(expected_commitment - s.commitment.tx.GetWeight() <= (HasAnchors(format) ? 16U : 8U));
        for (const HtlcTx& htlc_tx : s.htlc_txs) {
            const bool anchors = HasAnchors(format);
            const uint64_t expected = htlc_tx.is_success ? (anchors ? HTLC_SUCCESS_WEIGHT_ANCHORS : HTLC_SUCCESS_WEIGHT)
                                                         : (anchors ? HTLC_TIMEOUT_WEIGHT_ANCHORS : HTLC_TIMEOUT_WEIGHT);
            // BOLT 3: "really 702 and 705", cltv pushes of 3 bytes instead of 4, and DER sizes.
            CHECK(expected >= htlc_tx.tx.GetWeight());
            CHECK(expected - htlc_tx.tx.GetWeight() <= 8);
            // The fee paid is exactly the spec's (zero under zero-fee HTLC transactions).
            const Sat fee = htlc_tx.input_sat - SatFromTxValue(htlc_tx.tx.vout[0].value);
            CHECK(fee == (htlc_tx.is_success ? HtlcSuccessFee(format, s.spec.feerate_per_kw)
                                                                    : HtlcTimeoutFee(format, s.spec.feerate_per_kw)));
        }
    }
}
