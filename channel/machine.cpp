#include "channel/machine.h"

#include "channel/commitment.h"
#include "channel/keys.h"

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <type_traits>

namespace sidebolt {
namespace {
//! BOLT 2: "MUST set cltv_expiry less than 500000000".
constexpr uint32_t MAX_CLTV_EXPIRY = 500'000'000;
//! BOLT 4 failure code flag "BADONION".
constexpr uint16_t BADONION = 0x8000;
//! BOLT 3: two anchors of 330 sat, paid by the opener.
constexpr Sat ANCHORS_COST{2 * 330};
//! BOLT 2 "cltv_expiry_delta Selection": the offered-HTLC deadline G after cltv_expiry (1 block
//! is reasonable) and the fulfilled-HTLC deadline 2R+G+S before it (7 blocks is reasonable).
constexpr uint32_t OFFERED_HTLC_GRACE_BLOCKS = 1;
constexpr uint32_t FULFILLED_HTLC_DEADLINE_BLOCKS = 7;
//! BOLT 2 fee spike buffer: "can handle twice the current feerate_per_kw".
constexpr uint64_t FEE_SPIKE_MULTIPLE = 2;

using Response = ProtocolFailure::Response;

//! A broken rule, thrown inside a step and turned into its result at Step's boundary.
struct StepError {
    ChannelError error;
    Response response;
};

void Require(bool condition, ChannelError error, Response response = Response::ERROR)
{
    if (!condition) throw StepError{error, response};
}

size_t Index(Side side) { return side == Side::LOCAL ? 0 : 1; }

bool AckedByPeer(const ChannelState& state, const UpdateProgress& progress)
{
    return progress.remote_commitment && *progress.remote_commitment <= state.IrrevocableRemoteCommitment();
}

//! Whether the next commitment of ours takes the update: every update of the peer and every
//! update of ours the peer acknowledged, not yet in one.
bool NextLocalCommitmentTakes(const ChannelState& state, const UpdateProgress& progress, Side proposer)
{
    return !progress.local_commitment && (proposer == Side::REMOTE || AckedByPeer(state, progress));
}

//! Whether the next commitment of the peer takes the update: every update of ours and every
//! update of the peer we acknowledged, not yet in one.
bool NextRemoteCommitmentTakes(const UpdateProgress& progress, Side proposer)
{
    return !progress.remote_commitment && (proposer == Side::LOCAL || progress.local_commitment);
}

//! Calls f(progress, proposer, is_removal) for every update in the state.
template <typename State, typename F>
void ForEachUpdate(State& state, F f)
{
    for (auto& htlc : state.htlcs) {
        f(htlc.added, htlc.offerer, false);
        if (htlc.removal) f(htlc.removal->progress, Other(htlc.offerer), true);
    }
    for (auto& update : state.fee_updates) f(update.progress, state.setup.params.opener, false);
}

//! Puts every update our next commitment takes into our commitment `number`; how many.
size_t TakeIntoLocalCommitment(ChannelState& state, uint64_t number)
{
    size_t updates = 0;
    ForEachUpdate(state, [&](UpdateProgress& progress, Side proposer, bool) {
        if (!NextLocalCommitmentTakes(state, progress, proposer)) return;
        progress.local_commitment = number;
        ++updates;
    });
    return updates;
}

//! Puts every update the peer's next commitment takes into its commitment `number`; how many.
size_t TakeIntoRemoteCommitment(ChannelState& state, uint64_t number)
{
    size_t updates = 0;
    ForEachUpdate(state, [&](UpdateProgress& progress, Side proposer, bool) {
        if (!NextRemoteCommitmentTakes(progress, proposer)) return;
        progress.remote_commitment = number;
        ++updates;
    });
    return updates;
}

//! How many updates our next commitment would take (as TakeIntoLocalCommitment counts them).
size_t UpdatesForLocalCommitment(const ChannelState& state)
{
    size_t updates = 0;
    ForEachUpdate(state, [&](const UpdateProgress& progress, Side proposer, bool) {
        if (NextLocalCommitmentTakes(state, progress, proposer)) ++updates;
    });
    return updates;
}

//! The three removal kinds, each with only its own fields set.
HtlcRemoval FulfillRemoval(const Hash256& preimage)
{
    HtlcRemoval removal;
    removal.kind = HtlcRemovalKind::FULFILL;
    removal.preimage = preimage;
    return removal;
}
HtlcRemoval FailRemoval(const Bytes& reason)
{
    HtlcRemoval removal;
    removal.kind = HtlcRemovalKind::FAIL;
    removal.reason = reason;
    return removal;
}
HtlcRemoval MalformedRemoval(const Hash256& sha256_of_onion, uint16_t failure_code)
{
    HtlcRemoval removal;
    removal.kind = HtlcRemovalKind::FAIL_MALFORMED;
    removal.sha256_of_onion = sha256_of_onion;
    removal.failure_code = failure_code;
    return removal;
}

// ---- Views for the BOLT 2 checks ---------------------------------------------------------

/**
 * Which updates a check counts, so that a sender is never more lenient than the commitments it
 * will sign and a receiver never stricter than an honest sender.
 *
 * A sender (SENDING) counts all its own updates and every addition or fee change of the peer it
 * has seen, but the peer's removals only once they are in its own commitment: only those are
 * sure to be in the next commitment it signs for the peer. A receiver (RECEIVED) counts all of
 * the sender's updates, every removal (which only frees funds), and its own additions and fee
 * changes once they are in its current commitment (the sender had seen those), so even a
 * retransmission after a reconnection is judged as it was first sent.
 */
enum class Knowledge : uint8_t { SENDING, RECEIVED };

struct Totals {
    //! nullopt: the side's balance would be negative.
    std::array<std::optional<Msat>, 2> balance;
    uint32_t feerate{0};
    std::vector<const ChannelHtlc*> htlcs;

