#include "channel/resolver.h"

#include "channel/funding.h"
#include "channel/htlc_tx.h"
#include "channel/keys.h"
#include "channel/scripts.h"
#include "channel/shachain.h"
#include "channel/weights.h"
#include "primitives/sighash.h"

#include <algorithm>
#include <initializer_list>
#include <span>
#include <optional>
#include <utility>

namespace sidebolt {
namespace {
std::optional<Sat> OutputAmount(const TxOut& out)
{
    if (out.value < 0 || static_cast<uint64_t>(out.value) > kMaxMoney.value()) return std::nullopt;
    return Sat{static_cast<uint64_t>(out.value)};
}

//! Consensus would reject the transaction: no output of it may be acted upon.
bool HasValidValues(const Transaction& tx)
{
    std::optional<Sat> total{Sat{}};
    for (const TxOut& out : tx.vout) {
        const std::optional<Sat> amount = OutputAmount(out);
        if (!amount) return false;
        total = Sat::CheckedAdd(*total, *amount);
        if (!total || *total > kMaxMoney) return false;
    }
    return true;
}

bool SpendsFunding(const Transaction& tx, const ChannelParams& params)
{
    return std::ranges::any_of(tx.vin, [&](const TxIn& in) { return in.prevout == params.funding_outpoint; });
}


//! One output of a recognized commitment, from its holder's point of view.
struct KnownOutput {
    uint32_t index{0};
    CommitmentOutputKind kind{CommitmentOutputKind::TO_LOCAL};
    Script witness_script;
    std::optional<Htlc> htlc;
    //! The state's HTLC, for commitments rebuilt from the state.
    std::optional<HtlcKey> key;
};

//! A commitment Classify recognized, with what Resolve needs of it.
struct Recognized {
    Classification classification;
    //! The commitment's spec and keys (holder's view); unset for mutual closes and unknown
    //! spends. For revoked and future commitments the spec only carries the keys' inputs.
    std::optional<CommitmentSpec> spec;
    std::optional<CommitmentKeys> keys;
    //! The commitment rebuilt from the state (ours, the peer's current or pending).
    std::optional<CommitmentTx> rebuilt;
    std::vector<KnownOutput> outputs;
    std::vector<uint32_t> unmatched;
};

std::vector<KnownOutput> OutputsOf(const CommitmentTx& commitment, const CommitmentView& view)
{
    std::vector<KnownOutput> outputs;
    for (size_t i = 0; i < commitment.outputs.size(); ++i) {
        const CommitmentOutput& out = commitment.outputs[i];
        KnownOutput known{.index = static_cast<uint32_t>(i), .kind = out.kind, .witness_script = out.witness_script,
                          .htlc = std::nullopt, .key = std::nullopt};
        if (out.htlc_index) {
            known.htlc = view.spec.htlcs[*out.htlc_index];
            known.key = view.htlcs[*out.htlc_index];
        }
        outputs.push_back(std::move(known));
    }
    return outputs;
}

//! The commitment of the state for (holder, number, point) if it is exactly the spend.
std::optional<Recognized> Rebuild(const ChannelState& state, Side holder, uint64_t number, const PubKey& point,
                                  const Hash256& txid, SpendKind kind)
{
    const CommitmentView view = MakeCommitmentView(state, holder, number, point);
    const CommitmentKeys keys = DeriveCommitmentKeys(view.spec);
    CommitmentTx commitment = BuildCommitmentTx(view.spec, keys);
    // Same txid: the same outputs, locktime and sequence as the commitment we (or they) signed.
    if (commitment.tx.GetTxid() != txid) return std::nullopt;
    std::vector<KnownOutput> outputs = OutputsOf(commitment, view);
    return Recognized{.classification = {.kind = kind, .commitment_number = number, .per_commitment_point = point},
                      .spec = view.spec,
                      .keys = keys,
                      .rebuilt = std::move(commitment),
                      .outputs = std::move(outputs),
                      .unmatched = {}};
}

Bytes ToRemoteScriptPubKey(CommitmentFormat format, const PubKey& remote_payment)
{
    return HasAnchors(format) ? P2wshScript(ToRemoteAnchorScript(remote_payment)).Data() : P2wpkhScript(remote_payment).Data();
}

Script HtlcScriptOf(const Htlc& htlc, const CommitmentKeys& keys, CommitmentFormat format)
{
    // Keys are set: derived with HtlcKeys::ALWAYS.
    const bool anchors = HasAnchors(format);
    return htlc.direction == HtlcDirection::OFFERED
               ? OfferedHtlcScript(keys.revocation, *keys.local_htlc, *keys.remote_htlc, htlc.payment_hash, anchors)
               : ReceivedHtlcScript(keys.revocation, *keys.local_htlc, *keys.remote_htlc, htlc.payment_hash,
                                    htlc.cltv_expiry, anchors);
}

//! Which outputs of a peer commitment we can recognize by script alone.
struct PeerScripts {
    //! The peer's to_local: only with its per_commitment_point.
    std::optional<Script> to_local;
    //! Our to_remote scriptPubKey: unknown with a rotating key and no point.
    std::optional<Bytes> to_remote;
    //! Whether to_remote's script depends on the point (not with option_static_remotekey).
    bool to_remote_rotates{false};
    Script our_anchor;
    Script their_anchor;
    //! Logged HTLCs (holder's view) and their scripts.
    std::vector<std::pair<Htlc, Script>> htlcs;
};

struct ScriptMatch {
    std::vector<KnownOutput> outputs;
    std::vector<uint32_t> unmatched;
    //! An output whose script only this commitment's per_commitment_point gives was found.
    bool point_bound{false};
};

std::optional<KnownOutput> MatchOutput(const TxOut& out, uint32_t index, PeerScripts& scripts, bool& point_bound)
{
    const auto make = [&](CommitmentOutputKind kind, Script script, std::optional<Htlc> htlc = std::nullopt) {
        return KnownOutput{.index = index, .kind = kind, .witness_script = std::move(script), .htlc = htlc, .key = std::nullopt};
    };
    if (scripts.to_local && out.script_pubkey == P2wshScript(*scripts.to_local).Data()) {
        point_bound = true;
        return make(CommitmentOutputKind::TO_LOCAL, *scripts.to_local);
    }
    if (scripts.to_remote && out.script_pubkey == *scripts.to_remote) {
        point_bound = point_bound || scripts.to_remote_rotates;
        return make(CommitmentOutputKind::TO_REMOTE, Script{});
    }
    if (out.value == ToTxValue(ANCHOR_OUTPUT_SAT) && out.script_pubkey == P2wshScript(scripts.our_anchor).Data()) {
        return make(CommitmentOutputKind::REMOTE_ANCHOR, scripts.our_anchor);
    }
    if (out.value == ToTxValue(ANCHOR_OUTPUT_SAT) && out.script_pubkey == P2wshScript(scripts.their_anchor).Data()) {
        return make(CommitmentOutputKind::LOCAL_ANCHOR, scripts.their_anchor);
    }
    for (auto it = scripts.htlcs.begin(); it != scripts.htlcs.end(); ++it) {
        // BOLT 3: an HTLC output carries the amount "rounded down to whole satoshis".
        if (out.value != ToTxValue(ToSatFloor(it->first.amount_msat)) || out.script_pubkey != P2wshScript(it->second).Data()) {
            continue;
        }
        KnownOutput known = make(it->first.direction == HtlcDirection::OFFERED ? CommitmentOutputKind::OFFERED_HTLC
                                                                               : CommitmentOutputKind::RECEIVED_HTLC,
                                 it->second, it->first);
        // Two HTLCs with one script each take one output.
        scripts.htlcs.erase(it);
        point_bound = true;
        return known;
    }
    return std::nullopt;
}

ScriptMatch MatchPeerOutputs(const Transaction& tx, PeerScripts scripts)
{
    ScriptMatch match;
    for (size_t i = 0; i < tx.vout.size(); ++i) {
        const auto index = static_cast<uint32_t>(i);
        if (auto known = MatchOutput(tx.vout[i], index, scripts, match.point_bound)) {
            match.outputs.push_back(std::move(*known));
        } else {
            match.unmatched.push_back(index);
        }
    }
    return match;
}

//! The spec and keys of a peer commitment we cannot rebuild (no balances, no HTLCs): enough
//! for its scripts.
CommitmentSpec PeerSpec(const ChannelState& state, uint64_t number, const PubKey& point)
{
    return MakeCommitmentSpec(state.setup.params, Side::REMOTE, number, point, state.feerate_per_kw, Msat{0}, Msat{0}, {});
}

PeerScripts ScriptsOf(const ChannelState& state, const CommitmentSpec& spec, const CommitmentKeys& keys, bool point_known)
{
    const ChannelParams& params = state.setup.params;
    PeerScripts scripts{
        .to_local = point_known ? std::optional{ToLocalScript(keys.revocation, spec.to_self_delay, keys.local_delayed)}
                                : std::nullopt,
        .to_remote = ToRemoteScriptPubKey(params.format, keys.remote_payment),
        .to_remote_rotates = !HasStaticRemoteKey(params.format),
        .our_anchor = AnchorScript(params.local.funding_pubkey),
        .their_anchor = AnchorScript(params.remote.funding_pubkey),
        .htlcs = {},
    };
    return scripts;
}

std::optional<Recognized> RecognizeRevoked(const Transaction& tx, const ChannelState& state, uint64_t number,
                                           const ResolveContext& context)
{
    const std::optional<Secret<32>> secret = state.remote_secrets.Lookup(CommitmentIndex(number));
    if (!secret) return std::nullopt;
    const PubKey point = PerCommitmentPoint(*secret);
    const CommitmentSpec spec = PeerSpec(state, number, point);
    const CommitmentKeys keys = DeriveCommitmentKeys(spec, HtlcKeys::ALWAYS);
    PeerScripts scripts = ScriptsOf(state, spec, keys, true);
    for (const RevokedCommitmentHtlcs& log : context.revoked_htlcs) {
        if (log.commitment_number != number) continue;
        for (const LoggedHtlc& logged : log.htlcs) {
            // The peer holds this commitment: an HTLC it offered is OFFERED there.
            const Htlc htlc{.direction = logged.offerer == Side::REMOTE ? HtlcDirection::OFFERED : HtlcDirection::RECEIVED,
                            .amount_msat = logged.amount_msat,
                            .payment_hash = logged.payment_hash,
                            .cltv_expiry = logged.cltv_expiry};
            scripts.htlcs.emplace_back(htlc, HtlcScriptOf(htlc, keys, spec.format));
        }
    }
    ScriptMatch match = MatchPeerOutputs(tx, std::move(scripts));
    // Our static to_remote or an anchor is in every commitment: only a script of this point
    // proves the number.
    if (!match.point_bound) return std::nullopt;
    return Recognized{.classification = {.kind = SpendKind::REVOKED_REMOTE_COMMITMENT, .commitment_number = number, .per_commitment_point = point},
                      .spec = spec,
                      .keys = keys,
                      .rebuilt = std::nullopt,
                      .outputs = std::move(match.outputs),
                      .unmatched = std::move(match.unmatched)};
}

/**
 * Our own commitment `number`, revoked: its to_local script, made from that number's point,
 * proves it (a to_local trimmed away leaves it unknown). Nothing of it is ours, so the
 * Recognized carries no spec and Resolve gives no duties.
 */
std::optional<Recognized> RecognizeOwnRevoked(const Transaction& tx, const ChannelState& state, const ChannelSigner& signer,
                                              uint64_t number)
{
    const PubKey point = signer.PerCommitmentPoint(number);
    const CommitmentSpec spec = MakeCommitmentSpec(state.setup.params, Side::LOCAL, number, point, state.feerate_per_kw, Msat{0},
                                                   Msat{0}, {});
    const CommitmentKeys keys = DeriveCommitmentKeys(spec, HtlcKeys::ALWAYS);
    const Bytes to_local = P2wshScript(ToLocalScript(keys.revocation, spec.to_self_delay, keys.local_delayed)).Data();
    if (std::ranges::none_of(tx.vout, [&](const TxOut& out) { return out.script_pubkey == to_local; })) return std::nullopt;
    return Recognized{.classification = {.kind = SpendKind::REVOKED_LOCAL_COMMITMENT, .commitment_number = number, .per_commitment_point = point},
                      .spec = std::nullopt,
                      .keys = std::nullopt,
                      .rebuilt = std::nullopt,
                      .outputs = {},
                      .unmatched = {}};
}

//! Whether the funding input's witness carries our valid signature on the transaction.
bool SignedByUs(const Transaction& tx, const ChannelParams& params)
{
    const std::vector<Bytes>& witness = tx.vin[0].witness;
    const Script funding_script = FundingScript(params.local.funding_pubkey, params.remote.funding_pubkey);
    // `0 <signature_for_pubkey1> <signature_for_pubkey2> <script>`.
    if (witness.size() != 4 || witness[3] != funding_script.Data()) return false;
    return std::any_of(witness.begin() + 1, witness.begin() + 3, [&](const Bytes& item) {
        if (item.empty() || item.back() != SIGHASH_ALL) return false;
        const std::optional<EcdsaSignature> signature = EcdsaSignature::FromDer({item.data(), item.size() - 1});
        return signature && VerifyFundingSignature(tx, funding_script, params.funding_sat, params.local.funding_pubkey, *signature);
    });
}

std::optional<Recognized> RecognizeFuture(const Transaction& tx, const ChannelState& state, uint64_t number)
{
    // BOLT 5: "It can detect the data loss state, because it has signed the transaction, and
    // the commitment number is greater than expected."
    if (!SignedByUs(tx, state.setup.params)) return std::nullopt;
    // "If both nodes support option_data_loss_protect, the local node will possess the
    // remote's per_commitment_point, and thus can derive its own remotepubkey". Without it
    // only option_static_remotekey's to_remote is found (the placeholder point matches nothing
    // else: to_local is not looked for, and a rotating to_remote key then matches nothing).
    const std::optional<PubKey>& point = state.remote_point_after_data_loss;
    const CommitmentSpec spec = PeerSpec(state, number, point.value_or(state.remote_per_commitment_point));
    const CommitmentKeys keys = DeriveCommitmentKeys(spec, HtlcKeys::ALWAYS);
    PeerScripts scripts = ScriptsOf(state, spec, keys, point.has_value());
    if (!point && scripts.to_remote_rotates) scripts.to_remote.reset();
    ScriptMatch match = MatchPeerOutputs(tx, std::move(scripts));
    return Recognized{.classification = {.kind = SpendKind::FUTURE_REMOTE_COMMITMENT, .commitment_number = number, .per_commitment_point = point},
                      .spec = spec,
                      .keys = keys,
                      .rebuilt = std::nullopt,
                      .outputs = std::move(match.outputs),
                      .unmatched = {}};
}

std::optional<Recognized> RecognizeCommitment(const Transaction& tx, const ChannelState& state, const ChannelSigner& signer,
                                              const ResolveContext& context)
{
    const std::optional<uint64_t> number = ClaimedCommitmentNumber(tx, state.setup.params);
    if (!number) return std::nullopt;
    const Hash256 txid = tx.GetTxid();
    std::optional<Recognized> found;
    if (*number == state.local_commitment_number) {
        found = Rebuild(state, Side::LOCAL, *number, signer.PerCommitmentPoint(*number), txid, SpendKind::LOCAL_COMMITMENT);
    }
    if (!found && *number == state.remote_commitment_number) {
        found = Rebuild(state, Side::REMOTE, *number, state.remote_per_commitment_point, txid,
                        state.AwaitingRevocation() ? SpendKind::REMOTE_PENDING_COMMITMENT : SpendKind::REMOTE_COMMITMENT);
    }
    // While we await its revoke_and_ack the peer may still broadcast the one before.
    if (!found && state.AwaitingRevocation() && *number + 1 == state.remote_commitment_number) {
        found = Rebuild(state, Side::REMOTE, *number, *state.remote_prev_per_commitment_point, txid, SpendKind::REMOTE_COMMITMENT);
    }
    if (found) return found;
    if (*number < state.IrrevocableRemoteCommitment()) found = RecognizeRevoked(tx, state, *number, context);
    if (!found && *number > state.remote_commitment_number) found = RecognizeFuture(tx, state, *number);
    // Local and remote numbers overlap: ours is tried once the peer's did not match.
    if (!found && *number < state.local_commitment_number) found = RecognizeOwnRevoked(tx, state, signer, *number);
    return found;
}

bool IsMutualClose(const Transaction& tx, const ChannelState& state, const ResolveContext& context)
{
    if (tx.vin.size() != 1 || tx.vout.empty()) return false;
    std::vector<Bytes> scripts = context.shutdown_scripts;
    for (const auto& upfront : {state.setup.local_upfront_shutdown_script, state.setup.remote_upfront_shutdown_script}) {
        if (upfront) scripts.push_back(upfront->Data());
    }
    return std::ranges::all_of(tx.vout, [&](const TxOut& out) { return std::ranges::find(scripts, out.script_pubkey) != scripts.end(); });
}

Recognized Recognize(const Transaction& tx, const ChannelState& state, const ChannelSigner& signer, const ResolveContext& context)
{
    // BOLT 5: "SHOULD ignore invalid transactions".
    if (!HasValidValues(tx) || !SpendsFunding(tx, state.setup.params)) return Recognized{};
    if (auto commitment = RecognizeCommitment(tx, state, signer, context)) return std::move(*commitment);
    if (IsMutualClose(tx, state, context)) {
        // BOLT 5: "In the case of a mutual close, a node need not do anything else".
        return Recognized{.classification = {.kind = SpendKind::MUTUAL_CLOSE, .commitment_number = std::nullopt, .per_commitment_point = std::nullopt},
                          .spec = std::nullopt,
                          .keys = std::nullopt,
                          .rebuilt = std::nullopt,
                          .outputs = {},
                          .unmatched = {}};
    }
    return Recognized{};
}

// ---- Duties -------------------------------------------------------------------------------

//! The anchors' `1 OP_CSV` on to_remote and on the non-revocation HTLC branches.
uint16_t AnchorCsv(CommitmentFormat format) { return HasAnchors(format) ? 1 : 0; }

std::optional<Hash256> FindPreimage(const ChannelState& state, const ResolveContext& context, const Hash256& payment_hash)
{
    for (const Hash256& preimage : context.preimages) {
        if (Sha256(preimage) == payment_hash) return preimage;
    }
    for (const ChannelHtlc& htlc : state.htlcs) {
        if (htlc.payment_hash != payment_hash) continue;
        if (htlc.removal && htlc.removal->kind == HtlcRemovalKind::FULFILL) return htlc.removal->preimage;
        if (htlc.known_preimage) return htlc.known_preimage;
    }
    return std::nullopt;
}

/**
 * BOLT 5 for an HTLC offered to us: "if the remote node is NOT irrevocably committed to the
 * HTLC: MUST NOT resolve the output by spending it". It is once the peer signed it into our
 * commitment and revoked its own commitments that lacked it.
 */
bool PeerIrrevocablyCommitted(const ChannelState& state, const std::optional<HtlcKey>& key)
{
    if (!key) return false;
    const ChannelHtlc* htlc = state.FindHtlc(key->offerer, key->id);
    return htlc && htlc->added.local_commitment && htlc->added.remote_commitment &&
           *htlc->added.remote_commitment <= state.IrrevocableRemoteCommitment();
}

OutputDuty DutyOf(DutyKind kind, const KnownOutput& out, const Transaction& spend)
{
    OutputDuty duty{.kind = kind,
                    .output_index = out.index,
                    // Checked by Recognize (HasValidValues).
                    .amount = SatFromTxValue(spend.vout[out.index].value),
                    .witness_script = out.witness_script,
                    .spendable_height = 0,
                    .csv_delay = 0,
                    .payment_hash = std::nullopt,
                    .cltv_expiry = std::nullopt,
                    .tx = std::nullopt};
    if (out.htlc) {
        duty.payment_hash = out.htlc->payment_hash;
        duty.cltv_expiry = out.htlc->cltv_expiry;
    }
    return duty;
}

//! What each of our commitment's outputs needs, with its HTLC transactions signed.
class LocalResolver
{
public:
    LocalResolver(const Transaction& spend, const ChannelState& state, const ChannelSigner& signer,
                  const ResolveContext& context, const Recognized& recognized)
        : m_spend(spend), m_state(state), m_signer(signer), m_context(context), m_spec(*recognized.spec),
          m_htlc_txs(BuildHtlcTxs(*recognized.rebuilt, m_spec, *recognized.keys)),
          m_delayed_key(DerivePrivKey(signer.DelayedPaymentBasepointSecret(), signer.GetBasepoints().delayed_payment,
                                      m_spec.per_commitment_point))
    {
    }

