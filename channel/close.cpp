#include "channel/close.h"

#include "channel/closing.h"
#include "channel/funding.h"
#include "channel/scripts.h"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace sidebolt {
namespace {

constexpr size_t kHashLen = 20;
constexpr size_t kWitnessScriptHashLen = 32;
//! Witness of a 2-of-2 funding spend at its largest: item count, empty item, two 73-byte
//! signatures (with sighash byte) and the 71-byte funding script, each with its length byte.
constexpr size_t kFundingWitnessMaxSize = 73;
constexpr size_t kFundingScriptSize = 71;

bool IsP2pkh(ByteSpan s)
{
    return s.size() == 25 && s[0] == OP_DUP && s[1] == OP_HASH160 && s[2] == kHashLen && s[23] == OP_EQUALVERIFY &&
           s[24] == OP_CHECKSIG;
}
bool IsP2sh(ByteSpan s) { return s.size() == 23 && s[0] == OP_HASH160 && s[1] == kHashLen && s[22] == OP_EQUAL; }
bool IsP2wpkh(ByteSpan s) { return s.size() == 22 && s[0] == OP_0 && s[1] == kHashLen; }
bool IsP2wsh(ByteSpan s) { return s.size() == 34 && s[0] == OP_0 && s[1] == kWitnessScriptHashLen; }
//! "OP_1 through OP_16 inclusive, followed by a single push of 2 to 40 bytes".
bool IsFutureSegwit(ByteSpan s)
{
    return s.size() >= 4 && s[0] >= OP_1 && s[0] <= OP_16 && s[1] >= 2 && s[1] <= 40 && s.size() == 2u + s[1];
}

struct FeeBounds {
    Sat min;
    Sat max;
    Sat target;
};

Sat Clamp(Sat value, Sat low, Sat high) { return std::max(low, std::min(value, high)); }
bool InRange(Sat fee, const FeeRange& range) { return fee >= range.min_fee_satoshis && fee <= range.max_fee_satoshis; }

Sat OpenerBalance(const CloseState& s)
{
    return ToSatFloor(s.channel.local_is_opener ? s.local_balance : s.remote_balance);
}

//! Our acceptable fees from our feerates; the opener cannot pay more than its balance.
FeeBounds OurBounds(const CloseState& s)
{
    // The outputs the transaction will have: BOLT 3 omits one below the dust limit, and a
    // smaller transaction needs a smaller fee for the same feerate (peers propose exactly that).
    std::vector<ByteSpan> scripts;
    if (ToSatFloor(s.local_balance) >= s.channel.local_dust_limit) scripts.push_back(*s.local_script);
    if (ToSatFloor(s.remote_balance) >= s.channel.local_dust_limit) scripts.push_back(*s.remote_script);
    const auto fee_at = [&](uint32_t feerate) { return ClosingFeeFor(scripts, feerate); };
    Sat max = fee_at(s.preferences.max_feerate_per_kw);
    if (s.channel.local_is_opener) max = std::min(max, OpenerBalance(s));
    const Sat min = std::min(fee_at(s.preferences.min_feerate_per_kw), max);
    return FeeBounds{min, max, Clamp(fee_at(s.preferences.target_feerate_per_kw), min, max)};
}

ClosingParty LocalParty(const CloseState& s) { return ClosingParty{s.local_balance, *s.local_script}; }
ClosingParty RemoteParty(const CloseState& s) { return ClosingParty{s.remote_balance, *s.remote_script}; }

Script FundingScriptOf(const CloseChannel& c) { return FundingScript(c.local_funding_pubkey, c.remote_funding_pubkey); }

//! The variant we sign: every output at or above our dust limit.
Transaction OurClosingTx(const CloseState& s, Sat fee)
{
    return BuildLegacyClosingTx(s.channel.funding_outpoint, LocalParty(s), RemoteParty(s), s.channel.local_is_opener,
                                fee, s.channel.local_dust_limit);
}

/**
 * "if the signature is not valid for either variant of closing transaction": the peer removes
 * outputs below its own dust limit and "MAY eliminate its own output"; we also accept the
 * transaction as we would build it.
 */
std::optional<Transaction> FindPeerSignedTx(const CloseState& s, Sat fee, const EcdsaSignature& signature)
{
    const CloseChannel& c = s.channel;
    const Script funding_script = FundingScriptOf(c);
    const Transaction candidates[] = {
        BuildLegacyClosingTx(c.funding_outpoint, RemoteParty(s), LocalParty(s), !c.local_is_opener, fee,
                             c.remote_dust_limit),
        BuildLegacyClosingTx(c.funding_outpoint, RemoteParty(s), LocalParty(s), !c.local_is_opener, fee,
                             c.remote_dust_limit, /*omit_local_output=*/true),
        OurClosingTx(s, fee),
    };
    for (const Transaction& tx : candidates) {
        if (VerifyFundingSignature(tx, funding_script, c.funding, c.remote_funding_pubkey, signature)) return tx;
    }
    return std::nullopt;
}

EcdsaSignature Sign(const CloseState& s, const Transaction& tx, const PrivKey& funding_key)
{
    return SignFundingInput(tx, FundingScriptOf(s.channel), s.channel.funding, funding_key);
}

ClosingSignedMessage MakeClosingSigned(const CloseState& s, Sat fee, const EcdsaSignature& signature)
{
    return ClosingSignedMessage{
        .channel_id = s.channel.channel_id,
        .fee_satoshis = fee,
        .signature = signature,
        .fee_range = s.preferences.send_fee_range ? s.sent_range : std::nullopt,
        .extension = {},
    };
}

//! Proposes `fee` with our own variant of the closing transaction.
void Propose(CloseStep& step, Sat fee, const PrivKey& funding_key)
{
    CloseState& s = step.state;
    s.last_sent_fee = fee;
    const EcdsaSignature signature = Sign(s, OurClosingTx(s, fee), funding_key);
    step.actions.emplace_back(close_action::SendClosingSigned{MakeClosingSigned(s, fee, signature)});
}

//! Both sides signed the peer's transaction: sign it too, optionally say so, and broadcast it.
void Complete(CloseStep& step, bool reply, const PrivKey& funding_key)
{
    CloseState& s = step.state;
    const PeerSignedClose& peer = *s.peer_signed;
    const EcdsaSignature ours = Sign(s, peer.tx, funding_key);
    if (reply) {
        s.last_sent_fee = peer.fee;
        step.actions.emplace_back(close_action::SendClosingSigned{MakeClosingSigned(s, peer.fee, ours)});
    }
    Transaction tx = peer.tx;
    SetFundingWitness(tx, FundingScriptOf(s.channel), s.channel.local_funding_pubkey, ours,
                      s.channel.remote_funding_pubkey, peer.signature);
    s.phase = ClosePhase::kComplete;
    step.actions.emplace_back(close_action::Broadcast{std::move(tx)});
}

void Fail(CloseStep& step, bool fail_channel, std::string message)
{
    step.state.phase = ClosePhase::kFailed;
    step.actions.emplace_back(close_action::Fail{fail_channel, std::move(message)});
}

void OnLocalShutdown(CloseStep& step, const close_event::LocalShutdown& event)
{
    CloseState& s = step.state;
    if (s.local_script || s.phase != ClosePhase::kShuttingDown) throw std::logic_error("shutdown already sent");
    if (!IsValidShutdownScript(event.script, s.channel.anysegwit)) {
        throw std::invalid_argument("not a valid shutdown scriptpubkey");
    }
    // "if it sent a non-zero-length shutdown_scriptpubkey in open_channel or accept_channel:
    // MUST send the same value in scriptpubkey".
    if (s.channel.local_upfront_script && s.channel.local_upfront_script->Data() != event.script) {
        throw std::invalid_argument("a close must pay to our upfront shutdown script");
    }
    s.local_script = event.script;
    step.actions.emplace_back(close_action::SendShutdown{ShutdownMessage{s.channel.channel_id, event.script, {}}});
}

void OnShutdownReceived(CloseStep& step, const close_event::ShutdownReceived& event)
{
    CloseState& s = step.state;
    const Bytes& script = event.message.scriptpubkey;
    if (s.remote_script) {
        // "MUST NOT send multiple shutdown messages"; an identical repeat changes nothing.
        if (*s.remote_script != script) Fail(step, false, "a second shutdown with another scriptpubkey");
        return;
    }
    // "if the scriptpubkey is not in one of the above forms: SHOULD send a warning".
    if (!IsValidShutdownScript(script, s.channel.anysegwit)) {
        return Fail(step, false, "shutdown scriptpubkey is not an acceptable form");
    }
    // "received a non-zero-length shutdown_scriptpubkey in open_channel or accept_channel, and
    // that shutdown_scriptpubkey is not equal to scriptpubkey: MAY send a warning. MUST fail
    // the connection."
    if (s.channel.remote_upfront_script && s.channel.remote_upfront_script->Data() != script) {
        return Fail(step, false, "shutdown scriptpubkey differs from the upfront_shutdown_script");
    }
    s.remote_script = script;
}

void OnBeginNegotiation(CloseStep& step, const close_event::BeginNegotiation& event, const PrivKey& funding_key)
{
    CloseState& s = step.state;
    if (s.phase != ClosePhase::kShuttingDown || !s.local_script || !s.remote_script) {
        throw std::logic_error("closing negotiation needs both shutdown messages");
    }
    s.phase = ClosePhase::kNegotiating;
    s.local_balance = event.local_balance;
    s.remote_balance = event.remote_balance;
    s.preferences = event.preferences;
    // "The funding node: after shutdown has been received, AND no HTLCs remain in either
    // commitment transaction: SHOULD send a closing_signed message."
    if (!s.channel.local_is_opener) return;
    const FeeBounds ours = OurBounds(s);
    s.sent_range = FeeRange{ours.min, ours.max};
    Propose(step, ours.target, funding_key);
}

//! The modern method: the peer sent fee_range.
void NegotiateWithRange(CloseStep& step, Sat fee, const FeeRange& theirs, const PrivKey& funding_key)
{
    CloseState& s = step.state;
    const FeeBounds bounds = OurBounds(s);
    // The non-opener "SHOULD set max_fee_satoshis to at least the max_fee_satoshis received".
    const FeeRange ours{bounds.min,
                        s.channel.local_is_opener ? bounds.max : std::max(bounds.max, theirs.max_fee_satoshis)};
    const FeeRange overlap{std::max(ours.min_fee_satoshis, theirs.min_fee_satoshis),
                           std::min(ours.max_fee_satoshis, theirs.max_fee_satoshis)};
    if (overlap.min_fee_satoshis > overlap.max_fee_satoshis) {
        // "if there is no overlap ...: SHOULD send a warning"; the node fails the channel if no
        // satisfying fee_range arrives in time.
        step.actions.emplace_back(close_action::SendWarning{"no overlap between fee_range " +
                                                            theirs.min_fee_satoshis.ToString() + ".." +
                                                            theirs.max_fee_satoshis.ToString() + " and ours"});
        return;
    }
    if (s.channel.local_is_opener) {
        // "if fee_satoshis is not in the overlap ...: MUST fail the channel; otherwise: MUST
        // reply with the same fee_satoshis".
        if (!InRange(fee, overlap)) return Fail(step, true, "fee_satoshis outside the fee_range overlap");
        return Complete(step, true, funding_key);
    }
    // "if it has already sent a closing_signed: if fee_satoshis is not the same as the value it
    // sent: MUST fail the channel" (the same value completed before reaching here).
    if (s.last_sent_fee) return Fail(step, true, "fee_satoshis differs from the one we accepted");
    // "MUST propose a fee_satoshis in the overlap": theirs when it is, so we agree at once.
    s.sent_range = ours;
    if (InRange(fee, overlap)) return Complete(step, true, funding_key);
    Propose(step, Clamp(bounds.target, overlap.min_fee_satoshis, overlap.max_fee_satoshis), funding_key);
}

//! "strictly between its last-sent fee_satoshis and its previously-received fee_satoshis".
bool StrictlyBetween(Sat fee, Sat a, Sat b) { return fee > std::min(a, b) && fee < std::max(a, b); }

//! The method without fee_range: proposals converge by moving strictly between the last two.
void NegotiateLegacy(CloseStep& step, Sat fee, const std::optional<Sat>& previous_received, const PrivKey& funding_key)
{
    CloseState& s = step.state;
    if (s.last_sent_fee && previous_received && !StrictlyBetween(fee, *s.last_sent_fee, *previous_received)) {
        return Fail(step, false, "fee_satoshis is not strictly between the last two proposals");
    }
    const FeeBounds bounds = OurBounds(s);
    // "if the receiver agrees with the fee: SHOULD reply with a closing_signed with the same fee_satoshis".
    if (fee >= bounds.min && fee <= bounds.max) return Complete(step, true, funding_key);
    if (!s.last_sent_fee) {
        s.sent_range = FeeRange{bounds.min, bounds.max};
        return Propose(step, bounds.target, funding_key);
    }
    // "otherwise: MUST propose a value strictly between the received fee_satoshis and its
    // previously-sent fee_satoshis": halfway, but never outside what we accept.
    const Sat last = *s.last_sent_fee;
    const Sat halfway{(last.value() + fee.value()) / 2};
    const Sat proposal = Clamp(halfway, bounds.min, bounds.max);
    if (!StrictlyBetween(proposal, last, fee)) {
        return Fail(step, false, "cannot agree on a closing fee: " + fee.ToString() + " is outside our range");
    }
    Propose(step, proposal, funding_key);
}

void OnClosingSigned(CloseStep& step, const close_event::ClosingSignedReceived& event, const PrivKey& funding_key)
{
    CloseState& s = step.state;
    const ClosingSignedMessage& message = event.message;
    if (s.phase != ClosePhase::kNegotiating) return Fail(step, false, "closing_signed before negotiation");
    const Sat fee = message.fee_satoshis;
    if (fee > OpenerBalance(s)) return Fail(step, false, "fee_satoshis exceeds the opener's balance");
    if (message.fee_range && message.fee_range->min_fee_satoshis > message.fee_range->max_fee_satoshis) {
        return Fail(step, false, "fee_range minimum above its maximum");
    }
    auto tx = FindPeerSignedTx(s, fee, message.signature);
    if (!tx) return Fail(step, false, "closing_signed signature does not verify on either closing transaction");
    // "if one of the outputs in the closing transaction is below the dust limit for its
    // scriptpubkey: MUST fail the channel".
    for (const TxOut& out : tx->vout) {
        if (Sat{static_cast<uint64_t>(out.value)} < DustThresholdOf(out.script_pubkey)) {
            return Fail(step, true, "closing transaction output below the dust limit of its script");
        }
    }
    s.peer_signed = PeerSignedClose{fee, std::move(*tx), message.signature};
    const std::optional<Sat> previous_received = std::exchange(s.last_received_fee, fee);
    // "if fee_satoshis is equal to its previously sent fee_satoshis: SHOULD sign and broadcast".
    if (s.last_sent_fee == fee) return Complete(step, false, funding_key);
    // "if fee_satoshis matches its previously sent fee_range: SHOULD use fee_satoshis to sign and
    // broadcast ... SHOULD reply with a closing_signed with the same fee_satoshis value".
    if (s.sent_range && s.preferences.send_fee_range && InRange(fee, *s.sent_range)) {
        return Complete(step, true, funding_key);
    }
    if (message.fee_range) return NegotiateWithRange(step, fee, *message.fee_range, funding_key);
    NegotiateLegacy(step, fee, previous_received, funding_key);
}

} // namespace

