#ifndef SIDEBOLT_CHANNEL_RESOLVER_H
#define SIDEBOLT_CHANNEL_RESOLVER_H

#include "channel/commitment.h"
#include "channel/signer.h"
#include "channel/state.h"
#include "channel/sweeps.h"
#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/script.h"
#include "primitives/tx.h"
#include "util/amount.h"
#include "util/bytes.h"

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace sidebolt {

/*
 * BOLT 5 on-chain enforcement, pure: given a transaction spending the funding output and what
 * we know of the channel, what that transaction is and what we must do about each of its
 * outputs. node/ calls Resolve when it sees a funding spend (mempool or block), stores the
 * Resolution, broadcasts the transactions it lists once spendable and watches the outputs.
 * Resolve is deterministic: node/ calls it again when it learns more (a preimage, a log entry)
 * or the sweep target changes, and gets the same duties with more transactions filled in.
 */

//! What a funding spend is.
enum class SpendKind : uint8_t {
    //! A cooperative closing transaction: every output pays a shutdown script.
    MUTUAL_CLOSE,
    //! Our current commitment (local_commitment_number).
    LOCAL_COMMITMENT,
    //! The peer's current commitment: the newest one whose predecessors are all revoked.
    REMOTE_COMMITMENT,
    //! The peer's newer commitment, signed by us while we await its revoke_and_ack of the
    //! current one: remote_commitment_number while AwaitingRevocation().
    REMOTE_PENDING_COMMITMENT,
    //! A commitment of the peer it revoked (we hold its per_commitment_secret).
    REVOKED_REMOTE_COMMITMENT,
    //! A commitment of the peer numbered above any we know: we lost data.
    FUTURE_REMOTE_COMMITMENT,
    //! One of our own commitments we revoked: published by a node of ours that lost its state,
    //! or by whoever has our keys. The peer may take every output; nothing is ours to claim.
    REVOKED_LOCAL_COMMITMENT,
    //! None of the above. BOLT 5: "MUST send a warning regarding lost funds".
    UNKNOWN,
};

std::string_view SpendKindName(SpendKind kind);

//! The HTLCs of one of the peer's commitments, logged by node/ before it is revoked (the state
//! folds resolved HTLCs into the balances, so old commitments cannot be rebuilt from it).
struct LoggedHtlc {
    //! LOCAL: we offered it.
    Side offerer{Side::LOCAL};
    Msat amount_msat{0};
    Hash256 payment_hash{};
    uint32_t cltv_expiry{0};

    bool operator==(const LoggedHtlc&) const = default;
};

struct RevokedCommitmentHtlcs {
    uint64_t commitment_number{0};
    std::vector<LoggedHtlc> htlcs;

    bool operator==(const RevokedCommitmentHtlcs&) const = default;
};

//! The log entry of the peer's commitment remote_commitment_number: node/ records it whenever
//! that number changes (every HTLC it carries, trimmed or not).
RevokedCommitmentHtlcs LogRemoteCommitmentHtlcs(const ChannelState& state);

//! What node/ knows besides the channel state.
struct ResolveContext {
    //! Shutdown scriptpubkeys (ours and the peer's) of a cooperative close, besides the upfront
    //! ones of the setup: the outputs of a mutual close.
    std::vector<Bytes> shutdown_scripts;
    //! HTLC logs of the peer's commitments (any order; only the matching number is used).
    std::vector<RevokedCommitmentHtlcs> revoked_htlcs;
    //! Payment preimages learned elsewhere (downstream), besides those of fulfilled HTLCs.
    std::vector<Hash256> preimages;
    //! Where sweeps pay and at which feerate.
    SweepTarget target;
};

//! The commitment number a transaction spending the funding output claims in its locktime and
//! sequence (BOLT 3's obscured number): a lead, never trusted alone (Classify confirms it).
std::optional<uint64_t> ClaimedCommitmentNumber(const Transaction& tx, const ChannelParams& params);

struct Classification {
    SpendKind kind{SpendKind::UNKNOWN};
    //! The commitment number, for commitments.
    std::optional<uint64_t> commitment_number;
    //! The holder's per_commitment_point, when known.
    std::optional<PubKey> per_commitment_point;

    bool operator==(const Classification&) const = default;
};

/**
 * Reads the commitment number from the obscured locktime/sequence (BOLT 3: "upper 8 bits are
 * 0x20" / "0x80") and confirms it: by rebuilding the commitment (same txid) for ours and the
 * peer's current/pending ones; for revoked ones by an output script only that commitment's
 * per_commitment_point gives (to_local, a logged HTLC, a rotating to_remote); for future ones
 * by our valid signature in the funding input's witness (so those need the witness).
 * Invalid transactions (output values outside 0..21M BTC, not spending the funding output)
 * are UNKNOWN: BOLT 5 "SHOULD ignore invalid transactions".
 */
Classification Classify(const Transaction& spend, const ChannelState& state, const ChannelSigner& signer,
                        const ResolveContext& context);

enum class DutyKind : uint8_t {
    //! Our to_local on our commitment: a delayed sweep after to_self_delay.
    LOCAL_DELAYED,
    //! Our main output on a commitment of the peer.
    TO_REMOTE,
    //! Our anchor: spend with wallet inputs (BuildAnchorSpend) to CPFP the commitment.
    ANCHOR,
    //! An HTLC we offered, on our commitment: the HTLC-timeout transaction at cltv_expiry,
    //! then its output after to_self_delay (SweepSecondStage).
    LOCAL_HTLC_TIMEOUT,
    //! An HTLC the peer offered, on our commitment: the HTLC-success transaction with the
    //! preimage, then its output after to_self_delay (SweepSecondStage).
    LOCAL_HTLC_SUCCESS,
    //! An HTLC we offered, on the peer's commitment: claimed directly at cltv_expiry.
    REMOTE_HTLC_TIMEOUT,
    //! An HTLC the peer offered, on the peer's commitment: claimed directly with the preimage.
    REMOTE_HTLC_SUCCESS,
    //! The cheater's to_local, or one of its HTLC outputs, with the revocation key.
    PENALTY_TO_LOCAL,
    PENALTY_HTLC,
};

std::string_view DutyKindName(DutyKind kind);

//! One output of the spend that is ours or contested, and what to do about it.
struct OutputDuty {
    DutyKind kind{DutyKind::LOCAL_DELAYED};
    uint32_t output_index{0};
    Sat amount;
    //! Witness script of the output; empty for a P2WPKH to_remote.
    Script witness_script;
    //! The spend is valid from this block height (its locktime); 0 when it has none.
    uint32_t spendable_height{0};
    //! ... and once the spend has this many confirmations (its input's CSV); 0 when none.
    uint16_t csv_delay{0};
    //! HTLC duties.
    std::optional<Hash256> payment_hash;
    std::optional<uint32_t> cltv_expiry;
    //! The signed transaction spending the output, when it can be built now: nullopt while a
    //! preimage is missing, for anchors (they need wallet inputs) and when it would be dust.
    //! With zero-fee HTLC transactions (option_anchors) node/ adds fee inputs/outputs to the
    //! HTLC-timeout/success transactions (the peer signed SIGHASH_SINGLE|ANYONECANPAY).
    std::optional<Transaction> tx;

    bool operator==(const OutputDuty&) const = default;
};

struct Resolution {
    Classification classification;
    Hash256 txid{};
    //! By output index; outputs that are not ours (and dust/trimmed HTLCs, which have none) are absent.
    std::vector<OutputDuty> duties;
    //! Revoked commitment: one penalty transaction sweeping to_local and every HTLC output.
    std::optional<Transaction> penalty_tx;
    //! Revoked commitment: outputs we could not identify (HTLCs missing from the log).
    std::vector<uint32_t> unmatched_outputs;
    //! The to_local-shaped script of the holder's HTLC transaction outputs (our commitment, or
    //! the revoked one): what SweepSecondStage and PenalizeSecondStage expect to spend.
    Script second_stage_script;

    const OutputDuty* DutyFor(uint32_t output_index) const;
    bool operator==(const Resolution&) const = default;
};

//! Classify, then the duty of each output that is ours or contested.
Resolution Resolve(const Transaction& spend, const ChannelState& state, const ChannelSigner& signer,
                   const ResolveContext& context);

/**
 * Our commitment: sweeps of the outputs of one of our HTLC-timeout/success transactions (or any
 * transaction aggregating them: output i pays for input i under SIGHASH_SINGLE) after
 * to_self_delay. Empty when the transaction spends none of our HTLC outputs into the delayed
 * script, has invalid output values, or every sweep would be dust.
 */
std::vector<Transaction> SweepSecondStage(const Resolution& resolution, const Transaction& htlc_tx,
                                          const ChannelState& state, const ChannelSigner& signer, const SweepTarget& target);

/**
 * Revoked commitment: the penalty for the outputs of an HTLC-timeout/success transaction the
 * cheater published from it. nullopt when the transaction spends none of its HTLC outputs into
 * the revocable script, has invalid output values, or the penalty would be dust. The state
 * must be the one the resolution was made from (its remote_secrets give the revocation key).
 */
std::optional<Transaction> PenalizeSecondStage(const Resolution& resolution, const Transaction& second_stage,
                                               const ChannelState& state, const ChannelSigner& signer,
                                               const SweepTarget& target);

/**
 * option_anchors: our HTLC-timeout/success transaction of `duty` (LOCAL_HTLC_TIMEOUT/SUCCESS, its
 * tx built) once node/ added wallet inputs and outputs for its fee. BOLT 5: the peer's
 * SIGHASH_SINGLE|ANYONECANPAY signature still holds while input 0 and output 0 are the duty's;
 * "the local signature MUST use SIGHASH_ALL", so ours is made again over the whole transaction.
 * nullopt when `funded` changed version, locktime, input 0 or output 0.
 */
std::optional<Transaction> SignFundedHtlcTx(const OutputDuty& duty, Transaction funded, const Resolution& resolution,
                                            const ChannelSigner& signer);

//! Payment preimages revealed in the witnesses of a transaction spending the resolved
//! commitment's HTLC outputs (BOLT 5 "MUST extract the payment preimage from the ... witness").
std::vector<Hash256> ExtractPreimages(const Resolution& resolution, const Transaction& spending_tx);

} // namespace sidebolt

#endif
