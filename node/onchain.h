#ifndef SIDEBOLT_NODE_ONCHAIN_H
#define SIDEBOLT_NODE_ONCHAIN_H

#include "channel/resolver.h"
#include "primitives/hash.h"
#include "primitives/tx.h"
#include "util/bytes.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sidebolt {

/**
 * What the node keeps about a channel whose funding output was spent: the spend, and enough to
 * rebuild its Resolution (Resolve is deterministic) and to know what it already handed to the
 * broadcaster, which resends those at every block until they confirm.
 */
//! A transaction seen spending one of the funding spend's outputs (ours, or the peer's claim).
struct SpentOutput {
    uint32_t output_index{0};
    Bytes tx;
    //! Set while the spender is confirmed.
    std::optional<uint32_t> height;

    bool operator==(const SpentOutput&) const = default;
};

//! The FeeBump key of the batched penalty; the others are keyed by the output they spend.
inline constexpr uint32_t kBatchedPenaltyKey = UINT32_MAX;
//! The FeeBump key of the penalty of the cheater's second-stage transaction that spent output
//! `output_index` of the revoked commitment (which has far fewer than 2^31 outputs).
inline constexpr uint32_t SecondStagePenaltyKey(uint32_t output_index) { return output_index | 0x8000'0000U; }

//! The versions of one of our transactions racing a deadline, each at a higher feerate (RBF).
struct FeeBump {
    uint32_t key{0};
    //! The newest version's feerate, and the tip when it was handed out.
    uint32_t feerate_per_kw{0};
    uint32_t height{0};
    //! Every version handed out, oldest first; emptied once one confirmed deep enough that the
    //! others were cancelled.
    std::vector<Hash256> versions;

    bool operator==(const FeeBump&) const = default;
};

//! A spend of output 0 of a second-stage HTLC transaction: our sweep of our own after its
//! delay, or our penalty of the cheater's (or the cheater's sweep, had we failed).
struct SecondStageSpend {
    Hash256 parent_txid{};
    Bytes tx;
    std::optional<uint32_t> height;

    bool operator==(const SecondStageSpend&) const = default;
};

struct OnchainRecord {
    //! The funding spend being resolved: the confirmed one, else the latest seen in the mempool.
    Bytes spend_tx;
    std::optional<uint32_t> spend_height;
    //! Where sweeps pay (from bitcoind's wallet) and at which feerate; empty until the wallet answered.
    Bytes sweep_script;
    uint32_t feerate_per_kw{0};
    //! Transactions handed to the broadcaster.
    std::vector<Hash256> broadcast;
    //! Spends of the funding spend's outputs, by output index.
    std::vector<SpentOutput> spent;
    //! Payment preimages read from the peer's HTLC claims (reported upstream once each).
    std::vector<Hash256> preimages;
    std::vector<FeeBump> bumps;
    std::vector<SecondStageSpend> second_stage;

    bool operator==(const OnchainRecord&) const = default;
    bool Broadcast(const Hash256& txid) const;
    const SpentOutput* SpentAt(uint32_t output_index) const;
    FeeBump* BumpFor(uint32_t key);
    const FeeBump* BumpFor(uint32_t key) const;
};

Bytes EncodeOnchainRecord(const OnchainRecord& record);
//! nullopt for anything that is not exactly a record this code wrote.
std::optional<OnchainRecord> DecodeOnchainRecord(ByteSpan bytes);

struct DueTransaction {
    Transaction tx;
    std::string label;
};

/**
 * BOLT 5 timing: the resolution's transactions that may enter the next block after `tip` and were
 * not handed out yet. A penalty is due at once, even against a commitment still in the mempool:
 * the revocation key needs no wait, and a cheater's to_local is ours only until its CSV passes.
 * An output under a CSV waits for the spend to confirm that deep (BIP 68); one under a CLTV for
 * the height. Zero-fee HTLC transactions (option_anchors) need wallet inputs for their fee and
 * are not built here.
 */
//! Whether the duty's spend may enter the next block after `tip` (its CLTV and CSV).
bool DutySpendable(const OutputDuty& duty, const OnchainRecord& record, uint32_t tip);

//! Our HTLC-timeout/success transactions (on our commitment), as opposed to direct claims.
bool IsSecondStageDuty(DutyKind kind);

bool IsPenaltyDuty(DutyKind kind);

//! Whether output_index of the funding spend was spent by a transaction we did not broadcast.
bool SpentByOther(const OnchainRecord& record, uint32_t output_index);

/**
 * Whether the cheater's HTLC transaction took an output of the batched penalty first, which makes
 * the batch invalid for good: each other revoked output then goes in a penalty of its own.
 */
bool PenaltyBatchBroken(const Resolution& resolution, const OnchainRecord& record);

//! The cheater's second-stage HTLC transaction that spent output `output_index` of its revoked
//! commitment, and the height it confirmed at (nullopt for none, or one we broadcast).
const SpentOutput* CheaterSecondStage(const Resolution& resolution, const OnchainRecord& record, uint32_t output_index);

//! The weight of input `index` of `tx` as signed (BIP 141: non-witness bytes count four times).
uint32_t SignedInputWeight(const Transaction& tx, size_t index);

/**
 * The second-stage HTLC transactions whose output 0 is still ours to resolve: ours (confirmed),
 * swept after the delay, and the cheater's from a revoked commitment, penalized.
 */
std::vector<Hash256> SecondStageParents(const Resolution& resolution, const OnchainRecord& record);

//! Confirmations of the last spend before a resolution is irrevocable (BOLT 5: "100 blocks").
inline constexpr uint32_t kIrrevocableDepth = 100;

/**
 * The height of the last confirmation a resolution waits on: the funding spend, the spend of
 * every output with a duty (anchors aside; outputs too small to sweep aside), and the spend of
 * each second-stage output. nullopt while any of them is missing or unconfirmed.
 */
std::optional<uint32_t> LastResolvingHeight(const Resolution& resolution, const OnchainRecord& record);

/**
 * One of our transactions whose output the peer can take after a deadline: a penalty (the
 * cheater's to_local after its CSV, an HTLC by its own HTLC transaction, the output of that
 * transaction after its CSV), a claim of an HTLC on the peer's commitment (the peer's timeout or
 * preimage claim) or our own wallet-funded HTLC transaction (the same two claims by the peer).
 * Sweeps of outputs only we can spend race nothing and keep their feerate.
 */
struct DeadlineRace {
    //! kBatchedPenaltyKey, SecondStagePenaltyKey(output index) or the output index.
    uint32_t key{0};
    //! The outputs of the funding spend it spends.
    std::vector<uint32_t> outputs;
    //! The last block it should confirm in.
    uint32_t deadline{0};
    //! The value it spends.
    Sat amount;
    //! Where its parent confirmed: no block up to there could have taken it.
    uint32_t parent_height{0};
};

/**
 * The races of a confirmed funding spend still running: not confirmed by us, not lost to the
 * peer. `cheater_delay` is the to_self_delay we imposed on the peer's to_local. Our own HTLC
 * transactions race only when `zero_fee_htlc_txs` (wallet-funded, so a new version can pay
 * more); otherwise their fee was fixed when the peer signed them.
 */
std::vector<DeadlineRace> RunningRaces(const Resolution& resolution, const OnchainRecord& record, uint16_t cheater_delay,
                                       bool zero_fee_htlc_txs);

//! A replacement must add at least the incremental relay fee (1 sat/vB = 250 sat/kw) over its
//! whole size (BIP 125 rule 4); a little more absorbs the rounding of fees to satoshis.
inline constexpr uint32_t kMinFeerateStep = 300;
//! Never above 1,000 sat/vB: far past any fee market so far, and under bitcoind's default
//! maxfeerate, which would refuse the transaction.
inline constexpr uint32_t kMaxBumpFeerate = 250'000;

//! The feerate at which `weight` spending `amount` pays 90% of it in fees (and kMaxBumpFeerate at most).
uint32_t BumpFeerateCap(Sat amount, uint32_t weight);

/**
 * The feerate of the next version of a transaction that did not confirm in the block after
 * `tip`'s: at least a quarter (and kMinFeerateStep) more, and climbing in even steps so that
 * it reaches `cap` at the deadline. `current` itself when it is at the cap already.
 */
uint32_t NextBumpFeerate(uint32_t current, uint32_t tip, uint32_t deadline, uint32_t cap);

/**
 * A commitment waiting in the mempool with HTLCs at stake: it must confirm in time for their
 * claims to follow (a timeout claim before the peer's preimage claim, a preimage claim before the
 * peer's timeout, one block later under anchors' CSV 1). Our anchor on it pays for a CPFP child.
 */
struct CommitmentRace {
    uint32_t anchor_output{0};
    //! The last block it should confirm in.
    uint32_t deadline{0};
    //! The HTLC outputs at stake.
    Sat stake;
};

//! nullopt when the spend confirmed, has no anchor of ours, or no HTLC claim waits on it.
std::optional<CommitmentRace> UnconfirmedCommitmentRace(const Resolution& resolution, const OnchainRecord& record);

/**
 * An unconfirmed commitment with our anchor, as a race without a deadline: what it holds of ours
 * (every output with a duty but the anchor) is the stake. For one the mempool refuses: below its
 * floor, it gets in only with a child. nullopt when confirmed or without our anchor.
 */
std::optional<CommitmentRace> StuckCommitmentRace(const Resolution& resolution, const OnchainRecord& record);

/**
 * What a parent of `parent_weight` paying `parent_fee` lacks to pay `package_feerate` (sat/kw)
 * over its own weight: a child paying that feerate for its own weight plus this brings the
 * package to it, whatever the child's final size. Zero when the parent pays enough alone.
 */
Sat PackageDeficit(uint32_t package_feerate, uint32_t parent_weight, Sat parent_fee);

std::vector<DueTransaction> DueTransactions(const Resolution& resolution, const OnchainRecord& record,
                                            bool zero_fee_htlc_txs, uint32_t tip);

} // namespace sidebolt

#endif
