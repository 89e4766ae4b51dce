#ifndef SIDEBOLT_NODE_CLOSED_CHANNEL_H
#define SIDEBOLT_NODE_CLOSED_CHANNEL_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/tx.h"
#include "util/amount.h"
#include "util/bytes.h"

#include <cstdint>
#include <utility>
#include <optional>
#include <string>
#include <vector>

namespace sidebolt {

/**
 * What the node keeps of a channel once its close is irrevocable (its last spend 100 blocks
 * deep): the channel itself, its state and its on-chain record are forgotten, this stays
 * (listclosedchannels).
 */
struct ClosedChannel {
    explicit ClosedChannel(PubKey peer_id) : peer(std::move(peer_id)) {}

    Hash256 channel_id{};
    PubKey peer;
    bool opener{false};
    Sat capacity;
    OutPoint funding_outpoint;
    //! Packed BOLT 7 short channel id; nullopt when the funding confirmed before we stored it.
    std::optional<uint64_t> short_channel_id;
    //! SpendKindName of the funding spend ("mutual_close", "local_commitment", ...).
    std::string close_kind;
    Hash256 spend_txid{};
    uint32_t spend_height{0};
    //! The last confirmation the resolution waited on, and the tip when it was archived.
    uint32_t resolved_height{0};
    uint32_t archived_height{0};
    //! Our confirmed transactions (sweeps, penalties, claims, HTLC transactions, CPFP children).
    std::vector<Hash256> our_txids;
    //! What they, or our output of a mutual close, paid to bitcoind's wallet; nullopt when the
    //! mutual close that confirmed is not one we have the bytes of.
    std::optional<Sat> returned;

    bool operator==(const ClosedChannel&) const = default;
};

Bytes EncodeClosedChannel(const ClosedChannel& closed);
//! nullopt for anything that is not exactly a record this code wrote.
std::optional<ClosedChannel> DecodeClosedChannel(ByteSpan bytes);

} // namespace sidebolt

#endif
