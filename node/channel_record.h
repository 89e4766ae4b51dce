#ifndef SIDEBOLT_NODE_CHANNEL_RECORD_H
#define SIDEBOLT_NODE_CHANNEL_RECORD_H

#include "channel/state.h"
#include "gossip/signatures.h"
#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/tx.h"
#include "util/bytes.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sidebolt {

//! Where a channel is in its life, as the node tracks it around the pure state machine.
enum class ChannelPhase : uint8_t {
    //! Opener: funding_created sent, waiting for funding_signed; the funding inputs are locked
    //! in bitcoind's wallet and the funding transaction is not broadcast. A restart abandons it.
    AWAITING_FUNDING_SIGNED = 1,
    //! Both signed commitment 0; waiting for the funding transaction to be deep enough and for
    //! both channel_ready messages.
    AWAITING_LOCKIN = 2,
    NORMAL = 3,
    //! shutdown sent or received: no new HTLCs; closing_signed once the HTLCs are gone.
    SHUTTING_DOWN = 4,
    //! The mutual closing transaction is signed and broadcast; waiting for it to confirm.
    CLOSING = 5,
    //! The funding output is spent and the spend is confirmed.
    CLOSED = 6,
    //! The channel failed (an `error` either way); on-chain enforcement (BOLT 5) takes over.
    FAILED = 7,
};

std::string_view ChannelPhaseName(ChannelPhase phase);

/**
 * Everything the node stores about one channel: the pure state machine's value plus what the
 * node itself needs around it (which peer, which key index, funding confirmation, close).
 * Our private keys are not here: they derive from the node seed and channel_index.
 */
struct ChannelRecord {
    explicit ChannelRecord(PubKey peer_id) : peer(std::move(peer_id)) {}

    PubKey peer;
    //! The key derivation index of this channel's ChannelSigner.
    uint64_t channel_index{0};
    ChannelPhase phase{ChannelPhase::AWAITING_FUNDING_SIGNED};
    bool opener{false};
    Hash256 channel_id{};
    Hash256 temporary_channel_id{};

    //! From AWAITING_LOCKIN on.
    std::optional<ChannelState> state;

    //! Opener: the funding transaction (unsigned by the peer's view: it is ours alone) and the
    //! wallet outputs it spends, locked in bitcoind until it is broadcast or abandoned.
    Bytes funding_tx;
    std::vector<OutPoint> locked_inputs;

    //! The block height at which the channel was stored (a fundee forgets an open whose funding
    //! never confirms after 2016 blocks).
    uint32_t created_height{0};
    //! Where the funding transaction confirmed (unset while unconfirmed).
    std::optional<uint32_t> funding_height;
    uint32_t funding_tx_index{0};
    bool local_ready_sent{false};
    bool remote_ready_received{false};

    //! The scriptpubkey of the shutdown we sent (retransmitted on reconnection).
    std::optional<Bytes> local_shutdown_script;
    //! The mutual close we broadcast, and the spend of the funding output seen on chain.
    Bytes closing_tx;
    std::optional<Hash256> spending_txid;
    std::optional<uint32_t> spend_height;
    std::string failure;
    //! The peer's announcement_signatures of an announced channel (BOLT 7), once received.
    std::optional<EndpointSignatures> remote_announcement_sigs;
};

Bytes SerializeChannelRecord(const ChannelRecord& record);
//! nullopt for anything that is not exactly a record this code wrote.
std::optional<ChannelRecord> DeserializeChannelRecord(ByteSpan bytes);

} // namespace sidebolt

#endif
