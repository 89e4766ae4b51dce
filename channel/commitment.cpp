#include "channel/commitment.h"

#include "channel/scripts.h"
#include "channel/weights.h"

#include <algorithm>
#include <stdexcept>

namespace sidebolt {
namespace {
constexpr uint32_t LOCKTIME_MARKER = 0x20000000;
constexpr uint32_t SEQUENCE_MARKER = 0x80000000;
constexpr uint64_t LOW_24_BITS = 0xffffff;

//! An output before BIP69 sorting; cltv_expiry orders identical HTLC outputs.
struct PendingOutput {
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

int64_t ToSat(uint64_t msat) { return static_cast<int64_t>(msat / 1000); }

Script HtlcScript(const Htlc& htlc, const CommitmentKeys& keys, bool anchors)
{
    if (htlc.direction == HtlcDirection::OFFERED) {
        return OfferedHtlcScript(keys.revocation, keys.local_htlc, keys.remote_htlc, htlc.payment_hash, anchors);
    }
    return ReceivedHtlcScript(keys.revocation, keys.local_htlc, keys.remote_htlc, htlc.payment_hash, htlc.cltv_expiry,
                              anchors);
}

PendingOutput P2wshOutput(int64_t value, CommitmentOutputKind kind, Script witness_script)
{
    PendingOutput out;
    out.txout.value = value;
    out.txout.script_pubkey = P2wshScript(witness_script).Data();
    out.info.kind = kind;
    out.info.witness_script = std::move(witness_script);
    return out;
}
} // namespace

CommitmentKeys DeriveCommitmentKeys(const CommitmentSpec& spec)
{
    const PubKey& point = spec.per_commitment_point;
    return CommitmentKeys{
        .revocation = DeriveRevocationPubKey(spec.counterparty.revocation, point),
        .local_delayed = DerivePubKey(spec.holder.delayed_payment, point),
        .local_htlc = DerivePubKey(spec.holder.htlc, point),
        .remote_htlc = DerivePubKey(spec.counterparty.htlc, point),
        // BOLT 3: "If option_static_remotekey or option_anchors is negotiated, the remotepubkey
        // is simply the remote node's payment_basepoint".
        .remote_payment = HasStaticRemoteKey(spec.format) ? spec.counterparty.payment
                                                          : DerivePubKey(spec.counterparty.payment, point),
        .local_funding = spec.holder_funding_pubkey,
        .remote_funding = spec.counterparty_funding_pubkey,
    };
}

uint64_t HtlcTimeoutFee(CommitmentFormat format, uint32_t feerate_per_kw)
{
    if (HasZeroFeeHtlcTx(format)) return 0;
    return FeeForWeight(feerate_per_kw, HasAnchors(format) ? HTLC_TIMEOUT_WEIGHT_ANCHORS : HTLC_TIMEOUT_WEIGHT);
}

uint64_t HtlcSuccessFee(CommitmentFormat format, uint32_t feerate_per_kw)
{
    if (HasZeroFeeHtlcTx(format)) return 0;
    return FeeForWeight(feerate_per_kw, HasAnchors(format) ? HTLC_SUCCESS_WEIGHT_ANCHORS : HTLC_SUCCESS_WEIGHT);
}

bool IsTrimmed(const Htlc& htlc, CommitmentFormat format, uint32_t feerate_per_kw, uint64_t dust_limit_sat)
{
    const uint64_t second_stage_fee = htlc.direction == HtlcDirection::OFFERED ? HtlcTimeoutFee(format, feerate_per_kw)
                                                                                : HtlcSuccessFee(format, feerate_per_kw);
    // "if the HTLC amount minus the HTLC-timeout fee would be less than dust_limit_satoshis".
    return htlc.amount_msat / 1000 < dust_limit_sat + second_stage_fee;
}

uint64_t CommitmentFee(CommitmentFormat format, uint32_t feerate_per_kw, size_t untrimmed_htlcs)
{
    const uint64_t base = HasAnchors(format) ? COMMITMENT_BASE_WEIGHT_ANCHORS : COMMITMENT_BASE_WEIGHT;
    return FeeForWeight(feerate_per_kw, base + COMMITMENT_WEIGHT_PER_HTLC * untrimmed_htlcs);
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
        PendingOutput output = P2wshOutput(ToSat(htlc.amount_msat), kind, HtlcScript(htlc, keys, anchors));
        output.info.htlc_index = i;
        output.cltv_expiry = htlc.cltv_expiry;
        pending.push_back(std::move(output));
    }
    const size_t untrimmed = pending.size();

    // "Subtract this base fee from the funder ... also subtract two times the fixed anchor size".
    out.base_fee_sat = CommitmentFee(spec.format, spec.feerate_per_kw, untrimmed);
    const int64_t opener_debit = static_cast<int64_t>(out.base_fee_sat) + (anchors ? 2 * ANCHOR_OUTPUT_SAT : 0);
    int64_t to_local = ToSat(spec.to_local_msat);
    int64_t to_remote = ToSat(spec.to_remote_msat);
    int64_t& opener = spec.holder_is_opener ? to_local : to_remote;
    out.opener_balance_after_fee_sat = opener - opener_debit;
    opener = std::max<int64_t>(0, out.opener_balance_after_fee_sat);

    const auto dust = static_cast<int64_t>(spec.dust_limit_sat);
    const bool has_to_local = to_local >= dust;
    const bool has_to_remote = to_remote >= dust;
    if (has_to_local) {
        pending.push_back(P2wshOutput(to_local, CommitmentOutputKind::TO_LOCAL,
                                      ToLocalScript(keys.revocation, spec.to_self_delay, keys.local_delayed)));
    }
    if (has_to_remote) {
        if (anchors) {
            pending.push_back(P2wshOutput(to_remote, CommitmentOutputKind::TO_REMOTE, ToRemoteAnchorScript(keys.remote_payment)));
        } else {
            PendingOutput output;
            output.txout = TxOut{to_remote, P2wpkhScript(keys.remote_payment).Data()};
            output.info.kind = CommitmentOutputKind::TO_REMOTE;
            pending.push_back(std::move(output));
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
    int64_t total_out = 0;
    for (const PendingOutput& output : pending) total_out += output.txout.value;
    if (pending.empty()) throw CommitmentError("commitment transaction without outputs");
    if (total_out > static_cast<int64_t>(spec.funding_sat)) throw CommitmentError("commitment outputs exceed the funding amount");

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
                                  uint64_t local_msat, uint64_t remote_msat, std::span<const Htlc> local_htlcs)
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