    std::optional<OutputDuty> Duty(const KnownOutput& out) const
    {
        switch (out.kind) {
        case CommitmentOutputKind::TO_LOCAL: {
            // BOLT 5: "MUST wait until the OP_CHECKSEQUENCEVERIFY delay has passed (as specified
            // by the remote node's to_self_delay field) before spending the output."
            OutputDuty duty = DutyOf(DutyKind::LOCAL_DELAYED, out, m_spend);
            duty.csv_delay = m_spec.to_self_delay;
            duty.tx = BuildDelayedSweep({m_spend.GetTxid(), out.index}, duty.amount, out.witness_script, m_spec.to_self_delay,
                                        m_delayed_key, m_context.target);
            return duty;
        }
        case CommitmentOutputKind::LOCAL_ANCHOR:
            // BOLT 5: "MUST spend any to_local_anchor output, providing sufficient fees".
            return DutyOf(DutyKind::ANCHOR, out, m_spend);
        case CommitmentOutputKind::OFFERED_HTLC: return HtlcDuty(out, DutyKind::LOCAL_HTLC_TIMEOUT);
        case CommitmentOutputKind::RECEIVED_HTLC: return HtlcDuty(out, DutyKind::LOCAL_HTLC_SUCCESS);
        case CommitmentOutputKind::TO_REMOTE:
            // BOLT 5: "MAY ignore the to_remote output": it is the peer's.
        case CommitmentOutputKind::REMOTE_ANCHOR: return std::nullopt;
        }
        return std::nullopt;
    }

private:
    OutputDuty HtlcDuty(const KnownOutput& out, DutyKind kind) const
    {
        OutputDuty duty = DutyOf(kind, out, m_spend);
        duty.csv_delay = AnchorCsv(m_spec.format);
        const bool timeout = kind == DutyKind::LOCAL_HTLC_TIMEOUT;
        // "The HTLC output has *timed out* once the height of the latest block is equal to or
        // greater than the HTLC cltv_expiry" (the HTLC-timeout transaction's locktime).
        if (timeout) duty.spendable_height = out.htlc->cltv_expiry;
        const auto position = std::ranges::find_if(m_htlc_txs, [&](const HtlcTx& h) { return h.commitment_output == out.index; });
        const auto signature_index = static_cast<size_t>(position - m_htlc_txs.begin());
        // A state whose signatures do not match its commitment cannot sign: the duty stays.
        if (position == m_htlc_txs.end() || m_state.local_htlc_signatures.size() != m_htlc_txs.size()) return duty;
        std::optional<Hash256> preimage;
        if (!timeout) {
            // BOLT 5: "if it receives (or already possesses) a payment preimage ... MUST
            // resolve the output by spending it, using the HTLC-success transaction".
            preimage = FindPreimage(m_state, m_context, out.htlc->payment_hash);
            if (!preimage || !PeerIrrevocablyCommitted(m_state, out.key)) return duty;
        }
        HtlcTx htlc_tx = *position;
        const PrivKey htlc_key = DerivePrivKey(m_signer.HtlcBasepointSecret(), m_signer.GetBasepoints().htlc,
                                               m_spec.per_commitment_point);
        const uint8_t remote_type = CounterpartyHtlcSigHashType(m_spec.format);
        const EcdsaSignature& remote = m_state.local_htlc_signatures[signature_index];
        const EcdsaSignature local = SignHtlcTx(htlc_tx, htlc_key, SIGHASH_ALL);
        if (timeout) {
            SetHtlcTimeoutWitness(htlc_tx, remote, remote_type, local);
        } else {
            SetHtlcSuccessWitness(htlc_tx, remote, remote_type, local, *preimage);
        }
        duty.tx = std::move(htlc_tx.tx);
        return duty;
    }

