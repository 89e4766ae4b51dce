#ifndef SIDEBOLT_CHANNEL_MACHINE_H
#define SIDEBOLT_CHANNEL_MACHINE_H

#include "channel/signer.h"
#include "channel/state.h"
#include "primitives/hash.h"
#include "primitives/key.h"
#include "util/amount.h"
#include "util/bytes.h"
#include "wire/channel_messages.h"
#include "wire/message.h"

#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

namespace sidebolt {

// ---- Inputs ------------------------------------------------------------------------------

//! A normal-operation message from the peer (update_*, commitment_signed, revoke_and_ack,
//! channel_reestablish; a redundant channel_ready is accepted too). Any other type is refused.
struct MessageReceived {
    ChannelMessage message;
};

//! Offer an HTLC (payments / forwarding). The id is assigned by the machine (HtlcOffered).
struct AddHtlcCommand {
    Msat amount_msat{0};
    Hash256 payment_hash{};
    uint32_t cltv_expiry{0};
    ByteArray<kOnionPacketSize> onion_routing_packet{};
    std::optional<PubKey> blinding_point;
};

//! Settle an incoming HTLC (only once it is irrevocably committed, see HtlcLockedIn).
struct FulfillHtlcCommand {
    uint64_t id{0};
    Hash256 preimage{};
};
struct FailHtlcCommand {
    uint64_t id{0};
    Bytes reason;
};
struct FailMalformedHtlcCommand {
    uint64_t id{0};
    Hash256 sha256_of_onion{};
    uint16_t failure_code{0};
};

//! Send commitment_signed if there is anything to sign (and we are not awaiting a
//! revoke_and_ack, connected, and know the peer's next point); otherwise a no-op.
struct SignCommitmentCommand {};

//! update_fee (only the opener may).
struct UpdateFeeCommand {
    uint32_t feerate_per_kw{0};
};

//! The transport closed. BOLT 2: "MUST reverse any uncommitted updates sent by the other side".
//! Also the first input after loading a state at startup.
struct PeerDisconnected {};
//! A new transport is up: produces our channel_reestablish.
struct PeerReconnected {};
//! The chain tip moved: checks the HTLC deadlines (BOLT 2 "cltv_expiry_delta Selection").
struct BlockHeightChanged {
    uint32_t height{0};
};

using ChannelInput = std::variant<MessageReceived, AddHtlcCommand, FulfillHtlcCommand, FailHtlcCommand,
                                  FailMalformedHtlcCommand, SignCommitmentCommand, UpdateFeeCommand,
                                  PeerDisconnected, PeerReconnected, BlockHeightChanged>;

// ---- Actions -----------------------------------------------------------------------------

struct SendMessage {
    ChannelMessage message;
};

//! We assigned `id` to the HTLC of an AddHtlcCommand.
struct HtlcOffered {
    uint64_t id{0};
};

/**
 * An incoming HTLC is irrevocably committed in both commitments: payments / forwarding decide
 * to fulfill or fail it. exceeds_dust_exposure: BOLT 2 "SHOULD fail this HTLC once it's
 * committed" (the dust exposure limit of ChannelPolicy would be exceeded): fail it back.
 */
struct HtlcLockedIn {
    uint64_t id{0};
    Msat amount_msat{0};
    Hash256 payment_hash{};
    uint32_t cltv_expiry{0};
    ByteArray<kOnionPacketSize> onion_routing_packet{};
    std::optional<PubKey> blinding_point;
    bool exceeds_dust_exposure{false};
};

//! The peer revealed the preimage of an HTLC we offered (reported once, on first receipt):
//! upstream can be settled at once.
struct HtlcFulfilled {
    uint64_t id{0};
    Hash256 preimage{};
};

struct MalformedFailure {
    Hash256 sha256_of_onion{};
    uint16_t failure_code{0};
};

//! An HTLC we offered is failed and that removal is irrevocably committed on both sides, so the
//! upstream HTLC can be failed. `reason` is the failure onion (empty when malformed).
struct HtlcFailed {
    uint64_t id{0};
    Bytes reason;
    std::optional<MalformedFailure> malformed;
};

/**
 * The peer proved in channel_reestablish that our state is old. BOLT 2: "MUST NOT broadcast its
 * commitment transaction ... SHOULD store my_current_per_commitment_point to retrieve funds".
 * The new state records both; node/ should send an error and wait for the peer's close.
 */
struct DataLossDetected {
    PubKey remote_current_per_commitment_point;
};

using ChannelAction = std::variant<SendMessage, HtlcOffered, HtlcLockedIn, HtlcFulfilled, HtlcFailed, DataLossDetected>;

// ---- Results -----------------------------------------------------------------------------

//! Every rule a peer message or a local command can break.
enum class ChannelError : uint8_t {
    // update_add_htlc / AddHtlcCommand
    HTLC_ID_OUT_OF_ORDER,
    AMOUNT_ZERO,
    AMOUNT_BELOW_MINIMUM,
    //! "the four most significant bytes of amount_msat are not 0".
    AMOUNT_TOO_LARGE,
    CLTV_EXPIRY_NOT_BLOCKS,
    CLTV_EXPIRY_IN_PAST,
    TOO_MANY_HTLCS,
    IN_FLIGHT_EXCEEDED,
    CANNOT_AFFORD,
    FEE_SPIKE_BUFFER,
    DUST_EXPOSURE,
    ADD_AFTER_SHUTDOWN,
    // removals
    UNKNOWN_HTLC,
    HTLC_NOT_COMMITTED,
    HTLC_ALREADY_REMOVED,
    PREIMAGE_MISMATCH,
    MALFORMED_WITHOUT_BADONION,
    // update_fee
    UPDATE_FEE_FROM_NON_OPENER,
    FEERATE_TOO_LOW,
    FEERATE_TOO_HIGH,
    FEE_UNAFFORDABLE,
    // commitment_signed / revoke_and_ack
    NOTHING_TO_SIGN,
    WRONG_HTLC_SIGNATURE_COUNT,
    BAD_COMMITMENT_SIGNATURE,
    BAD_HTLC_SIGNATURE,
    UNEXPECTED_REVOKE_AND_ACK,
    BAD_REVOCATION_SECRET,
    REVOCATION_SHACHAIN_MISMATCH,
    // channel_reestablish
    REESTABLISH_BAD_COMMITMENT_NUMBER,
    REESTABLISH_BAD_REVOCATION_NUMBER,
    REESTABLISH_BAD_SECRET,
    // HTLC deadlines passed (BlockHeightChanged): the channel must go on-chain
    HTLC_DEADLINE,
    //! A commitment that cannot be built (a state BOLT 2's checks should have prevented).
    INVALID_COMMITMENT,
    // general
    WRONG_CHANNEL_ID,
    //! A message in the wrong connection phase (before channel_reestablish) or of a type that
    //! is not normal operation's.
    UNEXPECTED_MESSAGE,
    //! data_loss_detected: the state is old and must not move forward.
    DATA_LOSS,
};

std::string_view ChannelErrorName(ChannelError error);

/**
 * A peer message broke a BOLT 2 rule (or an HTLC deadline passed). BOLT 2 phrases the response
 * as "MUST send a warning and close the connection, or send an error and fail the channel":
 * WARNING keeps the channel (the state is unchanged: the caller disconnects, which reverses the
 * peer's uncommitted updates); ERROR fails it (BOLT 5 takes over).
 */
struct ProtocolFailure {
    enum class Response : uint8_t { WARNING, ERROR };
    Response response{Response::ERROR};
    ChannelError error{ChannelError::UNEXPECTED_MESSAGE};

