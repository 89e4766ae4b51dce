#include "channel/commitment.h"

#include "channel/scripts.h"
#include "channel/weights.h"
#include "util/amount.h"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <utility>

namespace sidebolt {
namespace {
constexpr uint32_t LOCKTIME_MARKER = 0x20000000;
constexpr uint32_t SEQUENCE_MARKER = 0x80000000;
constexpr uint64_t LOW_24_BITS = 0xffffff;

//! An output before BIP69 sorting; cltv_expiry orders identical HTLC outputs.
struct PendingOutput {
    Sat amount;
    TxOut txout;
    CommitmentOutput info;
    uint32_t cltv_expiry{0};
};

//! BOLT 3 "Transaction Output Ordering": value, then scriptpubkey (memcmp of the common
//! prefix, then the shorter first: exactly vector's lexicographic order), then cltv_expiry.
bool OutputLess(const PendingOutput& a, const PendingOutput& b)
{
    if (a.txout.value != b.txout.value) return a.txout.value < b.txout.value;
    if (a.txout.script_pubkey != b.txout.script_pubkey) return a.txout.script_pubkey < b.txout.script_pubkey;
    return a.cltv_expiry < b.cltv_expiry;
}

Script HtlcScript(const Htlc& htlc, const CommitmentKeys& keys, bool anchors)
{
    if (!keys.local_htlc || !keys.remote_htlc) throw CommitmentError("htlc keys were not derived for an HTLC output");
    if (htlc.direction == HtlcDirection::OFFERED) {
        return OfferedHtlcScript(keys.revocation, *keys.local_htlc, *keys.remote_htlc, htlc.payment_hash, anchors);
    }
    return ReceivedHtlcScript(keys.revocation, *keys.local_htlc, *keys.remote_htlc, htlc.payment_hash, htlc.cltv_expiry,
                              anchors);
}

//! `witness_script` empty for a P2WPKH output. Amounts are below kMaxMoney once CheckAmounts passed.
PendingOutput MakeOutput(Sat amount, Bytes script_pubkey, CommitmentOutputKind kind, Script witness_script = {})
{
    PendingOutput out;
    out.amount = amount;
    out.txout = TxOut{ToTxValue(amount), std::move(script_pubkey)};
    out.info.kind = kind;
    out.info.witness_script = std::move(witness_script);
    return out;
}

PendingOutput P2wshOutput(Sat amount, CommitmentOutputKind kind, Script witness_script)
{
    Bytes script_pubkey = P2wshScript(witness_script).Data();
    return MakeOutput(amount, std::move(script_pubkey), kind, std::move(witness_script));
}

/**
 * BOLT 2 keeps to_local + to_remote + all HTLCs equal to the funding amount; a spec claiming
 * more (or more HTLCs than BOLT 2 allows, or a funding amount no transaction can carry) is
 * rejected before any output is computed, so no later sum can overflow. The check is on the msat
 * amounts and includes HTLCs that end up trimmed: they are value the channel must still hold.
 */
void CheckAmounts(const CommitmentSpec& spec)
{
    if (spec.funding_sat > kMaxMoney) throw CommitmentError("funding amount exceeds 21 million bitcoin");
    if (spec.htlcs.size() > MAX_COMMITMENT_HTLCS) throw CommitmentError("more HTLCs than BOLT 2 allows");
    std::optional<Msat> total = Msat::CheckedAdd(spec.to_local_msat, spec.to_remote_msat);
    for (const Htlc& htlc : spec.htlcs) {
        if (!total) break;
        total = Msat::CheckedAdd(*total, htlc.amount_msat);
    }
    if (!total || *total > ToMsat(spec.funding_sat)) throw CommitmentError("balances and HTLCs exceed the funding amount");
}
} // namespace

CommitmentKeys DeriveCommitmentKeys(const CommitmentSpec& spec, HtlcKeys htlc_keys)
{
    return DeriveCommitmentKeys(spec, htlc_keys, DeriveRevocationPubKey(spec.counterparty.revocation, spec.per_commitment_point));
}

CommitmentKeys DeriveCommitmentKeys(const CommitmentSpec& spec, HtlcKeys htlc_keys, const PubKey& revocation)
{
    const PubKey& point = spec.per_commitment_point;
    const bool with_htlc_keys = htlc_keys == HtlcKeys::ALWAYS || HasUntrimmedHtlc(spec);
    return CommitmentKeys{
        .revocation = revocation,
        .local_delayed = DerivePubKey(spec.holder.delayed_payment, point),
        .local_htlc = with_htlc_keys ? std::optional{DerivePubKey(spec.holder.htlc, point)} : std::nullopt,
        .remote_htlc = with_htlc_keys ? std::optional{DerivePubKey(spec.counterparty.htlc, point)} : std::nullopt,
        // BOLT 3: "If option_static_remotekey or option_anchors is negotiated, the remotepubkey
        // is simply the remote node's payment_basepoint".
        .remote_payment = HasStaticRemoteKey(spec.format) ? spec.counterparty.payment
                                                          : DerivePubKey(spec.counterparty.payment, point),
        .local_funding = spec.holder_funding_pubkey,
        .remote_funding = spec.counterparty_funding_pubkey,
    };
}

Sat HtlcTimeoutFee(CommitmentFormat format, uint32_t feerate_per_kw)
{
    if (HasZeroFeeHtlcTx(format)) return Sat{};
    return FeeForWeight(feerate_per_kw, HasAnchors(format) ? HTLC_TIMEOUT_WEIGHT_ANCHORS : HTLC_TIMEOUT_WEIGHT);
}

Sat HtlcSuccessFee(CommitmentFormat format, uint32_t feerate_per_kw)
{
    if (HasZeroFeeHtlcTx(format)) return Sat{};
    return FeeForWeight(feerate_per_kw, HasAnchors(format) ? HTLC_SUCCESS_WEIGHT_ANCHORS : HTLC_SUCCESS_WEIGHT);
}

bool IsTrimmed(const Htlc& htlc, CommitmentFormat format, uint32_t feerate_per_kw, Sat dust_limit_sat)
{
    const Sat second_stage_fee = htlc.direction == HtlcDirection::OFFERED ? HtlcTimeoutFee(format, feerate_per_kw)
                                                                           : HtlcSuccessFee(format, feerate_per_kw);
    // "if the HTLC amount minus the HTLC-timeout fee would be less than dust_limit_satoshis",
    // computed as written: the subtraction cannot wrap (an amount below the fee is trimmed), where
    // dust_limit + fee did for a huge peer-supplied dust limit. BOLT 3 only compares, so a huge
    // limit trims everything; bounding dust_limit_satoshis is BOLT 2's job (open_channel).
    const std::optional<Sat> after_fee = Sat::CheckedSub(ToSatFloor(htlc.amount_msat), second_stage_fee);
    return !after_fee || *after_fee < dust_limit_sat;
}

Sat CommitmentFee(CommitmentFormat format, uint32_t feerate_per_kw, size_t untrimmed_htlcs)
{
    const uint64_t base = HasAnchors(format) ? COMMITMENT_BASE_WEIGHT_ANCHORS : COMMITMENT_BASE_WEIGHT;
    return FeeForWeight(feerate_per_kw, base + COMMITMENT_WEIGHT_PER_HTLC * untrimmed_htlcs);
}

bool HasUntrimmedHtlc(const CommitmentSpec& spec)
{
    return std::ranges::any_of(spec.htlcs, [&](const Htlc& htlc) {
        return !IsTrimmed(htlc, spec.format, spec.feerate_per_kw, spec.dust_limit_sat);
    });
}

// BOLT 3 "Commitment Transaction": "locktime: upper 8 bits are 0x20, lower 24 bits are the
// lower 24 bits of the obscured commitment number"; "sequence: upper 8 bits are 0x80, lower
// 24 bits are upper 24 bits of the obscured commitment number".
std::optional<uint64_t> ObscuredCommitmentNumber(uint32_t locktime, uint32_t sequence)
{
    constexpr uint32_t MARKER_MASK = 0xff000000;
    if ((locktime & MARKER_MASK) != LOCKTIME_MARKER || (sequence & MARKER_MASK) != SEQUENCE_MARKER) return std::nullopt;
    return (uint64_t{sequence} & LOW_24_BITS) << 24 | (uint64_t{locktime} & LOW_24_BITS);
}

uint64_t CommitmentNumberObscurer(const PubKey& opener_payment_basepoint, const PubKey& acceptor_payment_basepoint)
{
    const Hash256 digest = Sha256Writer{}.Write(opener_payment_basepoint.span()).Write(acceptor_payment_basepoint.span()).Finalize();
    uint64_t obscurer = 0;
    for (size_t i = 26; i < 32; ++i) obscurer = (obscurer << 8) | digest[i];
    return obscurer;
}

std::optional<size_t> CommitmentTx::OutputOfHtlc(size_t htlc_index) const
{
    for (size_t i = 0; i < outputs.size(); ++i) {
        if (outputs[i].htlc_index == htlc_index) return i;
    }
    return std::nullopt;
}

CommitmentTx BuildCommitmentTx(const CommitmentSpec& spec, const CommitmentKeys& keys)
{
    if (spec.commitment_number > (uint64_t{1} << 48) - 1) throw CommitmentError("commitment number exceeds 48 bits");
    CheckAmounts(spec);
    const bool anchors = HasAnchors(spec.format);
    CommitmentTx out;
    out.funding_script = FundingScript(keys.local_funding, keys.remote_funding);

    std::vector<PendingOutput> pending;
    pending.reserve(spec.htlcs.size() + 4);
    for (size_t i = 0; i < spec.htlcs.size(); ++i) {
        const Htlc& htlc = spec.htlcs[i];
        if (IsTrimmed(htlc, spec.format, spec.feerate_per_kw, spec.dust_limit_sat)) {
            out.trimmed_htlcs.push_back(i);
            continue;
        }
        const auto kind = htlc.direction == HtlcDirection::OFFERED ? CommitmentOutputKind::OFFERED_HTLC
                                                                   : CommitmentOutputKind::RECEIVED_HTLC;
        PendingOutput output = P2wshOutput(ToSatFloor(htlc.amount_msat), kind, HtlcScript(htlc, keys, anchors));
        output.info.htlc_index = i;
        output.cltv_expiry = htlc.cltv_expiry;
        pending.push_back(std::move(output));
    }
    const size_t untrimmed = pending.size();

    // "Subtract this base fee from the funder ... also subtract two times the fixed anchor size".
    out.base_fee_sat = CommitmentFee(spec.format, spec.feerate_per_kw, untrimmed);
    const Sat opener_debit = out.base_fee_sat + (anchors ? ANCHOR_OUTPUT_SAT * 2 : Sat{});
    Sat to_local = ToSatFloor(spec.to_local_msat);
    Sat to_remote = ToSatFloor(spec.to_remote_msat);
    Sat& opener = spec.holder_is_opener ? to_local : to_remote;
    // Both terms are at most kMaxMoney (the balance by CheckAmounts, the debit by the HTLC count).
    out.opener_balance_after_fee_sat = ToTxValue(opener) - ToTxValue(opener_debit);
    opener = Sat::SaturatingSub(opener, opener_debit);

    const bool has_to_local = to_local >= spec.dust_limit_sat;
    const bool has_to_remote = to_remote >= spec.dust_limit_sat;
    if (has_to_local) {
        pending.push_back(P2wshOutput(to_local, CommitmentOutputKind::TO_LOCAL,
                                      ToLocalScript(keys.revocation, spec.to_self_delay, keys.local_delayed)));
    }
    if (has_to_remote) {
        if (anchors) {
            pending.push_back(P2wshOutput(to_remote, CommitmentOutputKind::TO_REMOTE, ToRemoteAnchorScript(keys.remote_payment)));
        } else {
            pending.push_back(MakeOutput(to_remote, P2wpkhScript(keys.remote_payment).Data(), CommitmentOutputKind::TO_REMOTE));
        }
    }
    // "if to_local exists or there are untrimmed HTLCs, add a to_local_anchor output", and
    // likewise for to_remote.
    if (anchors && (has_to_local || untrimmed > 0)) {
        pending.push_back(P2wshOutput(ANCHOR_OUTPUT_SAT, CommitmentOutputKind::LOCAL_ANCHOR, AnchorScript(keys.local_funding)));
    }
    if (anchors && (has_to_remote || untrimmed > 0)) {
        pending.push_back(P2wshOutput(ANCHOR_OUTPUT_SAT, CommitmentOutputKind::REMOTE_ANCHOR, AnchorScript(keys.remote_funding)));
    }
    std::stable_sort(pending.begin(), pending.end(), OutputLess);
    Sat total_out;
    for (const PendingOutput& output : pending) total_out += output.amount;
    if (pending.empty()) throw CommitmentError("commitment transaction without outputs");
    // Balances and HTLCs fit (CheckAmounts): only anchors the opener cannot pay can overdraw.
    if (total_out > spec.funding_sat) throw CommitmentError("commitment outputs exceed the funding amount");

    const uint64_t obscured = spec.commitment_number ^ (spec.holder_is_opener
                                                            ? CommitmentNumberObscurer(spec.holder.payment, spec.counterparty.payment)
                                                            : CommitmentNumberObscurer(spec.counterparty.payment, spec.holder.payment));
    Transaction& tx = out.tx;
    tx.version = 2;
    tx.locktime = LOCKTIME_MARKER | static_cast<uint32_t>(obscured & LOW_24_BITS);
    tx.vin.push_back(TxIn{.prevout = spec.funding_outpoint,
                          .script_sig = {},
                          .sequence = SEQUENCE_MARKER | static_cast<uint32_t>((obscured >> 24) & LOW_24_BITS),
                          .witness = {}});
    tx.vout.reserve(pending.size());
    out.outputs.reserve(pending.size());
    for (PendingOutput& output : pending) {
        tx.vout.push_back(std::move(output.txout));
        out.outputs.push_back(std::move(output.info));
    }
    return out;
}

CommitmentTx BuildCommitmentTx(const CommitmentSpec& spec) { return BuildCommitmentTx(spec, DeriveCommitmentKeys(spec)); }

CommitmentSpec MakeCommitmentSpec(const ChannelParams& params, Side holder, uint64_t commitment_number,
                                  const PubKey& holder_per_commitment_point, uint32_t feerate_per_kw,
                                  Msat local_msat, Msat remote_msat, std::span<const Htlc> local_htlcs)
{
    const bool local_holds = holder == Side::LOCAL;
    const PartyParams& mine = local_holds ? params.local : params.remote;
    const PartyParams& theirs = local_holds ? params.remote : params.local;
    CommitmentSpec spec{
        .format = params.format,
        .funding_outpoint = params.funding_outpoint,
        .funding_sat = params.funding_sat,
        .holder_funding_pubkey = mine.funding_pubkey,
        .counterparty_funding_pubkey = theirs.funding_pubkey,
        .holder = mine.basepoints,
        .counterparty = theirs.basepoints,
        .holder_is_opener = params.opener == holder,
        // BOLT 2: to_self_delay is what a node requires of the *other* node's to-self outputs.
        .to_self_delay = theirs.to_self_delay,
        .dust_limit_sat = mine.dust_limit_sat,
        .feerate_per_kw = feerate_per_kw,
        .commitment_number = commitment_number,
        .per_commitment_point = holder_per_commitment_point,
        .to_local_msat = local_holds ? local_msat : remote_msat,
        .to_remote_msat = local_holds ? remote_msat : local_msat,
        .htlcs = {local_htlcs.begin(), local_htlcs.end()},
    };
    if (!local_holds) {
        for (Htlc& htlc : spec.htlcs) {
            htlc.direction = htlc.direction == HtlcDirection::OFFERED ? HtlcDirection::RECEIVED : HtlcDirection::OFFERED;
        }
    }
    return spec;
}

} // namespace sidebolt