    const Transaction& m_spend;
    const ChannelState& m_state;
    const ChannelSigner& m_signer;
    const ResolveContext& m_context;
    const CommitmentSpec& m_spec;
    const std::vector<HtlcTx> m_htlc_txs;
    const PrivKey m_delayed_key;
};

PrivKey RevocationKeyOf(const ChannelState& state, const ChannelSigner& signer, uint64_t number)
{
    // Recognize found this secret: it is a valid scalar (its point gave the scripts).
    const auto secret = PrivKey::FromBytes(state.remote_secrets.Lookup(CommitmentIndex(number)).value().span());
    return DeriveRevocationPrivKey(signer.RevocationBasepointSecret(), secret.value());
}

//! What each output of a commitment of the peer needs.
class PeerResolver
{
public:
    PeerResolver(const Transaction& spend, const ChannelState& state, const ChannelSigner& signer,
                 const ResolveContext& context, const Recognized& recognized)
        : m_spend(spend), m_state(state), m_context(context), m_format(state.setup.params.format),
          m_payment_key(PaymentKey(signer, recognized.spec->per_commitment_point, m_format)),
          m_htlc_key(DerivePrivKey(signer.HtlcBasepointSecret(), signer.GetBasepoints().htlc, recognized.spec->per_commitment_point))
    {
        if (recognized.classification.kind == SpendKind::REVOKED_REMOTE_COMMITMENT) {
            m_revocation_key = RevocationKeyOf(state, signer, *recognized.classification.commitment_number);
        }
    }