bool IsValidShutdownScript(ByteSpan script, bool anysegwit)
{
    return IsP2pkh(script) || IsP2sh(script) || IsP2wpkh(script) || IsP2wsh(script) ||
           (anysegwit && IsFutureSegwit(script));
}

Sat DustThresholdOf(ByteSpan script)
{
    if (IsP2pkh(script)) return Sat{546};
    if (IsP2sh(script)) return Sat{540};
    if (IsP2wpkh(script)) return Sat{294};
    if (IsP2wsh(script)) return Sat{330};
    if (IsFutureSegwit(script)) return Sat{354};
    // Not a form shutdown accepts; the largest standard threshold keeps any such output out.
    return Sat{546};
}

bool MaySendShutdown(bool updates_pending_on_peer_commitment) { return !updates_pending_on_peer_commitment; }

bool MayNegotiateClosingFee(const CommitmentActivity& activity)
{
    return activity.htlcs_in_local_commitment == 0 && activity.htlcs_in_remote_commitment == 0 &&
           !activity.uncommitted_updates && !activity.revocation_owed;
}

CloseChannel CloseChannel::FromSetup(const ChannelSetup& setup, bool anysegwit)
{
    return CloseChannel{
        .channel_id = setup.channel_id,
        .funding_outpoint = setup.params.funding_outpoint,
        .funding = setup.params.funding_sat,
        .local_funding_pubkey = setup.params.local.funding_pubkey,
        .remote_funding_pubkey = setup.params.remote.funding_pubkey,
        .local_is_opener = setup.params.opener == Side::LOCAL,
        .local_dust_limit = setup.params.local.dust_limit_sat,
        .remote_dust_limit = setup.params.remote.dust_limit_sat,
        .anysegwit = anysegwit,
        .local_upfront_script = setup.local_upfront_shutdown_script,
        .remote_upfront_script = setup.remote_upfront_shutdown_script,
    };
}

