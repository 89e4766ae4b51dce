#include "channel/sweeps.h"

#include "primitives/sighash.h"
#include "channel/scripts.h"
#include "channel/weights.h"
#include "util/amount.h"

#include <optional>
#include <stdexcept>
#include <vector>

namespace sidebolt {
namespace {
//! Sweeps signal replaceability so they can be fee-bumped.
constexpr uint32_t SEQUENCE_RBF = 0xfffffffd;
//! Bitcoin Core's DUST_RELAY_TX_FEE in sat/kvB.
constexpr uint64_t DUST_RELAY_FEE = 3000;

//! One input of a sweep: its witness is `<sig or empty> extra... [witness_script]`.
struct SpendInput {
    OutPoint outpoint;
    Sat amount_sat;
    uint32_t sequence{SEQUENCE_RBF};
    //! BIP143 scriptCode: the witness script, or the P2PKH script for P2WPKH.
    Script script_code;
    //! Signs with SIGHASH_ALL; nullptr leaves an empty first item (the anchor's anyone path).
    const PrivKey* key{nullptr};
    std::vector<Bytes> extra_items;
    bool push_witness_script{true};
    size_t expected_witness_size{0};
};

std::optional<Transaction> BuildSweep(std::vector<SpendInput> inputs, const SweepTarget& target, uint32_t locktime)
{
    if (inputs.empty()) throw std::invalid_argument("sweep without inputs");
    std::vector<size_t> witness_sizes;
    Sat total;
    Transaction tx;
    tx.version = 2;
    tx.locktime = locktime;
    for (const SpendInput& input : inputs) {
        witness_sizes.push_back(input.expected_witness_size);
        total += input.amount_sat;
        tx.vin.push_back(TxIn{.prevout = input.outpoint, .script_sig = {}, .sequence = input.sequence, .witness = {}});
    }
    if (total > kMaxMoney) throw AmountError("sweep inputs exceed 21 million bitcoin");
    const size_t output_sizes[] = {target.script_pubkey.size()};
    const Sat fee = FeeForWeight(target.feerate_per_kw, TransactionWeight(witness_sizes, output_sizes));
    const std::optional<Sat> value = Sat::CheckedSub(total, fee);
    if (!value || *value < DustThreshold(target.script_pubkey)) return std::nullopt;
    tx.vout.push_back(TxOut{ToTxValue(*value), target.script_pubkey});

    const SigHashCache cache(tx);
    for (size_t i = 0; i < inputs.size(); ++i) {
        SpendInput& input = inputs[i];
        std::vector<Bytes>& witness = tx.vin[i].witness;
        witness.push_back(input.key ? SignInputV0(*input.key, tx, i, input.script_code.span(), ToTxValue(input.amount_sat),
                                                  SIGHASH_ALL, cache)
                                    : Bytes{});
        for (Bytes& item : input.extra_items) witness.push_back(std::move(item));
        if (input.push_witness_script) witness.push_back(input.script_code.Data());
    }
    return tx;
}

SpendInput P2wpkhInput(const OutPoint& outpoint, Sat amount_sat, const PrivKey& key, uint32_t sequence)
{
    const PubKey pubkey = key.GetPubKey();
    return SpendInput{.outpoint = outpoint,
                      .amount_sat = amount_sat,
                      .sequence = sequence,
                      .script_code = P2wpkhScriptCode(Hash160Of(pubkey.span())),
                      .key = &key,
                      .extra_items = {Bytes(pubkey.span().begin(), pubkey.span().end())},
                      .push_witness_script = false,
                      .expected_witness_size = P2wpkhWitnessSize()};
}

void AddWalletInputs(std::vector<SpendInput>& inputs, std::span<const WalletInput> fee_inputs)
{
    for (const WalletInput& input : fee_inputs) inputs.push_back(P2wpkhInput(input.outpoint, input.amount_sat, input.key, SEQUENCE_RBF));
}

std::optional<Transaction> BuildAnchorSweep(const OutPoint& anchor, const PubKey& funding_pubkey, const PrivKey* funding_key,
                                            std::span<const WalletInput> fee_inputs, const SweepTarget& target)
{
    Script script = AnchorScript(funding_pubkey);
    const size_t witness_size = funding_key ? SingleSigWitnessSize(script.size()) : AnchorAnyoneWitnessSize(script.size());
    std::vector<SpendInput> inputs;
    inputs.push_back(SpendInput{.outpoint = anchor,
                                .amount_sat = ANCHOR_OUTPUT_SAT,
                                .sequence = funding_key ? SEQUENCE_RBF : ANCHOR_ANYONE_CSV,
                                .script_code = std::move(script),
                                .key = funding_key,
                                .extra_items = {},
                                .push_witness_script = true,
                                .expected_witness_size = witness_size});
    AddWalletInputs(inputs, fee_inputs);
    return BuildSweep(std::move(inputs), target, 0);
}
} // namespace

Sat DustThreshold(ByteSpan script_pubkey)
{
    if (!script_pubkey.empty() && script_pubkey[0] == OP_RETURN) return Sat{};
    // Core's GetDustThreshold: the output plus the input spending it, at 3 sat/vB; a segwit
    // input counts 32 + 4 + 1 + 107/4 + 4 bytes, any other 32 + 4 + 1 + 107 + 4.
    const size_t output_size = 8 + CompactSizeLen(script_pubkey.size()) + script_pubkey.size();
    const size_t input_size = GetWitnessProgram(script_pubkey) ? 32 + 4 + 1 + 107 / 4 + 4 : 32 + 4 + 1 + 107 + 4;
    return Sat{(output_size + input_size) * DUST_RELAY_FEE / 1000};
}

std::optional<Transaction> BuildDelayedSweep(const OutPoint& outpoint, Sat amount_sat, const Script& witness_script,
                                             uint16_t to_self_delay, const PrivKey& delayed_key, const SweepTarget& target)
{
    std::vector<SpendInput> inputs;
    inputs.push_back(SpendInput{.outpoint = outpoint,
                                .amount_sat = amount_sat,
                                // "spent by an input with nSequence field set to to_self_delay".
                                .sequence = to_self_delay,
                                .script_code = witness_script,
                                .key = &delayed_key,
                                .extra_items = {Bytes{}},
                                .push_witness_script = true,
                                .expected_witness_size = DelayedSweepWitnessSize(witness_script.size())});
    return BuildSweep(std::move(inputs), target, 0);
}

std::optional<Transaction> BuildToRemoteSweep(const OutPoint& outpoint, Sat amount_sat, CommitmentFormat format,
                                              const PrivKey& payment_key, const SweepTarget& target)
{
    std::vector<SpendInput> inputs;
    if (!HasAnchors(format)) {
        inputs.push_back(P2wpkhInput(outpoint, amount_sat, payment_key, SEQUENCE_RBF));
    } else {
        Script script = ToRemoteAnchorScript(payment_key.GetPubKey());
        const size_t witness_size = SingleSigWitnessSize(script.size());
        inputs.push_back(SpendInput{.outpoint = outpoint,
                                    .amount_sat = amount_sat,
                                    .sequence = 1,
                                    .script_code = std::move(script),
                                    .key = &payment_key,
                                    .extra_items = {},
                                    .push_witness_script = true,
                                    .expected_witness_size = witness_size});
    }
    return BuildSweep(std::move(inputs), target, 0);
}

std::optional<Transaction> BuildPenaltyTx(std::span<const RevokedOutput> outputs, const PrivKey& revocation_key,
                                          const SweepTarget& target)
{
    const PubKey revocation_pubkey = revocation_key.GetPubKey();
    std::vector<SpendInput> inputs;
    inputs.reserve(outputs.size());
    for (const RevokedOutput& output : outputs) {
        const bool delayed = output.kind == RevokedOutputKind::TO_LOCAL || output.kind == RevokedOutputKind::SECOND_STAGE;
        const size_t script_size = output.witness_script.size();
        inputs.push_back(SpendInput{
            .outpoint = output.outpoint,
            .amount_sat = output.amount_sat,
            .sequence = SEQUENCE_RBF,
            .script_code = output.witness_script,
            .key = &revocation_key,
            // `<revocation_sig> 1` selects OP_IF; HTLC scripts check the revocation key's hash.
            .extra_items = {delayed ? Bytes{1} : Bytes(revocation_pubkey.span().begin(), revocation_pubkey.span().end())},
            .push_witness_script = true,
            .expected_witness_size = delayed ? RevokedDelayedWitnessSize(script_size) : RevokedHtlcWitnessSize(script_size)});
    }
    return BuildSweep(std::move(inputs), target, 0);
}

std::optional<Transaction> BuildHtlcPreimageClaim(const RemoteHtlcOutput& htlc, CommitmentFormat format,
                                                  const PrivKey& htlc_key, const Hash256& payment_preimage,
                                                  const SweepTarget& target)
{
    std::vector<SpendInput> inputs;
    inputs.push_back(SpendInput{.outpoint = htlc.outpoint,
                                .amount_sat = htlc.amount_sat,
                                .sequence = HasAnchors(format) ? 1U : SEQUENCE_RBF,
                                .script_code = htlc.witness_script,
                                .key = &htlc_key,
                                .extra_items = {Bytes(payment_preimage.begin(), payment_preimage.end())},
                                .push_witness_script = true,
                                .expected_witness_size = HtlcPreimageClaimWitnessSize(htlc.witness_script.size())});
    return BuildSweep(std::move(inputs), target, 0);
}

std::optional<Transaction> BuildHtlcTimeoutClaim(const RemoteHtlcOutput& htlc, CommitmentFormat format,
                                                 const PrivKey& htlc_key, const SweepTarget& target)
{
    std::vector<SpendInput> inputs;
    inputs.push_back(SpendInput{.outpoint = htlc.outpoint,
                                .amount_sat = htlc.amount_sat,
                                // Non-final so OP_CHECKLOCKTIMEVERIFY applies; 1 satisfies the anchors CSV.
                                .sequence = HasAnchors(format) ? 1U : SEQUENCE_RBF,
                                .script_code = htlc.witness_script,
                                .key = &htlc_key,
                                .extra_items = {Bytes{}},
                                .push_witness_script = true,
                                .expected_witness_size = HtlcTimeoutClaimWitnessSize(htlc.witness_script.size())});
    return BuildSweep(std::move(inputs), target, htlc.cltv_expiry);
}

std::optional<Transaction> BuildAnchorSpend(const OutPoint& anchor, const PrivKey& funding_key,
                                            std::span<const WalletInput> fee_inputs, const SweepTarget& target)
{
    return BuildAnchorSweep(anchor, funding_key.GetPubKey(), &funding_key, fee_inputs, target);
}

std::optional<Transaction> BuildAnchorSweepByAnyone(const OutPoint& anchor, const PubKey& funding_pubkey,
                                                    std::span<const WalletInput> fee_inputs, const SweepTarget& target)
{
    return BuildAnchorSweep(anchor, funding_pubkey, nullptr, fee_inputs, target);
}

Transaction UnfundedAnchorSpend(const OutPoint& anchor, ByteSpan script_pubkey)
{
    Transaction tx;
    tx.version = 2;
    tx.vin.push_back(TxIn{.prevout = anchor, .script_sig = {}, .sequence = SEQUENCE_RBF, .witness = {}});
    tx.vout.push_back(TxOut{ToTxValue(ANCHOR_OUTPUT_SAT), Bytes(script_pubkey.begin(), script_pubkey.end())});
    return tx;
}

uint32_t AnchorInputWeight(const PubKey& funding_pubkey)
{
    // Outpoint, empty scriptSig and sequence count four times; the witness once.
    return static_cast<uint32_t>(4 * (32 + 4 + 1 + 4) + SingleSigWitnessSize(AnchorScript(funding_pubkey).size()));
}

uint32_t AnchorChildWeight(const PubKey& funding_pubkey, size_t sweep_script_size)
{
    return static_cast<uint32_t>(4 * 10 + 2 + AnchorInputWeight(funding_pubkey) + 4 * (9 + sweep_script_size) + kWalletFeeWeight);
}

std::optional<Transaction> SignAnchorInput(Transaction funded, const OutPoint& anchor, const PrivKey& funding_key)
{
    if (funded.vin.empty() || funded.vin[0].prevout != anchor) return std::nullopt;
    const Script script = AnchorScript(funding_key.GetPubKey());
    const SigHashCache cache(funded);
    funded.vin[0].witness = {SignInputV0(funding_key, funded, 0, script.span(), ToTxValue(ANCHOR_OUTPUT_SAT), SIGHASH_ALL, cache),
                             script.Data()};
    return funded;
}

} // namespace sidebolt