    std::optional<OutputDuty> Duty(const KnownOutput& out) const
    {
        const OutPoint outpoint{m_spend.GetTxid(), out.index};
        switch (out.kind) {
        case CommitmentOutputKind::TO_REMOTE: {
            OutputDuty duty = DutyOf(DutyKind::TO_REMOTE, out, m_spend);
            duty.csv_delay = AnchorCsv(m_format);
            duty.tx = BuildToRemoteSweep(outpoint, duty.amount, m_format, m_payment_key, m_context.target);
            return duty;
        }
        case CommitmentOutputKind::REMOTE_ANCHOR: return DutyOf(DutyKind::ANCHOR, out, m_spend);
        case CommitmentOutputKind::TO_LOCAL:
            // BOLT 5: "MUST *resolve* the _remote node's main output_ by spending it using the
            // revocation private key"; unrevoked, it is the peer's ("MAY take no action").
            if (!m_revocation_key) return std::nullopt;
            return Penalty(out, DutyKind::PENALTY_TO_LOCAL);
        case CommitmentOutputKind::OFFERED_HTLC:
            // BOLT 5: "MUST *resolve* the _remote node's offered HTLCs ... using the payment
            // revocation private key".
            if (m_revocation_key) return Penalty(out, DutyKind::PENALTY_HTLC);
            return PreimageClaim(out);
        case CommitmentOutputKind::RECEIVED_HTLC:
            // "MUST *resolve* the _local node's offered HTLCs ... using the payment revocation
            // private key".
            if (m_revocation_key) return Penalty(out, DutyKind::PENALTY_HTLC);
            return TimeoutClaim(out);
        case CommitmentOutputKind::LOCAL_ANCHOR: return std::nullopt;
        }
        return std::nullopt;
    }