    bool Pays(Side side, Msat required) const
    {
        const auto& b = balance[Index(side)];
        return b && *b >= required;
    }
};

Totals Evaluate(const ChannelState& state, Knowledge knowledge)
{
    const auto counts = [&](const UpdateProgress& progress, Side proposer, bool removal) {
        if (progress.local_commitment) return true;
        return knowledge == Knowledge::SENDING ? proposer == Side::LOCAL || !removal : proposer == Side::REMOTE || removal;
    };
    Totals totals;
    totals.feerate = state.feerate_per_kw;
    for (const FeeUpdate& update : state.fee_updates) {
        if (!counts(update.progress, state.setup.params.opener, false)) continue;
        // A sender cannot know which pending feerate the receiver applies: take the highest.
        totals.feerate = knowledge == Knowledge::SENDING ? std::max(totals.feerate, update.feerate_per_kw) : update.feerate_per_kw;
    }
    std::array<Msat, 2> credit{state.local_balance, state.remote_balance};
    std::array<Msat, 2> debit{};
    for (const ChannelHtlc& htlc : state.htlcs) {
        if (!counts(htlc.added, htlc.offerer, false)) continue;
        debit[Index(htlc.offerer)] += htlc.amount_msat;
        if (htlc.removal && counts(htlc.removal->progress, Other(htlc.offerer), true)) {
            const bool fulfilled = htlc.removal->kind == HtlcRemovalKind::FULFILL;
            credit[Index(fulfilled ? Other(htlc.offerer) : htlc.offerer)] += htlc.amount_msat;
            continue;
        }
        totals.htlcs.push_back(&htlc);
    }
    for (size_t i = 0; i < 2; ++i) totals.balance[i] = Msat::CheckedSub(credit[i], debit[i]);
    return totals;
}

Sat DustLimit(const ChannelState& state, Side holder)
{
    return holder == Side::LOCAL ? state.setup.params.local.dust_limit_sat : state.setup.params.remote.dust_limit_sat;
}

bool Trimmed(const ChannelState& state, const ChannelHtlc& htlc, Side holder, uint32_t feerate)
{
    const Htlc spec_htlc{.direction = htlc.offerer == holder ? HtlcDirection::OFFERED : HtlcDirection::RECEIVED,
                         .amount_msat = htlc.amount_msat,
                         .payment_hash = htlc.payment_hash,
                         .cltv_expiry = htlc.cltv_expiry};
    return IsTrimmed(spec_htlc, state.setup.params.format, feerate, DustLimit(state, holder));
}

//! What the opener pays in `holder`'s commitment: the fee (with `extra_htlcs` more untrimmed
//! outputs) and, with anchors, "two times the fixed anchor size of 330 sats".
Msat OpenerCost(const ChannelState& state, const Totals& totals, Side holder, uint32_t feerate, size_t extra_htlcs)
{
    const size_t untrimmed = std::ranges::count_if(totals.htlcs, [&](const ChannelHtlc* h) { return !Trimmed(state, *h, holder, feerate); });
    Sat cost = CommitmentFee(state.setup.params.format, feerate, untrimmed + extra_htlcs);
    if (HasAnchors(state.setup.params.format)) cost += ANCHORS_COST;
    return ToMsat(cost);
}

//! BOLT 2 dust exposure of one commitment: the HTLCs (both directions) trimmed from it.
Msat DustExposure(const ChannelState& state, const Totals& totals, Side holder)
{
    Msat sum{0};
    for (const ChannelHtlc* htlc : totals.htlcs) {
        if (Trimmed(state, *htlc, holder, totals.feerate)) sum += htlc->amount_msat;
    }
    return sum;
}

uint32_t FeeSpikeFeerate(uint32_t feerate)
{
    return static_cast<uint32_t>(std::min<uint64_t>(uint64_t{feerate} * FEE_SPIKE_MULTIPLE, std::numeric_limits<uint32_t>::max()));
}

/**
 * The update_add_htlc rules on the state with `htlc` already added: counts, in-flight value,
 * the sender's reserve and the opener's fee, the fee spike buffer (sender side) and dust exposure.
 */
void CheckNewHtlc(ChannelState& state, ChannelHtlc& htlc)
{
    const Side offerer = htlc.offerer;
    const bool ours = offerer == Side::LOCAL;
    // Limits announced by the receiver bind the offerer.
    const HtlcLimits& limits = ours ? state.setup.remote_limits : state.setup.local_limits;
    const Totals totals = Evaluate(state, ours ? Knowledge::SENDING : Knowledge::RECEIVED);

    size_t count = 0;
    Msat in_flight{0};
    for (const ChannelHtlc* h : totals.htlcs) {
        if (h->offerer != offerer) continue;
        ++count;
        in_flight += h->amount_msat;
    }
    // "if result would be offering more than the remote's max_accepted_htlcs HTLCs ... if the
    // sum of total offered HTLCs would exceed the remote's max_htlc_value_in_flight_msat".
    Require(count <= limits.max_accepted_htlcs, ChannelError::TOO_MANY_HTLCS);
    Require(in_flight <= limits.max_htlc_value_in_flight, ChannelError::IN_FLIGHT_EXCEEDED);

    // "MUST NOT offer amount_msat it cannot pay for in the remote commitment transaction at the
    // current feerate_per_kw ... while maintaining its channel reserve" (and the anchors). A
    // sender checks both commitments; a receiver its own.
    const Side opener = state.setup.params.opener;
    const Msat reserve = ToMsat(limits.channel_reserve);
    const std::vector<Side> holders = ours ? std::vector{Side::LOCAL, Side::REMOTE} : std::vector{Side::LOCAL};
    for (const Side holder : holders) {
        const Msat opener_cost = OpenerCost(state, totals, holder, totals.feerate, 0);
        Require(totals.Pays(offerer, reserve + (offerer == opener ? opener_cost : Msat{0})), ChannelError::CANNOT_AFFORD);
        if (offerer != opener) Require(totals.Pays(opener, opener_cost), ChannelError::CANNOT_AFFORD);
        // "SHOULD NOT offer amount_msat if, after adding that HTLC to its commitment transaction,
        // its remaining balance doesn't allow it to pay the commitment transaction fee when
        // receiving or sending a future additional non-dust HTLC while maintaining its channel
        // reserve ... twice the current feerate_per_kw".
        if (ours && opener == Side::LOCAL) {
            const Msat buffer = OpenerCost(state, totals, holder, FeeSpikeFeerate(totals.feerate), 1);
            Require(totals.Pays(Side::LOCAL, reserve + buffer), ChannelError::FEE_SPIKE_BUFFER);
        }
    }
    // max_dust_htlc_exposure_msat: a sender "SHOULD NOT add the HTLC"; a receiver "SHOULD fail
    // this HTLC once it's committed".
    const bool exceeded = DustExposure(state, totals, Side::LOCAL) > state.policy.max_dust_htlc_exposure ||
                          DustExposure(state, totals, Side::REMOTE) > state.policy.max_dust_htlc_exposure;
    if (ours) Require(!exceeded, ChannelError::DUST_EXPOSURE);
    htlc.exceeds_dust_exposure = !ours && exceeded;
}

//! update_fee affordability with the new fee update already in the state. The receiver
//! "if the sender cannot afford the new fee rate on the receiving node's current commitment
//! transaction: SHOULD send a warning ... or send an error and fail the channel"; the sender
//! also keeps its reserve in both commitments.
void CheckFee(const ChannelState& state, bool ours)
{
    const Totals totals = Evaluate(state, ours ? Knowledge::SENDING : Knowledge::RECEIVED);
    const Msat reserve = ours ? ToMsat(state.setup.remote_limits.channel_reserve) : Msat{0};
    const std::vector<Side> holders = ours ? std::vector{Side::LOCAL, Side::REMOTE} : std::vector{Side::LOCAL};
    for (const Side holder : holders) {
        Require(totals.Pays(state.setup.params.opener, reserve + OpenerCost(state, totals, holder, totals.feerate, 0)),
                ChannelError::FEE_UNAFFORDABLE);
    }
}

// ---- The step context --------------------------------------------------------------------

class Machine
{
public:
    Machine(const ChannelState& state, const ChannelSigner& signer) : m_state(state), m_signer(signer) {}