    bool FailsChannel() const { return response == Response::ERROR; }
};

//! A local command was refused; the state is unchanged and nothing is sent.
struct CommandRejected {
    ChannelError error{ChannelError::UNEXPECTED_MESSAGE};
};

/**
 * The input was accepted: persist `state` durably, then perform `actions` in order. Messages
 * can always be rebuilt (channel_reestablish retransmits), but the other actions are reported
 * once: a caller that may crash between persisting and acting should store the actions in the
 * same write (an outbox). AwaitsResolution (state.h) recovers the locked-in HTLCs regardless.
 */
struct Transition {
    ChannelState state;
    std::vector<ChannelAction> actions;
};

using StepResult = std::variant<Transition, ProtocolFailure, CommandRejected>;

/**
 * One transition of the BOLT 2 normal-operation state machine. Pure and deterministic: the
 * same state, signer and input always give the same result; the input state is never changed.
 */
StepResult Step(const ChannelState& state, const ChannelSigner& signer, const ChannelInput& input);

/**
 * Whether the commitment_signed the peer sends next can only settle HTLCs we offered: every
 * update it would take into our commitment is the peer's update_fulfill_htlc. Answering such a
 * commitment_signed can wait (node/ holds it until it has updates of its own to sign with it):
 * our unrevoked commitment still pays us the HTLC or lets the peer claim it with the preimage,
 * so waiting costs us nothing, and nothing of ours or the peer's waits for the answer.
 */
bool NextCommitmentOnlySettlesOurs(const ChannelState& state);

/**
 * Signs ahead (ChannelSigner::SignAhead) the peer's commitment we would sign once the peer's
 * commitment_signed for every update pending now has come. A peer sends its updates before the
 * signature that covers them, and its signatures take it a while: time we would otherwise spend
 * waiting. A guess proved wrong by what comes next costs only the signatures made for nothing.
 */
void SignNextRemoteCommitmentAhead(const ChannelState& state, const ChannelSigner& signer);

//! Whether an update of ours (an HTLC, a removal, a fee change) is in no commitment of the peer yet.
bool HasUnsignedUpdatesOfOurs(const ChannelState& state);

/**
 * Whether the commitment_signed we would send next only removes fulfilled HTLCs: every update
 * it would take into the peer's commitment is an update_fulfill_htlc, ours or one of the peer's
 * we have in our commitment. Both ends know those preimages, so node/ may let such a signature
 * wait for the next commitment round and go with it, instead of a round per settlement.
 */
bool NextSignatureOnlyFulfills(const ChannelState& state);

//! The error or warning message for a failure, to send before closing or failing.
ChannelNotice FailureNotice(const ChannelState& state, const ProtocolFailure& failure);

} // namespace sidebolt

#endif