    //! Revoked: one transaction for to_local and every HTLC output ("MAY use a single
    //! transaction to *resolve* all the outputs").
    std::optional<Transaction> BatchedPenalty(const Recognized& recognized) const
    {
        std::vector<RevokedOutput> revoked;
        for (const KnownOutput& out : recognized.outputs) {
            if (auto output = RevokedOutputOf(out)) revoked.push_back(std::move(*output));
        }
        if (revoked.empty()) return std::nullopt;
        return BuildPenaltyTx(revoked, *m_revocation_key, m_context.target);
    }

private:
    static PrivKey PaymentKey(const ChannelSigner& signer, const PubKey& point, CommitmentFormat format)
    {
        // option_static_remotekey: remotepubkey is our payment_basepoint itself.
        if (HasStaticRemoteKey(format)) return signer.PaymentBasepointSecret();
        return DerivePrivKey(signer.PaymentBasepointSecret(), signer.GetBasepoints().payment, point);
    }

    //! The cheater's outputs the revocation key spends.
    std::optional<RevokedOutput> RevokedOutputOf(const KnownOutput& out) const
    {
        RevokedOutputKind kind;
        switch (out.kind) {
        case CommitmentOutputKind::TO_LOCAL: kind = RevokedOutputKind::TO_LOCAL; break;
        case CommitmentOutputKind::OFFERED_HTLC: kind = RevokedOutputKind::OFFERED_HTLC; break;
        case CommitmentOutputKind::RECEIVED_HTLC: kind = RevokedOutputKind::RECEIVED_HTLC; break;
        default: return std::nullopt;
        }
        return RevokedOutput{{m_spend.GetTxid(), out.index}, SatFromTxValue(m_spend.vout[out.index].value), kind, out.witness_script};
    }

