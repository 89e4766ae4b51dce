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

    bool operator==(const OnchainRecord&) const = default;
    bool Broadcast(const Hash256& txid) const;
    const SpentOutput* SpentAt(uint32_t output_index) const;
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

//! The weight of input `index` of `tx` as signed (BIP 141: non-witness bytes count four times).
uint32_t SignedInputWeight(const Transaction& tx, size_t index);

std::vector<DueTransaction> DueTransactions(const Resolution& resolution, const OnchainRecord& record,
                                            bool zero_fee_htlc_txs, uint32_t tip);

} // namespace sidebolt

#endif