    void Apply(const MessageReceived& input);
    void Apply(const AddHtlcCommand& command);
    void Apply(const FulfillHtlcCommand& command);
    void Apply(const FailHtlcCommand& command);
    void Apply(const FailMalformedHtlcCommand& command);
    void Apply(const SignCommitmentCommand& command);
    void Apply(const UpdateFeeCommand& command);
    void Apply(const PeerDisconnected& event);
    void Apply(const PeerReconnected& event);
    void Apply(const BlockHeightChanged& event);

    Transition Finish() { return Transition{std::move(m_state), std::move(m_actions)}; }

private:
    void On(const UpdateAddHtlcMessage& message);
    void On(const UpdateFulfillHtlcMessage& message);
    void On(const UpdateFailHtlcMessage& message);
    void On(const UpdateFailMalformedHtlcMessage& message);
    void On(const UpdateFeeMessage& message);
    void On(const CommitmentSignedMessage& message);
    void On(const RevokeAndAckMessage& message);
    void On(const ChannelReestablishMessage& message);
    void On(const ChannelReadyMessage& message);
    template <typename Other>
    void On(const Other&)
    {
        throw StepError{ChannelError::UNEXPECTED_MESSAGE, Response::WARNING};
    }

    void RequireActive(const Hash256& channel_id) const;
    ChannelHtlc* Find(Side offerer, uint64_t id);
    ChannelHtlc& Insert(ChannelHtlc htlc);
    //! The peer's removal of one of our HTLCs: "if the id does not correspond to an HTLC in its
    //! current commitment transaction: MUST ... fail".
    ChannelHtlc& PeerRemoves(uint64_t id);
    //! Our removal of one of the peer's HTLCs: only once irrevocably committed on both sides.
    ChannelHtlc& WeRemove(uint64_t id);
    void Remove(ChannelHtlc& htlc, HtlcRemoval removal);
    void SendIfConnected(ChannelMessage message);
    void Fold();
    void Disconnect();
    ChannelMessage UpdateMessage(const ChannelHtlc& htlc, bool removal) const;
    void Retransmit(bool revoke_and_ack, bool commitment_signed);
    uint64_t NextSequence() { return m_state.next_update_sequence++; }
    UpdateProgress NewProgress() { return UpdateProgress{.local_commitment = {}, .remote_commitment = {}, .sequence = NextSequence()}; }