    OutputDuty Penalty(const KnownOutput& out, DutyKind kind) const
    {
        OutputDuty duty = DutyOf(kind, out, m_spend);
        const RevokedOutput revoked = RevokedOutputOf(out).value();
        // Each alone as well: BOLT 5 "SHOULD *resolve* revoked outputs in their own, separate
        // penalty transactions" near expiry, when a batch may be pinned.
        duty.tx = BuildPenaltyTx({&revoked, 1}, *m_revocation_key, m_context.target);
        return duty;
    }

    OutputDuty PreimageClaim(const KnownOutput& out) const
    {
        OutputDuty duty = DutyOf(DutyKind::REMOTE_HTLC_SUCCESS, out, m_spend);
        duty.csv_delay = AnchorCsv(m_format);
        const std::optional<Hash256> preimage = FindPreimage(m_state, m_context, out.htlc->payment_hash);
        // BOLT 5: "if the remote node is NOT irrevocably committed to the HTLC: MUST NOT
        // *resolve* the output by spending it".
        if (!preimage || !PeerIrrevocablyCommitted(m_state, out.key)) return duty;
        const RemoteHtlcOutput htlc{{m_spend.GetTxid(), out.index}, duty.amount, out.witness_script, out.htlc->cltv_expiry};
        duty.tx = BuildHtlcPreimageClaim(htlc, m_format, m_htlc_key, *preimage, m_context.target);
        return duty;
    }

    OutputDuty TimeoutClaim(const KnownOutput& out) const
    {
        // BOLT 5: "if the commitment transaction HTLC output has *timed out* AND NOT been
        // *resolved*: MUST *resolve* the output, by spending it to a convenient address".
        OutputDuty duty = DutyOf(DutyKind::REMOTE_HTLC_TIMEOUT, out, m_spend);
        duty.csv_delay = AnchorCsv(m_format);
        duty.spendable_height = out.htlc->cltv_expiry;
        const RemoteHtlcOutput htlc{{m_spend.GetTxid(), out.index}, duty.amount, out.witness_script, out.htlc->cltv_expiry};
        duty.tx = BuildHtlcTimeoutClaim(htlc, m_format, m_htlc_key, m_context.target);
        return duty;
    }

