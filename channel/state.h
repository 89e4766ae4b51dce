#ifndef SIDEBOLT_CHANNEL_STATE_H
#define SIDEBOLT_CHANNEL_STATE_H

#include "channel/commitment.h"
#include "channel/setup.h"
#include "channel/shachain.h"
#include "channel/signer.h"
#include "primitives/hash.h"
#include "primitives/key.h"
#include "util/amount.h"
#include "util/bytes.h"
#include "wire/channel_messages.h"

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace sidebolt {

/**
 * Where one update (an HTLC's addition, its removal, or a fee change) stands in the BOLT 2
 * commitment dance. An update enters a holder's commitments at one commitment number and stays
 * in every later one, so recording that first number per holder says which commitments include
 * it. Our commitments are always revoked at once (we answer commitment_signed with
 * revoke_and_ack in the same step), so "in our commitment" also means "acknowledged by us"; "in
 * the peer's commitment" becomes irrevocable once the peer revokes the commitment before it.
 */
struct UpdateProgress {
    //! First of our commitment numbers that includes the update; nullopt until the peer signs it.
    std::optional<uint64_t> local_commitment;
    //! First of the peer's commitment numbers that includes it; nullopt until we sign it.
    std::optional<uint64_t> remote_commitment;
    //! Order in which updates were proposed (by either side): retransmission repeats our
    //! updates in their original order, since the receiver checks each against the ones before.
    uint64_t sequence{0};

    bool operator==(const UpdateProgress&) const = default;
};

enum class HtlcRemovalKind : uint8_t { FULFILL, FAIL, FAIL_MALFORMED };

//! update_fulfill_htlc, update_fail_htlc or update_fail_malformed_htlc for one HTLC. The side
//! removing an HTLC is always the one that did not offer it ("a node can only remove HTLCs
//! added by the other node").
struct HtlcRemoval {
    HtlcRemovalKind kind{HtlcRemovalKind::FAIL};
    //! FULFILL: the payment_preimage.
    Hash256 preimage{};
    //! FAIL: the encrypted BOLT 4 failure onion.
    Bytes reason;
    //! FAIL_MALFORMED.
    Hash256 sha256_of_onion{};
    uint16_t failure_code{0};
    UpdateProgress progress;

    bool operator==(const HtlcRemoval&) const = default;
};

//! One HTLC from its update_add_htlc until its removal is irrevocably committed on both sides.
struct ChannelHtlc {
    //! LOCAL: we offered it (outgoing); REMOTE: the peer offered it (incoming).
    Side offerer{Side::LOCAL};
    uint64_t id{0};
    Msat amount_msat{0};
    Hash256 payment_hash{};
    uint32_t cltv_expiry{0};
    //! Kept for retransmission (ours) and for forwarding once locked in (theirs).
    ByteArray<kOnionPacketSize> onion_routing_packet{};
    std::optional<PubKey> blinding_point;
    UpdateProgress added;
    std::optional<HtlcRemoval> removal;
    //! The preimage the peer revealed for an HTLC we offered. BOLT 2: "a node MAY have already
    //! used the payment_preimage value from the update_fulfill_htlc, so the effects of
    //! update_fulfill_htlc are not completely reversed" by a disconnection; BOLT 5 claims with it.
    std::optional<Hash256> known_preimage;
    //! An incoming HTLC that took our dust exposure past ChannelPolicy's limit when it arrived:
    //! BOLT 2 "SHOULD fail this HTLC once it's committed" (reported with HtlcLockedIn).
    bool exceeds_dust_exposure{false};

    bool operator==(const ChannelHtlc&) const = default;
};

//! update_fee from the opener (the only side allowed to send it).
struct FeeUpdate {
    uint32_t feerate_per_kw{0};
    UpdateProgress progress;

    bool operator==(const FeeUpdate&) const = default;
};

//! A message we sent, kept for channel_reestablish, with its place among our updates.
template <typename Message>
struct SentMessage {
    Message message;
    //! The UpdateProgress::sequence it was sent at: retransmission keeps the original order.
    uint64_t sequence{0};

    bool operator==(const SentMessage&) const = default;
};

/**
 * Our local policy for this channel: not negotiated, and node/ may overwrite it after loading a
 * state (e.g. the feerate bounds from its fee estimator).
 */
struct ChannelPolicy {
    //! BOLT 2 max_dust_htlc_exposure_msat: the sum of dust HTLCs (trimmed in either
    //! commitment, both directions) we accept or offer.
    Msat max_dust_htlc_exposure{5'000'000'000};
    //! update_fee sanity: "if the update_fee is too low for timely processing, OR is
    //! unreasonably large: MUST send a warning and close the connection, or send an error and
    //! fail the channel".
    uint32_t min_feerate_per_kw{253};
    uint32_t max_feerate_per_kw{250'000};

    bool operator==(const ChannelPolicy&) const = default;
};

enum class ConnectionStatus : uint8_t {
    //! No transport: messages cannot be sent (commands still update the state).
    DISCONNECTED,
    //! We sent channel_reestablish and wait for the peer's before anything else.
    REESTABLISHING,
    CONNECTED,
};

//! ChannelSetup (setup.h) has no comparison of its own; ChannelState's needs one.
bool operator==(const ChannelSetup& a, const ChannelSetup& b);

/**
 * Everything about an open channel in normal operation that must survive a restart. A value:
 * the state machine (channel/machine.h) maps one state and one input to the next state, which
 * the caller persists (SerializeChannelState) before performing any action.
 *
 * Amount bookkeeping: local_balance and remote_balance still count every HTLC in `htlcs` for its
 * offerer, so local_balance + remote_balance == funding at all times. Each commitment then takes
 * an HTLC it includes from its offerer and carries it as an output, or, once its removal is
 * included too, moves it to the receiver (fulfilled) or leaves it with the offerer (failed). An
 * HTLC whose removal is irrevocably committed on both sides is folded into the balances.
 */
struct ChannelState {
    ChannelSetup setup;
    ChannelPolicy policy;
    ConnectionStatus connection{ConnectionStatus::CONNECTED};

    //! Our latest commitment, signed by the peer. Every earlier one is revoked.
    uint64_t local_commitment_number{0};
    //! The peer's signatures on it (nullopt only between opening's creation of the state and
    //! its check of funding_created / funding_signed). HTLC signatures in output order.
    std::optional<EcdsaSignature> local_commitment_signature;
    std::vector<EcdsaSignature> local_htlc_signatures;

    //! The peer's latest commitment, signed by us, and its per_commitment_point.
    uint64_t remote_commitment_number{0};
    PubKey remote_per_commitment_point;
    //! The point of remote_commitment_number + 1: from channel_ready or the last revoke_and_ack.
    //! nullopt while we await revoke_and_ack, and before channel_ready.
    std::optional<PubKey> remote_next_per_commitment_point;
    //! Set while we await the revoke_and_ack of commitment remote_commitment_number - 1: its
    //! point, to check the revealed secret (and for BOLT 5, as the peer may still broadcast it).
    std::optional<PubKey> remote_prev_per_commitment_point;
    //! The per_commitment_secrets the peer revealed (BOLT 3 compact storage).
    ShachainStore remote_secrets;

    Msat local_balance{0};
    Msat remote_balance{0};
    //! The feerate of both commitments, apart from fee_updates not yet committed on both sides.
    uint32_t feerate_per_kw{0};
    //! Oldest first; a newer update_fee replaces older ones in every commitment that includes it.
    std::vector<FeeUpdate> fee_updates;
    //! Sorted by (offerer, id).
    std::vector<ChannelHtlc> htlcs;
    uint64_t next_local_htlc_id{0};
    uint64_t next_remote_htlc_id{0};
    uint64_t next_update_sequence{0};

    //! For channel_reestablish: our last commitment_signed (the one for remote_commitment_number)
    //! and our last revoke_and_ack (revoking local_commitment_number - 1).
    std::optional<SentMessage<CommitmentSignedMessage>> last_sent_commitment_signed;
    std::optional<SentMessage<RevokeAndAckMessage>> last_sent_revoke_and_ack;

    //! The chain tip as last told (BlockHeightChanged): cltv_expiry checks.
    uint32_t block_height{0};

    //! The peer proved (channel_reestablish) that this state is old. BOLT 2: "MUST NOT broadcast
    //! its commitment transaction": the machine refuses to sign anything from then on.
    bool data_loss_detected{false};
    //! The peer's my_current_per_commitment_point from that proof: BOLT 5 recovers to_remote with it.
    std::optional<PubKey> remote_point_after_data_loss;

    //! Placeholders for channel/close.*: once either is set no new HTLC may be added.
    bool local_shutdown_sent{false};
    bool remote_shutdown_received{false};

    bool AwaitingRevocation() const { return remote_prev_per_commitment_point.has_value(); }
    //! The peer's commitment number whose predecessors are all revoked.
    uint64_t IrrevocableRemoteCommitment() const { return remote_commitment_number - (AwaitingRevocation() ? 1 : 0); }
    const ChannelHtlc* FindHtlc(Side offerer, uint64_t id) const;

    bool operator==(const ChannelState&) const = default;
};

/**
 * An HTLC the peer offered that is irrevocably committed in both commitments and not yet
 * removed: the ones payments/forwarding must settle. HtlcLockedIn reports each once; after a
 * restart node/ can list them again with this (an action may be lost between persisting a state
 * and acting on it).
 */
bool AwaitsResolution(const ChannelState& state, const ChannelHtlc& htlc);

/**
 * The state right after opening: commitment number 0 on both sides, balances and feerate from
 * the setup, connected, no HTLCs. local_commitment_signature is unset: opening verifies the
 * peer's funding_created/funding_signed signature with VerifyLocalCommitmentSig and stores it.
 * remote_next_per_commitment_point is unset until the peer's channel_ready (opening sets it, or
 * the machine takes it from a ChannelReadyMessage input).
 */
ChannelState MakeInitialChannelState(const ChannelSetup& setup);

//! Which HTLC a CommitmentSpec::htlcs entry is.
struct HtlcKey {
    Side offerer{Side::LOCAL};
    uint64_t id{0};
    bool operator==(const HtlcKey&) const = default;
};

//! A commitment's spec together with the HTLC each spec.htlcs[i] stands for.
struct CommitmentView {
    CommitmentSpec spec;
    std::vector<HtlcKey> htlcs;
};

/**
 * The spec of `holder`'s commitment number `commitment_number`, whose per_commitment_point is
 * `point`. Exact for each side's current and next commitment and, while we await a
 * revoke_and_ack, for the peer's previous one (BOLT 5 needs all of those); fully resolved HTLCs
 * are folded into the balances, so older commitments cannot be rebuilt.
 */
CommitmentView MakeCommitmentView(const ChannelState& state, Side holder, uint64_t commitment_number,
                                  const PubKey& point);
//! Our current commitment (local_commitment_number) and the peer's (remote_commitment_number).
CommitmentView LocalCommitmentView(const ChannelState& state, const ChannelSigner& signer);
CommitmentView RemoteCommitmentView(const ChannelState& state);

//! A commitment_signed's content: the commitment signature and the HTLC signatures in
//! commitment output order.
struct CommitmentSignatures {
    EcdsaSignature signature;
    std::vector<EcdsaSignature> htlc_signatures;
};

//! Our signatures on a commitment of the peer (a view with holder REMOTE).
CommitmentSignatures SignCommitmentView(const ChannelState& state, const ChannelSigner& signer, const CommitmentView& view);
//! The same signatures made now and kept in the signer, where SignCommitmentView finds them
//! (none for a view with more signatures than the signer keeps).
void SignCommitmentViewAhead(const ChannelState& state, const ChannelSigner& signer, const CommitmentView& view);

enum class SignatureCheck : uint8_t { OK, WRONG_HTLC_SIGNATURE_COUNT, BAD_COMMITMENT_SIGNATURE, BAD_HTLC_SIGNATURE };
//! Checks the peer's signatures on one of our commitments (a view with holder LOCAL).
SignatureCheck CheckCommitmentSignatures(const ChannelState& state, const CommitmentView& view,
                                         const EcdsaSignature& signature, std::span<const EcdsaSignature> htlc_signatures);
//! The same with our signer, whose per_commitment_secret makes the key derivation cheaper.
SignatureCheck CheckCommitmentSignatures(const ChannelState& state, const ChannelSigner& signer, const CommitmentView& view,
                                         const EcdsaSignature& signature, std::span<const EcdsaSignature> htlc_signatures);

/**
 * Derives the keys of `holder`'s next commitment into the signer's memo (RememberedKeys), so that
 * checking the peer's next commitment_signed (LOCAL) or signing the peer's next commitment
 * (REMOTE) finds them. Worth calling while waiting for the peer: each commitment's keys are four
 * or five EC multiplications. LOCAL also derives the per_commitment_point our revoke_and_ack for
 * that commitment will carry. Safe from another thread with a copy of the state.
 */
void WarmNextCommitmentKeys(const ChannelState& state, const ChannelSigner& signer, Side holder);

//! Our signature on the peer's current commitment (funding_created / funding_signed sign
//! commitment number 0 with this).
EcdsaSignature SignRemoteCommitment(const ChannelState& state, const ChannelSigner& signer);
//! Whether `signature` is the peer's valid signature on our current commitment.
bool VerifyLocalCommitmentSig(const ChannelState& state, const ChannelSigner& signer, const EcdsaSignature& signature);

/**
 * Versioned, deterministic encoding for the store. DeserializeChannelState rejects anything
 * that is not exactly such an encoding of a self-consistent state (bad version, truncation,
 * trailing bytes, invalid points or signatures, broken balance sum).
 */
Bytes SerializeChannelState(const ChannelState& state);
std::optional<ChannelState> DeserializeChannelState(ByteSpan bytes);

} // namespace sidebolt

#endif