    ChannelState m_state;
    const ChannelSigner& m_signer;
    std::vector<ChannelAction> m_actions;
};

void Machine::RequireActive(const Hash256& channel_id) const
{
    Require(m_state.connection == ConnectionStatus::CONNECTED, ChannelError::UNEXPECTED_MESSAGE, Response::WARNING);
    Require(channel_id == m_state.setup.channel_id, ChannelError::WRONG_CHANNEL_ID, Response::WARNING);
    // A node that knows its state is old refuses to move it forward.
    Require(!m_state.data_loss_detected, ChannelError::DATA_LOSS, Response::WARNING);
}

ChannelHtlc* Machine::Find(Side offerer, uint64_t id)
{
    const auto it = std::ranges::find_if(m_state.htlcs, [&](const ChannelHtlc& h) { return h.offerer == offerer && h.id == id; });
    return it == m_state.htlcs.end() ? nullptr : &*it;
}

ChannelHtlc& Machine::Insert(ChannelHtlc htlc)
{
    const auto it = std::ranges::lower_bound(m_state.htlcs, std::pair{htlc.offerer, htlc.id}, {},
                                             [](const ChannelHtlc& h) { return std::pair{h.offerer, h.id}; });
    return *m_state.htlcs.insert(it, std::move(htlc));
}

void Machine::SendIfConnected(ChannelMessage message)
{
    // Otherwise channel_reestablish retransmits it: every update not yet acknowledged is resent.
    if (m_state.connection == ConnectionStatus::CONNECTED) m_actions.push_back(SendMessage{std::move(message)});
}

// ---- Received messages -------------------------------------------------------------------

void Machine::Apply(const MessageReceived& input)
{
    std::visit([&](const auto& message) { On(message); }, input.message);
}

void Machine::On(const UpdateAddHtlcMessage& message)
{
    RequireActive(message.channel_id);
    Require(!m_state.remote_shutdown_received, ChannelError::ADD_AFTER_SHUTDOWN);
    // "MUST set id to 0 ... MUST increase the value of id by 1 for each successive offer"; our
    // disconnection handling forgets uncommitted HTLCs, so a retransmitted one is the next id.
    Require(message.id == m_state.next_remote_htlc_id, ChannelError::HTLC_ID_OUT_OF_ORDER);
    // "receiving an amount_msat equal to 0, OR less than its own htlc_minimum_msat".
    Require(message.amount_msat > Msat{0}, ChannelError::AMOUNT_ZERO);
    Require(message.amount_msat >= m_state.setup.local_limits.htlc_minimum, ChannelError::AMOUNT_BELOW_MINIMUM);
    // "if the four most significant bytes of amount_msat are not 0: MUST fail the channel".
    Require(message.amount_msat.value() >> 32 == 0, ChannelError::AMOUNT_TOO_LARGE);
    // "if sending node sets cltv_expiry to greater or equal to 500000000".
    Require(message.cltv_expiry < MAX_CLTV_EXPIRY, ChannelError::CLTV_EXPIRY_NOT_BLOCKS);
    ChannelHtlc& htlc = Insert(ChannelHtlc{.offerer = Side::REMOTE,
                                           .id = message.id,
                                           .amount_msat = message.amount_msat,
                                           .payment_hash = message.payment_hash,
                                           .cltv_expiry = message.cltv_expiry,
                                           .onion_routing_packet = message.onion_routing_packet,
                                           .blinding_point = message.blinding_point,
                                           .added = NewProgress(),
                                           .removal = std::nullopt,
                                           .known_preimage = std::nullopt,
                                           .exceeds_dust_exposure = false});
    ++m_state.next_remote_htlc_id;
    CheckNewHtlc(m_state, htlc);
}

ChannelHtlc& Machine::PeerRemoves(uint64_t id)
{
    ChannelHtlc* htlc = Find(Side::LOCAL, id);
    Require(htlc && htlc->added.local_commitment, ChannelError::UNKNOWN_HTLC);
    Require(!htlc->removal, ChannelError::HTLC_ALREADY_REMOVED);
    return *htlc;
}

void Machine::On(const UpdateFulfillHtlcMessage& message)
{
    RequireActive(message.channel_id);
    ChannelHtlc& htlc = PeerRemoves(message.id);
    // "if the payment_preimage value in update_fulfill_htlc doesn't SHA256 hash to the
    // corresponding HTLC payment_hash: MUST ... fail the channel".
    Require(Sha256(message.payment_preimage) == htlc.payment_hash, ChannelError::PREIMAGE_MISMATCH);
    htlc.removal = FulfillRemoval(message.payment_preimage);
    htlc.removal->progress = NewProgress();
    if (!htlc.known_preimage) {
        htlc.known_preimage = message.payment_preimage;
        m_actions.push_back(HtlcFulfilled{.id = htlc.id, .preimage = message.payment_preimage});
    }
}

void Machine::On(const UpdateFailHtlcMessage& message)
{
    RequireActive(message.channel_id);
    ChannelHtlc& htlc = PeerRemoves(message.id);
    htlc.removal = FailRemoval(message.reason);
    htlc.removal->progress = NewProgress();
}

void Machine::On(const UpdateFailMalformedHtlcMessage& message)
{
    RequireActive(message.channel_id);
    ChannelHtlc& htlc = PeerRemoves(message.id);
    // "if the BADONION bit in failure_code is not set for update_fail_malformed_htlc".
    Require((message.failure_code & BADONION) != 0, ChannelError::MALFORMED_WITHOUT_BADONION);
    htlc.removal = MalformedRemoval(message.sha256_of_onion, message.failure_code);
    htlc.removal->progress = NewProgress();
}

void Machine::On(const UpdateFeeMessage& message)
{
    RequireActive(message.channel_id);
    // "if the sender is not responsible for paying the Bitcoin fee: MUST ... fail the channel".
    Require(m_state.setup.params.opener == Side::REMOTE, ChannelError::UPDATE_FEE_FROM_NON_OPENER);
    // "if the update_fee is too low for timely processing, OR is unreasonably large".
    Require(message.feerate_per_kw >= m_state.policy.min_feerate_per_kw, ChannelError::FEERATE_TOO_LOW, Response::WARNING);
    Require(message.feerate_per_kw <= m_state.policy.max_feerate_per_kw, ChannelError::FEERATE_TOO_HIGH, Response::WARNING);
    // A newer update_fee replaces one not yet signed: both would enter the same commitment.
    std::erase_if(m_state.fee_updates, [](const FeeUpdate& u) { return !u.progress.local_commitment; });
    m_state.fee_updates.push_back(FeeUpdate{.feerate_per_kw = message.feerate_per_kw, .progress = NewProgress()});
    CheckFee(m_state, false);
}

void Machine::On(const CommitmentSignedMessage& message)
{
    RequireActive(message.channel_id);
    // Our next commitment takes every update of the peer and every update of ours it acked.
    const uint64_t number = m_state.local_commitment_number + 1;
    // "MUST NOT send a commitment_signed message that does not include any updates".
    Require(TakeIntoLocalCommitment(m_state, number) > 0, ChannelError::NOTHING_TO_SIGN);
    const CommitmentView view = MakeCommitmentView(m_state, Side::LOCAL, number, m_signer.PerCommitmentPoint(number));
    switch (CheckCommitmentSignatures(m_state, m_signer, view, message.signature, message.htlc_signatures)) {
    case SignatureCheck::OK: break;
    case SignatureCheck::WRONG_HTLC_SIGNATURE_COUNT: throw StepError{ChannelError::WRONG_HTLC_SIGNATURE_COUNT, Response::ERROR};
    case SignatureCheck::BAD_COMMITMENT_SIGNATURE: throw StepError{ChannelError::BAD_COMMITMENT_SIGNATURE, Response::ERROR};
    case SignatureCheck::BAD_HTLC_SIGNATURE: throw StepError{ChannelError::BAD_HTLC_SIGNATURE, Response::ERROR};
    }
    m_state.local_commitment_number = number;
    m_state.local_commitment_signature = message.signature;
    m_state.local_htlc_signatures = message.htlc_signatures;
    // "MUST respond with a revoke_and_ack message": the secret of the previous commitment and
    // the point of the one after the new one.
    const Secret<32> secret = m_signer.PerCommitmentSecret(number - 1);
    RevokeAndAckMessage revoke{.channel_id = m_state.setup.channel_id,
                               .per_commitment_secret = {},
                               .next_per_commitment_point = m_signer.PerCommitmentPoint(number + 1),
                               .extension = {}};
    std::ranges::copy(secret.span(), revoke.per_commitment_secret.begin());
    m_state.last_sent_revoke_and_ack = SentMessage<RevokeAndAckMessage>{.message = revoke, .sequence = NextSequence()};
    m_actions.push_back(SendMessage{std::move(revoke)});
    Fold();
}

void Machine::On(const RevokeAndAckMessage& message)
{
    RequireActive(message.channel_id);
    Require(m_state.AwaitingRevocation(), ChannelError::UNEXPECTED_REVOKE_AND_ACK);
    // "if per_commitment_secret does not generate the previous per_commitment_point: MUST ...
    // fail the channel".
    const auto key = PrivKey::FromBytes(message.per_commitment_secret);
    Require(key && key->GetPubKey() == *m_state.remote_prev_per_commitment_point, ChannelError::BAD_REVOCATION_SECRET);
    // "if the per_commitment_secret was not generated by the protocol in BOLT #3: MAY ... fail".
    const uint64_t revoked = m_state.remote_commitment_number - 1;
    Require(m_state.remote_secrets.Insert(CommitmentIndex(revoked), Secret<32>(message.per_commitment_secret)) ==
                ShachainStore::InsertResult::OK,
            ChannelError::REVOCATION_SHACHAIN_MISMATCH);
    m_state.remote_prev_per_commitment_point.reset();
    m_state.remote_next_per_commitment_point = message.next_per_commitment_point;
    // The peer's HTLCs its newly irrevocable commitment added are now committed on both sides
    // (our own commitment took them first).
    for (const ChannelHtlc& htlc : m_state.htlcs) {
        if (htlc.offerer != Side::REMOTE || htlc.added.remote_commitment != m_state.remote_commitment_number) continue;
        m_actions.push_back(HtlcLockedIn{.id = htlc.id,
                                         .amount_msat = htlc.amount_msat,
                                         .payment_hash = htlc.payment_hash,
                                         .cltv_expiry = htlc.cltv_expiry,
                                         .onion_routing_packet = htlc.onion_routing_packet,
                                         .blinding_point = htlc.blinding_point,
                                         .exceeds_dust_exposure = htlc.exceeds_dust_exposure});
    }
    Fold();
}

void Machine::On(const ChannelReadyMessage& message)
{
    RequireActive(message.channel_id);
    // The second point, unless opening already stored it; "MUST ignore any redundant
    // channel_ready it receives".
    if (m_state.remote_commitment_number == 0 && !m_state.AwaitingRevocation() && !m_state.remote_next_per_commitment_point) {
        m_state.remote_next_per_commitment_point = message.second_per_commitment_point;
    }
}

// ---- Folding settled HTLCs and fees ------------------------------------------------------

void Machine::Fold()
{
    // An HTLC whose removal is in our commitment (revoked at once) and acked by the peer is gone
    // from every commitment either side can still broadcast: settle it into the balances.
    std::erase_if(m_state.htlcs, [&](const ChannelHtlc& htlc) {
        if (!htlc.removal || !htlc.removal->progress.local_commitment || !AckedByPeer(m_state, htlc.removal->progress)) {
            return false;
        }
        const bool ours = htlc.offerer == Side::LOCAL;
        if (htlc.removal->kind == HtlcRemovalKind::FULFILL) {
            (ours ? m_state.local_balance : m_state.remote_balance) -= htlc.amount_msat;
            (ours ? m_state.remote_balance : m_state.local_balance) += htlc.amount_msat;
        } else if (ours) {
            std::optional<MalformedFailure> malformed;
            if (htlc.removal->kind == HtlcRemovalKind::FAIL_MALFORMED) {
                malformed = MalformedFailure{.sha256_of_onion = htlc.removal->sha256_of_onion, .failure_code = htlc.removal->failure_code};
            }
            m_actions.push_back(HtlcFailed{.id = htlc.id, .reason = htlc.removal->reason, .malformed = malformed});
        }
        return true;
    });
    while (!m_state.fee_updates.empty() && m_state.fee_updates.front().progress.local_commitment &&
           AckedByPeer(m_state, m_state.fee_updates.front().progress)) {
        m_state.feerate_per_kw = m_state.fee_updates.front().feerate_per_kw;
        m_state.fee_updates.erase(m_state.fee_updates.begin());
    }
}

// ---- Local commands ----------------------------------------------------------------------

void Machine::Apply(const AddHtlcCommand& command)
{
    Require(!m_state.data_loss_detected, ChannelError::DATA_LOSS);
    Require(!m_state.local_shutdown_sent && !m_state.remote_shutdown_received, ChannelError::ADD_AFTER_SHUTDOWN);
    // "MUST offer amount_msat greater than 0. MUST NOT offer amount_msat below the receiving
    // node's htlc_minimum_msat. MUST set cltv_expiry less than 500000000."
    Require(command.amount_msat > Msat{0}, ChannelError::AMOUNT_ZERO);
    Require(command.amount_msat >= m_state.setup.remote_limits.htlc_minimum, ChannelError::AMOUNT_BELOW_MINIMUM);
    Require(command.amount_msat.value() >> 32 == 0, ChannelError::AMOUNT_TOO_LARGE);
    Require(command.cltv_expiry < MAX_CLTV_EXPIRY, ChannelError::CLTV_EXPIRY_NOT_BLOCKS);
    Require(command.cltv_expiry > m_state.block_height, ChannelError::CLTV_EXPIRY_IN_PAST);
    const uint64_t id = m_state.next_local_htlc_id++;
    ChannelHtlc& htlc = Insert(ChannelHtlc{.offerer = Side::LOCAL,
                                           .id = id,
                                           .amount_msat = command.amount_msat,
                                           .payment_hash = command.payment_hash,
                                           .cltv_expiry = command.cltv_expiry,
                                           .onion_routing_packet = command.onion_routing_packet,
                                           .blinding_point = command.blinding_point,
                                           .added = NewProgress(),
                                           .removal = std::nullopt,
                                           .known_preimage = std::nullopt,
                                           .exceeds_dust_exposure = false});
    CheckNewHtlc(m_state, htlc);
    m_actions.push_back(HtlcOffered{.id = id});
    SendIfConnected(UpdateMessage(htlc, false));
}

ChannelHtlc& Machine::WeRemove(uint64_t id)
{
    Require(!m_state.data_loss_detected, ChannelError::DATA_LOSS);
    ChannelHtlc* htlc = Find(Side::REMOTE, id);
    Require(htlc != nullptr, ChannelError::UNKNOWN_HTLC);
    // "until the corresponding HTLC is irrevocably committed in both sides' commitment
    // transactions: MUST NOT send an update_fulfill_htlc, update_fail_htlc, or
    // update_fail_malformed_htlc".
    Require(htlc->added.local_commitment && AckedByPeer(m_state, htlc->added), ChannelError::HTLC_NOT_COMMITTED);
    Require(!htlc->removal, ChannelError::HTLC_ALREADY_REMOVED);
    return *htlc;
}

void Machine::Remove(ChannelHtlc& htlc, HtlcRemoval removal)
{
    removal.progress = NewProgress();
    htlc.removal = std::move(removal);
    SendIfConnected(UpdateMessage(htlc, true));
}

void Machine::Apply(const FulfillHtlcCommand& command)
{
    ChannelHtlc& htlc = WeRemove(command.id);
    Require(Sha256(command.preimage) == htlc.payment_hash, ChannelError::PREIMAGE_MISMATCH);
    Remove(htlc, FulfillRemoval(command.preimage));
}

void Machine::Apply(const FailHtlcCommand& command)
{
    ChannelHtlc& htlc = WeRemove(command.id);
    Remove(htlc, FailRemoval(command.reason));
}

void Machine::Apply(const FailMalformedHtlcCommand& command)
{
    ChannelHtlc& htlc = WeRemove(command.id);
    Require((command.failure_code & BADONION) != 0, ChannelError::MALFORMED_WITHOUT_BADONION);
    Remove(htlc, MalformedRemoval(command.sha256_of_onion, command.failure_code));
}

void Machine::Apply(const UpdateFeeCommand& command)
{
    Require(!m_state.data_loss_detected, ChannelError::DATA_LOSS);
    // "The node not responsible for paying the Bitcoin fee: MUST NOT send update_fee."
    Require(m_state.setup.params.opener == Side::LOCAL, ChannelError::UPDATE_FEE_FROM_NON_OPENER);
    Require(command.feerate_per_kw >= m_state.policy.min_feerate_per_kw, ChannelError::FEERATE_TOO_LOW);
    Require(command.feerate_per_kw <= m_state.policy.max_feerate_per_kw, ChannelError::FEERATE_TOO_HIGH);
    std::erase_if(m_state.fee_updates, [](const FeeUpdate& u) { return !u.progress.remote_commitment; });
    m_state.fee_updates.push_back(FeeUpdate{.feerate_per_kw = command.feerate_per_kw, .progress = NewProgress()});
    CheckFee(m_state, true);
    SendIfConnected(UpdateFeeMessage{.channel_id = m_state.setup.channel_id, .feerate_per_kw = command.feerate_per_kw, .extension = {}});
}

void Machine::Apply(const SignCommitmentCommand&)
{
    Require(!m_state.data_loss_detected, ChannelError::DATA_LOSS);
    // One unrevoked commitment at a time: the next one needs the point the peer's
    // revoke_and_ack (or channel_ready) brings.
    if (m_state.connection != ConnectionStatus::CONNECTED || !m_state.remote_next_per_commitment_point) return;
    const uint64_t number = m_state.remote_commitment_number + 1;
    // The peer's next commitment takes every update of ours and every update of the peer we acked.
    // "MUST NOT send a commitment_signed message that does not include any updates."
    if (TakeIntoRemoteCommitment(m_state, number) == 0) return;
    const PubKey point = *m_state.remote_next_per_commitment_point;
    const CommitmentSignatures signatures = SignCommitmentView(m_state, m_signer, MakeCommitmentView(m_state, Side::REMOTE, number, point));
    CommitmentSignedMessage message{.channel_id = m_state.setup.channel_id,
                                    .signature = signatures.signature,
                                    .htlc_signatures = signatures.htlc_signatures,
                                    .extension = {}};
    m_state.remote_prev_per_commitment_point = m_state.remote_per_commitment_point;
    m_state.remote_per_commitment_point = point;
    m_state.remote_next_per_commitment_point.reset();
    m_state.remote_commitment_number = number;
    m_state.last_sent_commitment_signed = SentMessage<CommitmentSignedMessage>{.message = message, .sequence = NextSequence()};
    m_actions.push_back(SendMessage{std::move(message)});
}

// ---- Connection events -------------------------------------------------------------------

void Machine::Disconnect()
{
    // "MUST reverse any uncommitted updates sent by the other side (i.e. all messages beginning
    // with update_ for which no commitment_signed has been received)". The peer's HTLC ids go
    // back too: it will offer them again with the same ids. Our own updates stay and are
    // retransmitted after channel_reestablish.
    std::erase_if(m_state.htlcs, [&](const ChannelHtlc& htlc) {
        if (htlc.offerer != Side::REMOTE || htlc.added.local_commitment) return false;
        m_state.next_remote_htlc_id = std::min(m_state.next_remote_htlc_id, htlc.id);
        return true;
    });
    for (ChannelHtlc& htlc : m_state.htlcs) {
        // The preimage of a reversed fulfill stays known (known_preimage).
        if (htlc.offerer == Side::LOCAL && htlc.removal && !htlc.removal->progress.local_commitment) htlc.removal.reset();
    }
    if (m_state.setup.params.opener == Side::REMOTE) {
        std::erase_if(m_state.fee_updates, [](const FeeUpdate& u) { return !u.progress.local_commitment; });
    }
    m_state.connection = ConnectionStatus::DISCONNECTED;
}

void Machine::Apply(const PeerDisconnected&) { Disconnect(); }

void Machine::Apply(const PeerReconnected&)
{
    if (m_state.connection != ConnectionStatus::DISCONNECTED) Disconnect();
    // "next_commitment_number to the commitment number of the next commitment_signed it
    // expects to receive ... next_revocation_number to the commitment number of the next
    // revoke_and_ack message it expects to receive ... your_last_per_commitment_secret to the
    // last per_commitment_secret it received", all zero before any.
    const uint64_t next_revocation = m_state.IrrevocableRemoteCommitment();
    ChannelReestablishMessage message{.channel_id = m_state.setup.channel_id,
                                      .next_commitment_number = m_state.local_commitment_number + 1,
                                      .next_revocation_number = next_revocation,
                                      .your_last_per_commitment_secret = {},
                                      .my_current_per_commitment_point = m_signer.PerCommitmentPoint(m_state.local_commitment_number),
                                      .extension = {}};
    if (next_revocation > 0) {
        const auto secret = m_state.remote_secrets.Lookup(CommitmentIndex(next_revocation - 1));
        if (secret) std::ranges::copy(secret->span(), message.your_last_per_commitment_secret.begin());
    }
    m_actions.push_back(SendMessage{std::move(message)});
    m_state.connection = ConnectionStatus::REESTABLISHING;
}

ChannelMessage Machine::UpdateMessage(const ChannelHtlc& htlc, bool removal) const
{
    const Hash256& channel_id = m_state.setup.channel_id;
    if (!removal) {
        return UpdateAddHtlcMessage{.channel_id = channel_id,
                                    .id = htlc.id,
                                    .amount_msat = htlc.amount_msat,
                                    .payment_hash = htlc.payment_hash,
                                    .cltv_expiry = htlc.cltv_expiry,
                                    .onion_routing_packet = htlc.onion_routing_packet,
                                    .blinding_point = htlc.blinding_point,
                                    .extension = {}};
    }
    const HtlcRemoval& r = *htlc.removal;
    switch (r.kind) {
    case HtlcRemovalKind::FULFILL:
        return UpdateFulfillHtlcMessage{.channel_id = channel_id, .id = htlc.id, .payment_preimage = r.preimage, .extension = {}};
    case HtlcRemovalKind::FAIL:
        return UpdateFailHtlcMessage{.channel_id = channel_id, .id = htlc.id, .reason = r.reason, .extension = {}};
    case HtlcRemovalKind::FAIL_MALFORMED:
        break;
    }
    return UpdateFailMalformedHtlcMessage{.channel_id = channel_id,
                                          .id = htlc.id,
                                          .sha256_of_onion = r.sha256_of_onion,
                                          .failure_code = r.failure_code,
                                          .extension = {}};
}

void Machine::Retransmit(bool revoke_and_ack, bool commitment_signed)
{
    // The peer dropped every update of ours that no commitment_signed it received covers: those
    // of the commitment_signed it missed and the unsigned ones. Everything goes out again in the
    // original order.
    std::multimap<uint64_t, ChannelMessage> out;
    const uint64_t unreceived = m_state.remote_commitment_number;
    const auto resend = [&](const UpdateProgress& progress) {
        return !progress.remote_commitment || (commitment_signed && *progress.remote_commitment == unreceived);
    };
    for (const ChannelHtlc& htlc : m_state.htlcs) {
        if (htlc.offerer == Side::LOCAL && resend(htlc.added)) out.emplace(htlc.added.sequence, UpdateMessage(htlc, false));
        if (htlc.offerer == Side::REMOTE && htlc.removal && resend(htlc.removal->progress)) {
            out.emplace(htlc.removal->progress.sequence, UpdateMessage(htlc, true));
        }
    }
    if (m_state.setup.params.opener == Side::LOCAL) {
        for (const FeeUpdate& update : m_state.fee_updates) {
            if (!resend(update.progress)) continue;
            out.emplace(update.progress.sequence,
                        UpdateFeeMessage{.channel_id = m_state.setup.channel_id, .feerate_per_kw = update.feerate_per_kw, .extension = {}});
        }
    }
    if (commitment_signed) out.emplace(m_state.last_sent_commitment_signed->sequence, m_state.last_sent_commitment_signed->message);
    if (revoke_and_ack) out.emplace(m_state.last_sent_revoke_and_ack->sequence, m_state.last_sent_revoke_and_ack->message);
    for (auto& [sequence, message] : out) m_actions.push_back(SendMessage{std::move(message)});
}

void Machine::On(const ChannelReestablishMessage& message)
{
    Require(m_state.connection == ConnectionStatus::REESTABLISHING, ChannelError::UNEXPECTED_MESSAGE, Response::WARNING);
    Require(message.channel_id == m_state.setup.channel_id, ChannelError::WRONG_CHANNEL_ID, Response::WARNING);
    const uint64_t local = m_state.local_commitment_number;
    const uint64_t remote = m_state.remote_commitment_number;
    const uint64_t next_revocation = message.next_revocation_number;
    const auto our_secret_matches = [&](uint64_t number) {
        return std::ranges::equal(m_signer.PerCommitmentSecret(number).span(), message.your_last_per_commitment_secret);
    };
    if (next_revocation > local) {
        // "if next_revocation_number is greater than expected above, AND
        // your_last_per_commitment_secret is correct for that next_revocation_number minus 1:
        // MUST NOT broadcast its commitment transaction ... SHOULD store
        // my_current_per_commitment_point"; otherwise "SHOULD send an error and fail the channel".
        Require(our_secret_matches(next_revocation - 1), ChannelError::REESTABLISH_BAD_REVOCATION_NUMBER);
        m_state.data_loss_detected = true;
        m_state.remote_point_after_data_loss = message.my_current_per_commitment_point;
        m_state.connection = ConnectionStatus::CONNECTED;
        m_actions.push_back(DataLossDetected{message.my_current_per_commitment_point});
        return;
    }
    Require(m_state.data_loss_detected == false, ChannelError::DATA_LOSS, Response::WARNING);
    // The secret must be the one we revealed last (all zero before any).
    const bool secret_ok = next_revocation == 0
                               ? std::ranges::all_of(message.your_last_per_commitment_secret, [](uint8_t b) { return b == 0; })
                               : our_secret_matches(next_revocation - 1);
    Require(secret_ok, ChannelError::REESTABLISH_BAD_SECRET);
    // "if next_revocation_number is equal to the commitment number of the last revoke_and_ack
    // the receiving node sent ... MUST re-send the revoke_and_ack"; "otherwise, if
    // next_revocation_number is not equal to 1 greater than [that number]: SHOULD send an error
    // and fail the channel".
    const bool resend_revoke = next_revocation + 1 == local;
    Require(next_revocation == local || resend_revoke, ChannelError::REESTABLISH_BAD_REVOCATION_NUMBER);
    // "if next_commitment_number is equal to the commitment number of the last
    // commitment_signed message the receiving node has sent: MUST reuse the same commitment
    // number for its next commitment_signed"; otherwise it must be one greater.
    const bool resend_commit = m_state.AwaitingRevocation() && message.next_commitment_number == remote;
    Require(resend_commit || message.next_commitment_number == remote + 1, ChannelError::REESTABLISH_BAD_COMMITMENT_NUMBER);
    m_state.connection = ConnectionStatus::CONNECTED;
    // "if next_commitment_number is 1 in both the channel_reestablish it sent and received:
    // MUST retransmit channel_ready".
    if (local == 0 && message.next_commitment_number == 1) {
        m_actions.push_back(SendMessage{ChannelReadyMessage{.channel_id = m_state.setup.channel_id,
                                                            .second_per_commitment_point = m_signer.PerCommitmentPoint(1),
                                                            .short_channel_id_alias = std::nullopt,
                                                            .extension = {}}});
    }
    Retransmit(resend_revoke, resend_commit);
}

void Machine::Apply(const BlockHeightChanged& event)
{
    m_state.block_height = event.height;
    const auto in_a_commitment = [&](const ChannelHtlc& htlc) {
        const auto in = [&](Side holder, uint64_t number) {
            const auto& added = holder == Side::LOCAL ? htlc.added.local_commitment : htlc.added.remote_commitment;
            if (!added || *added > number) return false;
            if (!htlc.removal) return true;
            const auto& removed = holder == Side::LOCAL ? htlc.removal->progress.local_commitment : htlc.removal->progress.remote_commitment;
            return !removed || *removed > number;
        };
        return in(Side::LOCAL, m_state.local_commitment_number) || in(Side::REMOTE, m_state.remote_commitment_number);
    };
    for (const ChannelHtlc& htlc : m_state.htlcs) {
        if (!in_a_commitment(htlc)) continue;
        // "if an HTLC which it offered is in either node's current commitment transaction, AND is
        // past this timeout deadline: MUST fail the channel"; "if an HTLC it has fulfilled is in
        // either node's current commitment transaction, AND is past this fulfillment deadline:
        // MUST fail the connection".
        const bool offered_late = htlc.offerer == Side::LOCAL && uint64_t{event.height} >= uint64_t{htlc.cltv_expiry} + OFFERED_HTLC_GRACE_BLOCKS;
        const bool fulfilled_late = htlc.offerer == Side::REMOTE && htlc.removal && htlc.removal->kind == HtlcRemovalKind::FULFILL &&
                                    uint64_t{event.height} + FULFILLED_HTLC_DEADLINE_BLOCKS >= htlc.cltv_expiry;
        Require(!offered_late && !fulfilled_late, ChannelError::HTLC_DEADLINE);
    }
}

template <typename T>
constexpr bool IS_COMMAND = std::is_same_v<T, AddHtlcCommand> || std::is_same_v<T, FulfillHtlcCommand> ||
                            std::is_same_v<T, FailHtlcCommand> || std::is_same_v<T, FailMalformedHtlcCommand> ||
                            std::is_same_v<T, SignCommitmentCommand> || std::is_same_v<T, UpdateFeeCommand>;
} // namespace

StepResult Step(const ChannelState& state, const ChannelSigner& signer, const ChannelInput& input)
{
    Machine machine(state, signer);
    try {
        std::visit([&](const auto& in) { machine.Apply(in); }, input);
    } catch (const StepError& error) {
        const bool command = std::visit([](const auto& in) { return IS_COMMAND<std::decay_t<decltype(in)>>; }, input);
        if (command) return CommandRejected{error.error};
        return ProtocolFailure{error.response, error.error};
    } catch (const CommitmentError&) {
        // The rules above keep every commitment buildable; one that is not cannot be signed.
        return ProtocolFailure{Response::ERROR, ChannelError::INVALID_COMMITMENT};
    } catch (const AmountError&) {
        return ProtocolFailure{Response::ERROR, ChannelError::INVALID_COMMITMENT};
    }
    return machine.Finish();
}

bool NextCommitmentOnlySettlesOurs(const ChannelState& state)
{
    // The updates a commitment_signed would take into our commitment, as Machine::On picks them.
    const size_t taken = UpdatesForLocalCommitment(state);
    size_t fulfills = 0;
    for (const ChannelHtlc& htlc : state.htlcs) {
        const auto& removal = htlc.removal;
        if (htlc.offerer == Side::LOCAL && removal && !removal->progress.local_commitment && removal->kind == HtlcRemovalKind::FULFILL) {
            ++fulfills;
        }
    }
    return fulfills > 0 && taken == fulfills;
}

void SignNextRemoteCommitmentAhead(const ChannelState& state, const ChannelSigner& signer)
{
    // What SignCommitmentCommand would sign once Machine::On took the peer's commitment_signed
    // for every update pending now; nothing when it could not sign then.
    if (state.connection != ConnectionStatus::CONNECTED || state.data_loss_detected || !state.remote_next_per_commitment_point) {
        return;
    }
    // A peer that only settled our HTLCs may hold its signature back until it has updates of
    // its own to sign with it (as node/ does): what we sign then is not what we would sign now.
    if (UpdatesForLocalCommitment(state) == 0 || NextCommitmentOnlySettlesOurs(state)) return;
    ChannelState next = state;
    next.local_commitment_number += 1;
    TakeIntoLocalCommitment(next, next.local_commitment_number);
    const uint64_t remote = next.remote_commitment_number + 1;
    if (TakeIntoRemoteCommitment(next, remote) == 0) return;
    SignCommitmentViewAhead(next, signer, MakeCommitmentView(next, Side::REMOTE, remote, *next.remote_next_per_commitment_point));
}

bool HasUnsignedUpdatesOfOurs(const ChannelState& state)
{
    bool unsigned_update = false;
    ForEachUpdate(state, [&](const UpdateProgress& progress, Side proposer, bool) {
        unsigned_update |= proposer == Side::LOCAL && !progress.remote_commitment;
    });
    return unsigned_update;
}

bool NextSignatureOnlyFulfills(const ChannelState& state)
{
    // The updates SignCommitmentCommand would take into the peer's commitment.
    size_t taken = 0;
    ForEachUpdate(state, [&](const UpdateProgress& progress, Side proposer, bool) {
        if (NextRemoteCommitmentTakes(progress, proposer)) ++taken;
    });
    const auto fulfills = std::ranges::count_if(state.htlcs, [](const ChannelHtlc& htlc) {
        return htlc.removal && htlc.removal->kind == HtlcRemovalKind::FULFILL &&
               NextRemoteCommitmentTakes(htlc.removal->progress, Other(htlc.offerer));
    });
    return fulfills > 0 && taken == static_cast<size_t>(fulfills);
}

std::string_view ChannelErrorName(ChannelError error)
{
    switch (error) {
    case ChannelError::HTLC_ID_OUT_OF_ORDER: return "htlc id out of order";
    case ChannelError::AMOUNT_ZERO: return "htlc amount is zero";
    case ChannelError::AMOUNT_BELOW_MINIMUM: return "htlc amount below htlc_minimum_msat";
    case ChannelError::AMOUNT_TOO_LARGE: return "htlc amount has its four most significant bytes set";
    case ChannelError::CLTV_EXPIRY_NOT_BLOCKS: return "cltv_expiry is not a block height";
    case ChannelError::CLTV_EXPIRY_IN_PAST: return "cltv_expiry is not in the future";
    case ChannelError::TOO_MANY_HTLCS: return "too many htlcs (max_accepted_htlcs)";
    case ChannelError::IN_FLIGHT_EXCEEDED: return "max_htlc_value_in_flight_msat exceeded";
    case ChannelError::CANNOT_AFFORD: return "sender cannot afford the htlc with its reserve and the fee";
    case ChannelError::FEE_SPIKE_BUFFER: return "htlc would leave no fee spike buffer";
    case ChannelError::DUST_EXPOSURE: return "dust htlc exposure limit exceeded";
    case ChannelError::ADD_AFTER_SHUTDOWN: return "htlc added after shutdown";
    case ChannelError::UNKNOWN_HTLC: return "unknown htlc id";
    case ChannelError::HTLC_NOT_COMMITTED: return "htlc not irrevocably committed";
    case ChannelError::HTLC_ALREADY_REMOVED: return "htlc already removed";
    case ChannelError::PREIMAGE_MISMATCH: return "payment_preimage does not match payment_hash";
    case ChannelError::MALFORMED_WITHOUT_BADONION: return "update_fail_malformed_htlc without BADONION";
    case ChannelError::UPDATE_FEE_FROM_NON_OPENER: return "update_fee from the non-opener";
    case ChannelError::FEERATE_TOO_LOW: return "feerate too low";
    case ChannelError::FEERATE_TOO_HIGH: return "feerate unreasonably large";
    case ChannelError::FEE_UNAFFORDABLE: return "opener cannot afford the feerate";
    case ChannelError::NOTHING_TO_SIGN: return "commitment_signed without updates";
    case ChannelError::WRONG_HTLC_SIGNATURE_COUNT: return "wrong number of htlc signatures";
    case ChannelError::BAD_COMMITMENT_SIGNATURE: return "invalid commitment signature";
    case ChannelError::BAD_HTLC_SIGNATURE: return "invalid htlc signature";
    case ChannelError::UNEXPECTED_REVOKE_AND_ACK: return "unexpected revoke_and_ack";
    case ChannelError::BAD_REVOCATION_SECRET: return "per_commitment_secret does not match the point";
    case ChannelError::REVOCATION_SHACHAIN_MISMATCH: return "per_commitment_secret breaks the shachain";
    case ChannelError::REESTABLISH_BAD_COMMITMENT_NUMBER: return "channel_reestablish: bad next_commitment_number";
    case ChannelError::REESTABLISH_BAD_REVOCATION_NUMBER: return "channel_reestablish: bad next_revocation_number";
    case ChannelError::REESTABLISH_BAD_SECRET: return "channel_reestablish: bad your_last_per_commitment_secret";
    case ChannelError::HTLC_DEADLINE: return "htlc deadline passed";
    case ChannelError::INVALID_COMMITMENT: return "commitment transaction cannot be built";
    case ChannelError::WRONG_CHANNEL_ID: return "wrong channel_id";
    case ChannelError::UNEXPECTED_MESSAGE: return "unexpected message";
    case ChannelError::DATA_LOSS: return "our channel state is old";
    }
    return "unknown channel error";
}

ChannelNotice FailureNotice(const ChannelState& state, const ProtocolFailure& failure)
{
    const std::string_view text = ChannelErrorName(failure.error);
    return ChannelNotice{.channel_id = state.setup.channel_id, .data = Bytes(text.begin(), text.end()), .extension = {}};
}

} // namespace sidebolt