CloseState MakeCloseState(const CloseChannel& channel)
{
    return CloseState{
        .channel = channel,
        .phase = ClosePhase::kShuttingDown,
        .local_script = std::nullopt,
        .remote_script = std::nullopt,
        .local_balance = Msat{0},
        .remote_balance = Msat{0},
        .preferences = {},
        .sent_range = std::nullopt,
        .last_sent_fee = std::nullopt,
        .last_received_fee = std::nullopt,
        .peer_signed = std::nullopt,
    };
}

Sat ClosingFee(ByteSpan local_script, ByteSpan remote_script, uint32_t feerate_per_kw)
{
    const std::array<ByteSpan, 2> scripts{local_script, remote_script};
    return ClosingFeeFor(scripts, feerate_per_kw);
}

Sat ClosingFeeFor(std::span<const ByteSpan> scripts, uint32_t feerate_per_kw)
{
    Transaction tx;
    tx.vin.push_back(TxIn{
        .prevout = {},
        .script_sig = {},
        .sequence = SEQUENCE_FINAL,
        .witness = {Bytes{}, Bytes(kFundingWitnessMaxSize), Bytes(kFundingWitnessMaxSize), Bytes(kFundingScriptSize)}});
    for (const ByteSpan script : scripts) tx.vout.push_back(TxOut{0, Bytes(script.begin(), script.end())});
    return Sat{tx.GetWeight() * uint64_t{feerate_per_kw} / 1000};
}

CloseStep StepClose(const CloseState& state, const CloseEvent& event, const PrivKey& funding_key)
{
    CloseStep step{state, {}};
    if (state.phase == ClosePhase::kComplete || state.phase == ClosePhase::kFailed) return step;
    std::visit(
        [&](const auto& e) {
            using E = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<E, close_event::LocalShutdown>) {
                OnLocalShutdown(step, e);
            } else if constexpr (std::is_same_v<E, close_event::ShutdownReceived>) {
                OnShutdownReceived(step, e);
            } else if constexpr (std::is_same_v<E, close_event::BeginNegotiation>) {
                OnBeginNegotiation(step, e, funding_key);
            } else {
                OnClosingSigned(step, e, funding_key);
            }
        },
        event);
    return step;
}

} // namespace sidebolt
