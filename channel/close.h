#ifndef SIDEBOLT_CHANNEL_CLOSE_H
#define SIDEBOLT_CHANNEL_CLOSE_H

#include "channel/setup.h"
#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/script.h"
#include "primitives/tx.h"
#include "util/amount.h"
#include "util/bytes.h"
#include "wire/channel_messages.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace sidebolt {

/*
 * BOLT 2 cooperative close: shutdown, then closing_signed fee negotiation (with or without
 * fee_range) over the legacy closing transaction of BOLT 3. A value state and a pure step
 * function: the machine feeds it events and performs the actions it returns.
 */

/**
 * BOLT 2 shutdown `scriptpubkey` forms: P2PKH, P2SH (accepted from old peers), P2WPKH,
 * P2WSH and, only with option_shutdown_anysegwit, "OP_1 through OP_16 inclusive, followed by
 * a single push of 2 to 40 bytes". (The OP_RETURN forms belong to option_simple_close.)
 */
bool IsValidShutdownScript(ByteSpan script, bool anysegwit);

//! BOLT 3 "Dust Limits" for an output paying `script`: P2PKH 546, P2SH 540, P2WPKH 294,
//! P2WSH 330, other witness programs 354 satoshis.
Sat DustThresholdOf(ByteSpan script);

//! BOLT 2 "if there are updates pending on the receiving node's commitment transaction:
//! MUST NOT send a shutdown".
bool MaySendShutdown(bool updates_pending_on_peer_commitment);

//! What the machine knows about the commitments when deciding whether closing_signed may start.
struct CommitmentActivity {
    size_t htlcs_in_local_commitment{0};
    size_t htlcs_in_remote_commitment{0};
    //! Updates not yet in both commitments.
    bool uncommitted_updates{false};
    //! "neither side has a pending revoke_and_ack to send".
    bool revocation_owed{false};
};

//! BOLT 2: closing_signed negotiation begins once "the channel is empty of HTLCs, there are no
//! commitments for which a revocation is owed, and all updates are included on both commitments".
bool MayNegotiateClosingFee(const CommitmentActivity& activity);

//! The fees we accept, from feerates: target for our first proposal, min and max bound the range.
struct ClosePreferences {
    uint32_t target_feerate_per_kw{0};
    uint32_t min_feerate_per_kw{253};
    uint32_t max_feerate_per_kw{0};
    //! Send fee_range (the modern method). Off only to talk like a peer that predates it.
    bool send_fee_range{true};
};

//! The part of the channel the close depends on, fixed when shutdown starts.
struct CloseChannel {
    Hash256 channel_id{};
    OutPoint funding_outpoint;
    Sat funding{0};
    PubKey local_funding_pubkey;
    PubKey remote_funding_pubkey;
    bool local_is_opener{false};
    Sat local_dust_limit{0};
    Sat remote_dust_limit{0};
    //! option_shutdown_anysegwit negotiated.
    bool anysegwit{false};
    //! option_upfront_shutdown_script commitments (non-empty when set).
    std::optional<Script> local_upfront_script;
    std::optional<Script> remote_upfront_script;

    static CloseChannel FromSetup(const ChannelSetup& setup, bool anysegwit);
};

enum class ClosePhase : uint8_t {
    //! Waiting for both shutdowns and for the HTLCs to clear.
    kShuttingDown,
    kNegotiating,
    //! Both signatures on one closing transaction; it has been handed out for broadcast.
    kComplete,
    kFailed,
};

//! The closing transaction the peer signed, with the fee it carries.
struct PeerSignedClose {
    Sat fee{0};
    Transaction tx;
    EcdsaSignature signature;
};

struct CloseState {
    CloseChannel channel;
    ClosePhase phase{ClosePhase::kShuttingDown};
    //! Scripts of the shutdown messages sent and received.
    std::optional<Bytes> local_script;
    std::optional<Bytes> remote_script;
    //! Set when negotiation begins: final balances and our fee preferences.
    Msat local_balance{0};
    Msat remote_balance{0};
    ClosePreferences preferences;
    //! The fee_range we sent (with the max raised to the peer's when we are not the opener).
    std::optional<FeeRange> sent_range;
    std::optional<Sat> last_sent_fee;
    std::optional<Sat> last_received_fee;
    std::optional<PeerSignedClose> peer_signed;
};

//! Whoever may start the close: both shutdown messages begin here.
CloseState MakeCloseState(const CloseChannel& channel);

namespace close_event {
//! We send shutdown (the user asked, or we reply to the peer's once the machine allows it).
struct LocalShutdown {
    Bytes script;
};
struct ShutdownReceived {
    ShutdownMessage message;
};
//! Both shutdowns exchanged and MayNegotiateClosingFee holds: balances are final.
struct BeginNegotiation {
    Msat local_balance;
    Msat remote_balance;
    ClosePreferences preferences;
};
struct ClosingSignedReceived {
    ClosingSignedMessage message;
};
} // namespace close_event

using CloseEvent = std::variant<close_event::LocalShutdown, close_event::ShutdownReceived,
                                close_event::BeginNegotiation, close_event::ClosingSignedReceived>;

namespace close_action {
struct SendShutdown {
    ShutdownMessage message;
};
struct SendClosingSigned {
    ClosingSignedMessage message;
};
//! The fully signed closing transaction.
struct Broadcast {
    Transaction tx;
};
//! Negotiation goes on, but the peer should hear why we disagree.
struct SendWarning {
    std::string message;
};
/**
 * The close failed. `fail_channel`: send an `error` and fail the channel (go to chain);
 * otherwise send a `warning` and close the connection (negotiation restarts on reconnection).
 */
struct Fail {
    bool fail_channel{false};
    std::string message;
};
} // namespace close_action

using CloseAction = std::variant<close_action::SendShutdown, close_action::SendClosingSigned, close_action::Broadcast,
                                 close_action::SendWarning, close_action::Fail>;

struct CloseStep {
    CloseState state;
    std::vector<CloseAction> actions;
};

//! Advances the close by one event; `funding_key` signs our closing_signed.
CloseStep StepClose(const CloseState& state, const CloseEvent& event, const PrivKey& funding_key);

//! Fee of a closing transaction paying both scripts at `feerate_per_kw` (BOLT 3 weights with
//! 73-byte signatures).
Sat ClosingFee(ByteSpan local_script, ByteSpan remote_script, uint32_t feerate_per_kw);
//! The same for a closing transaction paying exactly `scripts` (one may be omitted as dust).
Sat ClosingFeeFor(std::span<const ByteSpan> scripts, uint32_t feerate_per_kw);

} // namespace sidebolt

#endif