    const Transaction& m_spend;
    const ChannelState& m_state;
    const ResolveContext& m_context;
    const CommitmentFormat m_format;
    const PrivKey m_payment_key;
    const PrivKey m_htlc_key;
    std::optional<PrivKey> m_revocation_key;
};

template <typename Resolver>
std::vector<OutputDuty> DutiesOf(const Resolver& resolver, const Recognized& recognized)
{
    std::vector<OutputDuty> duties;
    for (const KnownOutput& out : recognized.outputs) {
        if (auto duty = resolver.Duty(out)) duties.push_back(std::move(*duty));
    }
    return duties;
}

//! The inputs of `tx` spending outputs of the resolved commitment with one of `kinds`:
//! (input index, duty).
std::vector<std::pair<size_t, const OutputDuty*>> InputsSpendingDuties(const Resolution& resolution, const Transaction& tx,
                                                                       std::initializer_list<DutyKind> kinds)
{
    std::vector<std::pair<size_t, const OutputDuty*>> found;
    for (size_t i = 0; i < tx.vin.size(); ++i) {
        const OutPoint& prevout = tx.vin[i].prevout;
        if (prevout.txid != resolution.txid) continue;
        const OutputDuty* duty = resolution.DutyFor(prevout.n);
        if (duty && std::ranges::find(kinds, duty->kind) != kinds.end()) found.emplace_back(i, duty);
    }
    return found;
}

//! Outputs of a second-stage transaction paying the holder's to_local-shaped script: output i
//! for input i (SIGHASH_SINGLE keeps them paired when HTLC transactions are aggregated).
std::vector<std::pair<uint32_t, Sat>> SecondStageOutputs(const Resolution& resolution, const Transaction& tx,
                                                         std::initializer_list<DutyKind> kinds)
{
    const Bytes script_pubkey = P2wshScript(resolution.second_stage_script).Data();
    std::vector<std::pair<uint32_t, Sat>> outputs;
    for (const auto& [input, duty] : InputsSpendingDuties(resolution, tx, kinds)) {
        if (input >= tx.vout.size() || tx.vout[input].script_pubkey != script_pubkey) continue;
        if (const std::optional<Sat> amount = OutputAmount(tx.vout[input])) outputs.emplace_back(static_cast<uint32_t>(input), *amount);
    }
    return outputs;
}
} // namespace

std::optional<Transaction> SignFundedHtlcTx(const OutputDuty& duty, Transaction funded, const Resolution& resolution,
                                            const ChannelSigner& signer)
{
    if (!duty.tx || !resolution.classification.per_commitment_point) return std::nullopt;
    if (duty.kind != DutyKind::LOCAL_HTLC_TIMEOUT && duty.kind != DutyKind::LOCAL_HTLC_SUCCESS) return std::nullopt;
    const Transaction& htlc_tx = *duty.tx;
    if (funded.version != htlc_tx.version || funded.locktime != htlc_tx.locktime || funded.vin.empty() ||
        funded.vout.empty() || funded.vin[0].prevout != htlc_tx.vin[0].prevout ||
        funded.vin[0].sequence != htlc_tx.vin[0].sequence || funded.vout[0] != htlc_tx.vout[0]) {
        return std::nullopt;
    }
    // Witness: 0 <remotehtlcsig> <localhtlcsig> <payment_preimage or empty> <witness script>.
    std::vector<Bytes> witness = htlc_tx.vin[0].witness;
    if (witness.size() != 5) return std::nullopt;
    const PrivKey htlc_key = DerivePrivKey(signer.HtlcBasepointSecret(), signer.GetBasepoints().htlc,
                                           *resolution.classification.per_commitment_point);
    const SigHashCache cache(funded);
    witness[2] = SignInputV0(htlc_key, funded, 0, duty.witness_script.span(), ToTxValue(duty.amount), SIGHASH_ALL, cache);
    funded.vin[0].witness = std::move(witness);
    return funded;
}

std::optional<uint64_t> ClaimedCommitmentNumber(const Transaction& tx, const ChannelParams& params)
{
    if (tx.vin.size() != 1) return std::nullopt;
    const auto obscured = ObscuredCommitmentNumber(tx.locktime, tx.vin[0].sequence);
    if (!obscured) return std::nullopt;
    const bool local_opens = params.opener == Side::LOCAL;
    const PubKey& opener = local_opens ? params.local.basepoints.payment : params.remote.basepoints.payment;
    const PubKey& acceptor = local_opens ? params.remote.basepoints.payment : params.local.basepoints.payment;
    return *obscured ^ CommitmentNumberObscurer(opener, acceptor);
}

std::string_view SpendKindName(SpendKind kind)
{
    switch (kind) {
    case SpendKind::MUTUAL_CLOSE: return "mutual_close";
    case SpendKind::LOCAL_COMMITMENT: return "local_commitment";
    case SpendKind::REMOTE_COMMITMENT: return "remote_commitment";
    case SpendKind::REMOTE_PENDING_COMMITMENT: return "remote_pending_commitment";
    case SpendKind::REVOKED_REMOTE_COMMITMENT: return "revoked_remote_commitment";
    case SpendKind::REVOKED_LOCAL_COMMITMENT: return "revoked_local_commitment";
    case SpendKind::FUTURE_REMOTE_COMMITMENT: return "future_remote_commitment";
    case SpendKind::UNKNOWN: return "unknown";
    }
    return "?";
}

std::string_view DutyKindName(DutyKind kind)
{
    switch (kind) {
    case DutyKind::LOCAL_DELAYED: return "local_delayed";
    case DutyKind::TO_REMOTE: return "to_remote";
    case DutyKind::ANCHOR: return "anchor";
    case DutyKind::LOCAL_HTLC_TIMEOUT: return "local_htlc_timeout";
    case DutyKind::LOCAL_HTLC_SUCCESS: return "local_htlc_success";
    case DutyKind::REMOTE_HTLC_TIMEOUT: return "remote_htlc_timeout";
    case DutyKind::REMOTE_HTLC_SUCCESS: return "remote_htlc_success";
    case DutyKind::PENALTY_TO_LOCAL: return "penalty_to_local";
    case DutyKind::PENALTY_HTLC: return "penalty_htlc";
    }
    return "?";
}

RevokedCommitmentHtlcs LogRemoteCommitmentHtlcs(const ChannelState& state)
{
    const CommitmentView view = RemoteCommitmentView(state);
    RevokedCommitmentHtlcs log{.commitment_number = state.remote_commitment_number, .htlcs = {}};
    for (size_t i = 0; i < view.htlcs.size(); ++i) {
        const Htlc& htlc = view.spec.htlcs[i];
        log.htlcs.push_back(LoggedHtlc{.offerer = view.htlcs[i].offerer,
                                       .amount_msat = htlc.amount_msat,
                                       .payment_hash = htlc.payment_hash,
                                       .cltv_expiry = htlc.cltv_expiry});
    }
    return log;
}

Classification Classify(const Transaction& spend, const ChannelState& state, const ChannelSigner& signer,
                        const ResolveContext& context)
{
    return Recognize(spend, state, signer, context).classification;
}

const OutputDuty* Resolution::DutyFor(uint32_t output_index) const
{
    const auto it = std::ranges::find_if(duties, [&](const OutputDuty& duty) { return duty.output_index == output_index; });
    return it == duties.end() ? nullptr : &*it;
}

Resolution Resolve(const Transaction& spend, const ChannelState& state, const ChannelSigner& signer,
                   const ResolveContext& context)
{
    Recognized recognized = Recognize(spend, state, signer, context);
    Resolution resolution{.classification = recognized.classification,
                          .txid = spend.GetTxid(),
                          .duties = {},
                          .penalty_tx = std::nullopt,
                          .unmatched_outputs = std::move(recognized.unmatched),
                          .second_stage_script = {}};
    if (!recognized.spec) return resolution;
    const CommitmentSpec& spec = *recognized.spec;
    const CommitmentKeys& keys = *recognized.keys;
    resolution.second_stage_script = ToLocalScript(keys.revocation, spec.to_self_delay, keys.local_delayed);
    if (recognized.classification.kind == SpendKind::LOCAL_COMMITMENT) {
        resolution.duties = DutiesOf(LocalResolver(spend, state, signer, context, recognized), recognized);
        return resolution;
    }
    const PeerResolver resolver(spend, state, signer, context, recognized);
    resolution.duties = DutiesOf(resolver, recognized);
    if (recognized.classification.kind == SpendKind::REVOKED_REMOTE_COMMITMENT) {
        resolution.penalty_tx = resolver.BatchedPenalty(recognized);
    }
    return resolution;
}

std::vector<Transaction> SweepSecondStage(const Resolution& resolution, const Transaction& htlc_tx, const ChannelState& state,
                                          const ChannelSigner& signer, const SweepTarget& target)
{
    if (resolution.classification.kind != SpendKind::LOCAL_COMMITMENT || !HasValidValues(htlc_tx)) return {};
    const PrivKey delayed_key = DerivePrivKey(signer.DelayedPaymentBasepointSecret(), signer.GetBasepoints().delayed_payment,
                                              resolution.classification.per_commitment_point.value());
    // BOLT 5: "MUST wait until the OP_CHECKSEQUENCEVERIFY delay has passed (as specified by the
    // remote node's open_channel to_self_delay field) before spending that HTLC-timeout output".
    const uint16_t to_self_delay = state.setup.params.remote.to_self_delay;
    std::vector<Transaction> sweeps;
    const Hash256 txid = htlc_tx.GetTxid();
    for (const auto& [index, amount] :
         SecondStageOutputs(resolution, htlc_tx, {DutyKind::LOCAL_HTLC_TIMEOUT, DutyKind::LOCAL_HTLC_SUCCESS})) {
        if (auto sweep = BuildDelayedSweep({txid, index}, amount, resolution.second_stage_script, to_self_delay, delayed_key, target)) {
            sweeps.push_back(std::move(*sweep));
        }
    }
    return sweeps;
}

std::optional<Transaction> PenalizeSecondStage(const Resolution& resolution, const Transaction& second_stage,
                                               const ChannelState& state, const ChannelSigner& signer, const SweepTarget& target)
{
    if (resolution.classification.kind != SpendKind::REVOKED_REMOTE_COMMITMENT || !HasValidValues(second_stage)) {
        return std::nullopt;
    }
    std::vector<RevokedOutput> revoked;
    const Hash256 txid = second_stage.GetTxid();
    for (const auto& [index, amount] : SecondStageOutputs(resolution, second_stage, {DutyKind::PENALTY_HTLC})) {
        revoked.push_back(RevokedOutput{{txid, index}, amount, RevokedOutputKind::SECOND_STAGE, resolution.second_stage_script});
    }
    if (revoked.empty()) return std::nullopt;
    // BOLT 5: "MUST *resolve* the _remote node's HTLC-timeout transaction_ by spending it using
    // the revocation private key" (and likewise its HTLC-success transaction).
    const PrivKey revocation_key = RevocationKeyOf(state, signer, resolution.classification.commitment_number.value());
    return BuildPenaltyTx(revoked, revocation_key, target);
}

std::vector<Hash256> ExtractPreimages(const Resolution& resolution, const Transaction& spending_tx)
{
    std::vector<Hash256> preimages;
    const auto htlc_kinds = {DutyKind::LOCAL_HTLC_TIMEOUT, DutyKind::LOCAL_HTLC_SUCCESS, DutyKind::REMOTE_HTLC_TIMEOUT,
                             DutyKind::REMOTE_HTLC_SUCCESS, DutyKind::PENALTY_HTLC};
    for (const auto& [input, duty] : InputsSpendingDuties(resolution, spending_tx, htlc_kinds)) {
        for (const Bytes& item : spending_tx.vin[input].witness) {
            if (item.size() != PREIMAGE_SIZE || Sha256(item) != *duty->payment_hash) continue;
            Hash256 preimage{};
            std::ranges::copy(item, preimage.begin());
            preimages.push_back(preimage);
        }
    }
    return preimages;
}

} // namespace sidebolt
