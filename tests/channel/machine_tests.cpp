// The BOLT 2 normal-operation state machine: the commitment dance, and one test per rule a peer
// message or a local command can break.
#include "channel/commitment.h"
#include "channel/machine.h"
#include "channel/state.h"
#include "tests/channel/machine_fixture.h"
#include "util/sync.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <utility>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {
constexpr size_t ALICE = 0; // the opener
constexpr size_t BOB = 1;

ChannelError FailureOf(const StepResult& result, ProtocolFailure::Response response = ProtocolFailure::Response::ERROR)
{
    const auto* failure = std::get_if<ProtocolFailure>(&result);
    REQUIRE(failure != nullptr);
    CHECK(failure->response == response);
    return failure->error;
}

ChannelError RejectionOf(const StepResult& result)
{
    const auto* rejected = std::get_if<CommandRejected>(&result);
    REQUIRE(rejected != nullptr);
    return rejected->error;
}

template <typename T>
std::vector<T> ActionsOf(const std::vector<ChannelAction>& actions)
{
    std::vector<T> out;
    for (const ChannelAction& action : actions) {
        if (const auto* a = std::get_if<T>(&action)) out.push_back(*a);
    }
    return out;
}

template <typename T>
std::vector<T> SentOf(const std::vector<ChannelAction>& actions)
{
    std::vector<T> out;
    for (const SendMessage& send : ActionsOf<SendMessage>(actions)) {
        if (const auto* m = std::get_if<T>(&send.message)) out.push_back(*m);
    }
    return out;
}

Hash256 LocalTxid(Harness& h, size_t side)
{
    return BuildCommitmentTx(LocalCommitmentView(h.State(side), h.pair.signers[side]).spec).tx.GetTxid();
}
Hash256 RemoteTxid(Harness& h, size_t side) { return BuildCommitmentTx(RemoteCommitmentView(h.State(side)).spec).tx.GetTxid(); }

void CheckAgree(Harness& h)
{
    CHECK(LocalTxid(h, ALICE) == RemoteTxid(h, BOB));
    CHECK(LocalTxid(h, BOB) == RemoteTxid(h, ALICE));
}

UpdateAddHtlcMessage AddMessage(const Harness& h, uint64_t id, Msat amount, uint32_t cltv_expiry = 600'000)
{
    UpdateAddHtlcMessage message{.channel_id = h.pair.states[0].setup.channel_id,
                                 .id = id,
                                 .amount_msat = amount,
                                 .payment_hash = Sha256(PreimageOf(id)),
                                 .cltv_expiry = cltv_expiry,
                                 .onion_routing_packet = {},
                                 .blinding_point = std::nullopt,
                                 .extension = {}};
    return message;
}

//! Alice offers `amount` to Bob and both commit it irrevocably.
uint64_t LockIn(Harness& h, Msat amount, uint64_t payment, size_t from = ALICE)
{
    const auto offered = ActionsOf<HtlcOffered>(h.Do(from, AddCommand(amount, payment)));
    REQUIRE(offered.size() == 1);
    h.DeliverAll();
    h.Settle();
    return offered[0].id;
}

Msat Balance(const Harness& h, size_t side) { return h.pair.states[side].local_balance; }
} // namespace

TEST_CASE("an HTLC is added, locked in, fulfilled and settled")
{
    Harness h;
    const Msat alice_before = Balance(h, ALICE);
    const Msat amount{50'000'000};
    const auto add_actions = h.Do(ALICE, AddCommand(amount, 7));
    REQUIRE(ActionsOf<HtlcOffered>(add_actions).size() == 1);
    CHECK(ActionsOf<HtlcOffered>(add_actions)[0].id == 0);
    REQUIRE(SentOf<UpdateAddHtlcMessage>(add_actions).size() == 1);
    h.Deliver(BOB);

    // Alice signs Bob's commitment; Bob answers with revoke_and_ack, signs Alice's in turn.
    const auto sign = h.Do(ALICE, SignCommitmentCommand{});
    REQUIRE(SentOf<CommitmentSignedMessage>(sign).size() == 1);
    CHECK(h.State(ALICE).AwaitingRevocation());
    CHECK(SentOf<CommitmentSignedMessage>(h.Do(ALICE, SignCommitmentCommand{})).empty());
    const auto bob_revokes = h.Deliver(BOB);
    REQUIRE(SentOf<RevokeAndAckMessage>(bob_revokes).size() == 1);
    CHECK(h.State(BOB).local_commitment_number == 1);
    h.Deliver(ALICE);
    CHECK(!h.State(ALICE).AwaitingRevocation());
    h.Do(BOB, SignCommitmentCommand{});
    h.Deliver(ALICE);
    // Bob's revocation of commitment 0 and Alice's of hers; Alice's revoke_and_ack locks the
    // HTLC in for Bob.
    const auto locked = h.Deliver(BOB);
    const auto locked_in = ActionsOf<HtlcLockedIn>(locked);
    REQUIRE(locked_in.size() == 1);
    CHECK(locked_in[0].id == 0);
    CHECK(locked_in[0].amount_msat == amount);
    CHECK(locked_in[0].payment_hash == Sha256(PreimageOf(7)));
    CHECK(locked_in[0].onion_routing_packet[0] == 7);
    CHECK(!locked_in[0].exceeds_dust_exposure);
    CheckAgree(h);
    CHECK(LocalCommitmentView(h.State(ALICE), h.pair.signers[ALICE]).spec.htlcs.size() == 1);

    // Bob fulfills; Alice learns the preimage at once.
    h.Do(BOB, FulfillHtlcCommand{.id = 0, .preimage = PreimageOf(7)});
    const auto fulfilled = ActionsOf<HtlcFulfilled>(h.Deliver(ALICE));
    REQUIRE(fulfilled.size() == 1);
    CHECK(fulfilled[0].preimage == PreimageOf(7));
    h.Settle();
    CheckAgree(h);
    CHECK(h.State(ALICE).htlcs.empty());
    CHECK(h.State(BOB).htlcs.empty());
    CHECK(Balance(h, ALICE) == alice_before - amount);
    CHECK(h.State(BOB).remote_balance == alice_before - amount);
    CHECK(h.State(ALICE).local_commitment_number == 2);
    CHECK(h.State(BOB).remote_commitment_number == 2);
}

TEST_CASE("a failed HTLC is reported upstream only once the removal is irrevocable")
{
    Harness h;
    const Msat before = Balance(h, ALICE);
    LockIn(h, Msat{20'000'000}, 1);
    h.Do(BOB, FailHtlcCommand{.id = 0, .reason = Bytes{1, 2, 3}});
    h.Deliver(ALICE);
    CHECK(ActionsOf<HtlcFailed>(h.events[ALICE]).empty());
    h.Settle();
    const auto failed = ActionsOf<HtlcFailed>(h.events[ALICE]);
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].id == 0);
    CHECK(failed[0].reason == Bytes{1, 2, 3});
    CHECK(!failed[0].malformed);
    CHECK(Balance(h, ALICE) == before);
    CheckAgree(h);

    LockIn(h, Msat{20'000'000}, 2);
    h.Do(BOB, FailMalformedHtlcCommand{.id = 1, .sha256_of_onion = Sha256(Bytes{9}), .failure_code = 0x8000 | 0x4000 | 5});
    h.DeliverAll();
    h.Settle();
    const auto malformed = ActionsOf<HtlcFailed>(h.events[ALICE]);
    REQUIRE(malformed.size() == 2);
    REQUIRE(malformed[1].malformed);
    CHECK(malformed[1].malformed->failure_code == (0x8000 | 0x4000 | 5));
}

TEST_CASE("update_add_htlc receipt rules")
{
    Harness h;
    const auto receive = [&](const UpdateAddHtlcMessage& m) { return h.Try(BOB, MessageReceived{m}); };

    SUBCASE("id must start at 0 and increase by 1")
    {
        CHECK(FailureOf(receive(AddMessage(h, 1, Msat{10'000}))) == ChannelError::HTLC_ID_OUT_OF_ORDER);
        h.Do(BOB, MessageReceived{AddMessage(h, 0, Msat{10'000})});
        CHECK(FailureOf(receive(AddMessage(h, 0, Msat{10'000}))) == ChannelError::HTLC_ID_OUT_OF_ORDER);
        CHECK(FailureOf(receive(AddMessage(h, 2, Msat{10'000}))) == ChannelError::HTLC_ID_OUT_OF_ORDER);
        CHECK(std::holds_alternative<Transition>(receive(AddMessage(h, 1, Msat{10'000}))));
    }
    SUBCASE("amount zero, below htlc_minimum_msat, or with high bytes set")
    {
        CHECK(FailureOf(receive(AddMessage(h, 0, Msat{0}))) == ChannelError::AMOUNT_ZERO);
        CHECK(FailureOf(receive(AddMessage(h, 0, Msat{999}))) == ChannelError::AMOUNT_BELOW_MINIMUM);
        CHECK(std::holds_alternative<Transition>(receive(AddMessage(h, 0, Msat{1'000}))));
        CHECK(FailureOf(receive(AddMessage(h, 0, Msat{uint64_t{1} << 32}))) == ChannelError::AMOUNT_TOO_LARGE);
    }
    SUBCASE("cltv_expiry must be a block height")
    {
        CHECK(FailureOf(receive(AddMessage(h, 0, Msat{10'000}, 500'000'000))) == ChannelError::CLTV_EXPIRY_NOT_BLOCKS);
        CHECK(std::holds_alternative<Transition>(receive(AddMessage(h, 0, Msat{10'000}, 499'999'999))));
    }
    SUBCASE("max_accepted_htlcs")
    {
        h.State(BOB).setup.local_limits.max_accepted_htlcs = 2;
        h.Do(BOB, MessageReceived{AddMessage(h, 0, Msat{10'000})});
        h.Do(BOB, MessageReceived{AddMessage(h, 1, Msat{10'000})});
        CHECK(FailureOf(receive(AddMessage(h, 2, Msat{10'000}))) == ChannelError::TOO_MANY_HTLCS);
    }
    SUBCASE("max_htlc_value_in_flight_msat")
    {
        h.State(BOB).setup.local_limits.max_htlc_value_in_flight = Msat{30'000'000};
        h.Do(BOB, MessageReceived{AddMessage(h, 0, Msat{20'000'000})});
        CHECK(FailureOf(receive(AddMessage(h, 1, Msat{10'000'001}))) == ChannelError::IN_FLIGHT_EXCEEDED);
        CHECK(std::holds_alternative<Transition>(receive(AddMessage(h, 1, Msat{10'000'000}))));
    }
    SUBCASE("the opener must afford the HTLC with its reserve, the fee and the anchors")
    {
        const ChannelState& bob = h.State(BOB);
        // One untrimmed HTLC: Alice pays the fee for it and both anchors (2 x 330 sat).
        const Msat fee = ToMsat(CommitmentFee(CommitmentFormat::ANCHORS, bob.feerate_per_kw, 1) + Sat{660});
        const Msat max = bob.remote_balance - ToMsat(bob.setup.local_limits.channel_reserve) - fee;
        h.State(BOB).setup.local_limits.max_htlc_value_in_flight = Msat{1'000'000'000};
        CHECK(FailureOf(receive(AddMessage(h, 0, max + Msat{1}))) == ChannelError::CANNOT_AFFORD);
        CHECK(std::holds_alternative<Transition>(receive(AddMessage(h, 0, max))));
    }
    SUBCASE("the non-opener must keep its reserve and leave the opener its fee")
    {
        h.State(ALICE).setup.local_limits.max_htlc_value_in_flight = Msat{1'000'000'000};
        const ChannelState& alice = h.State(ALICE);
        const Msat max = alice.remote_balance - ToMsat(alice.setup.local_limits.channel_reserve);
        UpdateAddHtlcMessage too_much = AddMessage(h, 0, max + Msat{1});
        CHECK(FailureOf(h.Try(ALICE, MessageReceived{too_much})) == ChannelError::CANNOT_AFFORD);
        CHECK(std::holds_alternative<Transition>(h.Try(ALICE, MessageReceived{AddMessage(h, 0, max)})));
    }
    SUBCASE("dust exposure past the limit is accepted but flagged for failing back")
    {
        h.State(BOB).policy.max_dust_htlc_exposure = Msat{300'000};
        h.Do(BOB, MessageReceived{AddMessage(h, 0, Msat{200'000})});
        h.Do(BOB, MessageReceived{AddMessage(h, 1, Msat{200'000})});
        CHECK(!h.State(BOB).htlcs[0].exceeds_dust_exposure);
        CHECK(h.State(BOB).htlcs[1].exceeds_dust_exposure);
    }
    SUBCASE("no HTLC after shutdown")
    {
        h.State(BOB).remote_shutdown_received = true;
        CHECK(FailureOf(receive(AddMessage(h, 0, Msat{10'000}))) == ChannelError::ADD_AFTER_SHUTDOWN);
    }
}

TEST_CASE("the dust-flagged HTLC is reported as such when locked in")
{
    Harness h;
    h.State(BOB).policy.max_dust_htlc_exposure = Msat{100'000};
    h.State(ALICE).policy.max_dust_htlc_exposure = Msat{1'000'000};
    LockIn(h, Msat{200'000}, 3);
    const auto locked = ActionsOf<HtlcLockedIn>(h.events[BOB]);
    REQUIRE(locked.size() == 1);
    CHECK(locked[0].exceeds_dust_exposure);
}

TEST_CASE("AddHtlcCommand rules")
{
    Harness h;
    const auto add = [&](Msat amount, uint32_t cltv = 600'000) { return h.Try(ALICE, AddCommand(amount, 1, cltv)); };
    CHECK(RejectionOf(add(Msat{0})) == ChannelError::AMOUNT_ZERO);
    CHECK(RejectionOf(add(Msat{999})) == ChannelError::AMOUNT_BELOW_MINIMUM);
    CHECK(RejectionOf(add(Msat{uint64_t{1} << 32})) == ChannelError::AMOUNT_TOO_LARGE);
    CHECK(RejectionOf(add(Msat{10'000}, 500'000'000)) == ChannelError::CLTV_EXPIRY_NOT_BLOCKS);
    h.Do(ALICE, BlockHeightChanged{.height = 700'000});
    CHECK(RejectionOf(add(Msat{10'000}, 700'000)) == ChannelError::CLTV_EXPIRY_IN_PAST);
    CHECK(std::holds_alternative<Transition>(add(Msat{10'000}, 700'001)));

    SUBCASE("limits announced by the peer")
    {
        h.State(ALICE).setup.remote_limits.max_accepted_htlcs = 1;
        h.Do(ALICE, AddCommand(Msat{10'000}, 1, 700'100));
        CHECK(RejectionOf(add(Msat{10'000}, 700'100)) == ChannelError::TOO_MANY_HTLCS);
        h.State(ALICE).setup.remote_limits.max_accepted_htlcs = 10;
        h.State(ALICE).setup.remote_limits.max_htlc_value_in_flight = Msat{20'000};
        CHECK(RejectionOf(add(Msat{10'001}, 700'100)) == ChannelError::IN_FLIGHT_EXCEEDED);
        CHECK(std::holds_alternative<Transition>(add(Msat{10'000}, 700'100)));
    }
    SUBCASE("the opener keeps a fee spike buffer: twice the feerate and one more HTLC")
    {
        h.State(ALICE).setup.remote_limits.max_htlc_value_in_flight = Msat{1'000'000'000};
        const ChannelState& alice = h.State(ALICE);
        const Msat reserve = ToMsat(alice.setup.remote_limits.channel_reserve);
        const Msat anchors = ToMsat(Sat{660});
        const Msat affordable = alice.local_balance - reserve - anchors - ToMsat(CommitmentFee(alice.setup.params.format, alice.feerate_per_kw, 1));
        const Msat buffered = alice.local_balance - reserve - anchors - ToMsat(CommitmentFee(alice.setup.params.format, 2 * alice.feerate_per_kw, 2));
        CHECK(RejectionOf(add(affordable + Msat{1}, 700'100)) == ChannelError::CANNOT_AFFORD);
        CHECK(RejectionOf(add(affordable, 700'100)) == ChannelError::FEE_SPIKE_BUFFER);
        CHECK(RejectionOf(add(buffered + Msat{1}, 700'100)) == ChannelError::FEE_SPIKE_BUFFER);
        CHECK(std::holds_alternative<Transition>(add(buffered, 700'100)));
    }
    SUBCASE("dust exposure")
    {
        h.State(ALICE).policy.max_dust_htlc_exposure = Msat{300'000};
        h.Do(ALICE, AddCommand(Msat{200'000}, 1, 700'100));
        CHECK(RejectionOf(add(Msat{200'000}, 700'100)) == ChannelError::DUST_EXPOSURE);
        // Above the dust limit, an HTLC is no exposure.
        CHECK(std::holds_alternative<Transition>(add(Msat{400'000}, 700'100)));
    }
    SUBCASE("no HTLC after our shutdown")
    {
        h.State(ALICE).local_shutdown_sent = true;
        CHECK(RejectionOf(add(Msat{10'000}, 700'100)) == ChannelError::ADD_AFTER_SHUTDOWN);
    }
}

TEST_CASE("removal receipt rules")
{
    Harness h;
    h.Do(ALICE, AddCommand(Msat{30'000'000}, 5));
    const Hash256 channel_id = h.State(ALICE).setup.channel_id;
    const auto fulfill = [&](uint64_t id, const Hash256& preimage) {
        return h.Try(ALICE, MessageReceived{UpdateFulfillHtlcMessage{.channel_id = channel_id, .id = id, .payment_preimage = preimage, .extension = {}}});
    };
    // Offered but not yet in Alice's commitment: "id does not correspond to an HTLC in its
    // current commitment transaction".
    CHECK(FailureOf(fulfill(0, PreimageOf(5))) == ChannelError::UNKNOWN_HTLC);
    h.DeliverAll();
    h.Settle();
    CHECK(FailureOf(fulfill(1, PreimageOf(5))) == ChannelError::UNKNOWN_HTLC);
    CHECK(FailureOf(fulfill(0, PreimageOf(6))) == ChannelError::PREIMAGE_MISMATCH);
    const UpdateFailMalformedHtlcMessage no_badonion{.channel_id = channel_id, .id = 0, .sha256_of_onion = {}, .failure_code = 0x4000, .extension = {}};
    CHECK(FailureOf(h.Try(ALICE, MessageReceived{no_badonion})) == ChannelError::MALFORMED_WITHOUT_BADONION);
    const UpdateFailHtlcMessage unknown_fail{.channel_id = channel_id, .id = 3, .reason = {}, .extension = {}};
    CHECK(FailureOf(h.Try(ALICE, MessageReceived{unknown_fail})) == ChannelError::UNKNOWN_HTLC);
    h.Do(ALICE, MessageReceived{UpdateFailHtlcMessage{.channel_id = channel_id, .id = 0, .reason = {}, .extension = {}}});
    CHECK(FailureOf(fulfill(0, PreimageOf(5))) == ChannelError::HTLC_ALREADY_REMOVED);
    // Only the offerer's counterpart may remove: Bob cannot be told to remove his own offer.
    UpdateFulfillHtlcMessage to_bob{.channel_id = channel_id, .id = 0, .payment_preimage = PreimageOf(5), .extension = {}};
    CHECK(FailureOf(h.Try(BOB, MessageReceived{to_bob})) == ChannelError::UNKNOWN_HTLC);
}

TEST_CASE("removal command rules")
{
    Harness h;
    h.Do(ALICE, AddCommand(Msat{30'000'000}, 5));
    h.Deliver(BOB);
    // Not yet irrevocably committed on both sides.
    CHECK(RejectionOf(h.Try(BOB, FulfillHtlcCommand{.id = 0, .preimage = PreimageOf(5)})) == ChannelError::HTLC_NOT_COMMITTED);
    h.Do(ALICE, SignCommitmentCommand{});
    h.Deliver(BOB);
    CHECK(RejectionOf(h.Try(BOB, FailHtlcCommand{.id = 0, .reason = {}})) == ChannelError::HTLC_NOT_COMMITTED);
    h.DeliverAll();
    h.Settle();
    CHECK(RejectionOf(h.Try(BOB, FulfillHtlcCommand{.id = 1, .preimage = PreimageOf(5)})) == ChannelError::UNKNOWN_HTLC);
    CHECK(RejectionOf(h.Try(BOB, FulfillHtlcCommand{.id = 0, .preimage = PreimageOf(4)})) == ChannelError::PREIMAGE_MISMATCH);
    CHECK(RejectionOf(h.Try(BOB, FailMalformedHtlcCommand{.id = 0, .sha256_of_onion = {}, .failure_code = 0x4000})) ==
          ChannelError::MALFORMED_WITHOUT_BADONION);
    // Alice cannot remove her own offer.
    CHECK(RejectionOf(h.Try(ALICE, FailHtlcCommand{.id = 0, .reason = {}})) == ChannelError::UNKNOWN_HTLC);
    h.Do(BOB, FulfillHtlcCommand{.id = 0, .preimage = PreimageOf(5)});
    CHECK(RejectionOf(h.Try(BOB, FailHtlcCommand{.id = 0, .reason = {}})) == ChannelError::HTLC_ALREADY_REMOVED);
}

TEST_CASE("update_fee rules and the fee dance")
{
    Harness h;
    const Hash256 channel_id = h.State(ALICE).setup.channel_id;
    const auto fee_message = [&](uint32_t feerate) { return MessageReceived{UpdateFeeMessage{.channel_id = channel_id, .feerate_per_kw = feerate, .extension = {}}}; };
    // Bob does not pay the fee: he may neither send nor be sent... Alice rejects his update_fee.
    CHECK(FailureOf(h.Try(ALICE, fee_message(3'000))) == ChannelError::UPDATE_FEE_FROM_NON_OPENER);
    CHECK(RejectionOf(h.Try(BOB, UpdateFeeCommand{.feerate_per_kw = 3'000})) == ChannelError::UPDATE_FEE_FROM_NON_OPENER);
    CHECK(FailureOf(h.Try(BOB, fee_message(252)), ProtocolFailure::Response::WARNING) == ChannelError::FEERATE_TOO_LOW);
    CHECK(FailureOf(h.Try(BOB, fee_message(250'001)), ProtocolFailure::Response::WARNING) == ChannelError::FEERATE_TOO_HIGH);
    CHECK(RejectionOf(h.Try(ALICE, UpdateFeeCommand{.feerate_per_kw = 252})) == ChannelError::FEERATE_TOO_LOW);
    CHECK(RejectionOf(h.Try(ALICE, UpdateFeeCommand{.feerate_per_kw = 250'001})) == ChannelError::FEERATE_TOO_HIGH);

    SUBCASE("unaffordable feerates")
    {
        // Alice keeps 600,000 sat: a feerate whose fee exceeds that cannot be paid.
        h.State(BOB).policy.max_feerate_per_kw = 10'000'000;
        h.State(ALICE).policy.max_feerate_per_kw = 10'000'000;
        CHECK(FailureOf(h.Try(BOB, fee_message(2'000'000))) == ChannelError::FEE_UNAFFORDABLE);
        CHECK(RejectionOf(h.Try(ALICE, UpdateFeeCommand{.feerate_per_kw = 2'000'000})) == ChannelError::FEE_UNAFFORDABLE);
    }
    SUBCASE("a fee update reaches both commitments")
    {
        h.Do(ALICE, UpdateFeeCommand{.feerate_per_kw = 5'000});
        h.Do(ALICE, UpdateFeeCommand{.feerate_per_kw = 6'000});
        h.DeliverAll();
        h.Settle();
        CHECK(h.State(ALICE).feerate_per_kw == 6'000);
        CHECK(h.State(BOB).feerate_per_kw == 6'000);
        CHECK(h.State(ALICE).fee_updates.empty());
        CHECK(LocalCommitmentView(h.State(BOB), h.pair.signers[BOB]).spec.feerate_per_kw == 6'000);
        CheckAgree(h);
    }
}

TEST_CASE("commitment_signed rules")
{
    Harness h;
    const Hash256 channel_id = h.State(ALICE).setup.channel_id;
    SUBCASE("nothing to sign")
    {
        const CommitmentSignedMessage empty{.channel_id = channel_id,
                                            .signature = SignRemoteCommitment(h.State(ALICE), h.pair.signers[ALICE]),
                                            .htlc_signatures = {},
                                            .extension = {}};
        CHECK(FailureOf(h.Try(BOB, MessageReceived{empty})) == ChannelError::NOTHING_TO_SIGN);
        CHECK(SentOf<CommitmentSignedMessage>(h.Do(ALICE, SignCommitmentCommand{})).empty());
    }
    SUBCASE("signatures are checked against the real keys")
    {
        h.Do(ALICE, AddCommand(Msat{30'000'000}, 1));
        h.Do(ALICE, AddCommand(Msat{40'000'000}, 2));
        h.Do(ALICE, SignCommitmentCommand{});
        REQUIRE(h.inbox[BOB].size() == 3);
        h.Deliver(BOB);
        h.Deliver(BOB);
        const CommitmentSignedMessage good = std::get<CommitmentSignedMessage>(h.inbox[BOB].front());
        REQUIRE(good.htlc_signatures.size() == 2);
        CommitmentSignedMessage missing = good;
        missing.htlc_signatures.pop_back();
        CHECK(FailureOf(h.Try(BOB, MessageReceived{missing})) == ChannelError::WRONG_HTLC_SIGNATURE_COUNT);
        CommitmentSignedMessage extra = good;
        extra.htlc_signatures.push_back(good.signature);
        CHECK(FailureOf(h.Try(BOB, MessageReceived{extra})) == ChannelError::WRONG_HTLC_SIGNATURE_COUNT);
        CommitmentSignedMessage bad_commitment = good;
        bad_commitment.signature = good.htlc_signatures[0];
        CHECK(FailureOf(h.Try(BOB, MessageReceived{bad_commitment})) == ChannelError::BAD_COMMITMENT_SIGNATURE);
        CommitmentSignedMessage swapped = good;
        std::swap(swapped.htlc_signatures[0], swapped.htlc_signatures[1]);
        CHECK(FailureOf(h.Try(BOB, MessageReceived{swapped})) == ChannelError::BAD_HTLC_SIGNATURE);
        // Signed by the wrong funding key (Bob's own).
        CommitmentSignedMessage wrong_key = good;
        wrong_key.signature = h.pair.signers[BOB].FundingKey().Sign(Sha256(Bytes{1}));
        CHECK(FailureOf(h.Try(BOB, MessageReceived{wrong_key})) == ChannelError::BAD_COMMITMENT_SIGNATURE);
        CHECK(std::holds_alternative<Transition>(h.Try(BOB, MessageReceived{good})));
    }
}

TEST_CASE("revoke_and_ack rules")
{
    Harness h;
    const Hash256 channel_id = h.State(ALICE).setup.channel_id;
    const RevokeAndAckMessage unexpected{.channel_id = channel_id,
                                         .per_commitment_secret = {},
                                         .next_per_commitment_point = h.pair.signers[BOB].PerCommitmentPoint(2),
                                         .extension = {}};
    CHECK(FailureOf(h.Try(ALICE, MessageReceived{unexpected})) == ChannelError::UNEXPECTED_REVOKE_AND_ACK);

    h.Do(ALICE, AddCommand(Msat{30'000'000}, 1));
    h.Do(ALICE, SignCommitmentCommand{});
    h.DeliverAll(); // Bob's revoke_and_ack reaches Alice
    h.Do(ALICE, AddCommand(Msat{30'000'000}, 2));
    h.Do(ALICE, SignCommitmentCommand{});
    h.Deliver(BOB);
    h.Deliver(BOB);
    REQUIRE(h.inbox[ALICE].size() == 1);
    RevokeAndAckMessage revoke = std::get<RevokeAndAckMessage>(h.inbox[ALICE].front());

    SUBCASE("the secret must generate the previous point")
    {
        RevokeAndAckMessage wrong = revoke;
        wrong.per_commitment_secret[0] ^= 1;
        CHECK(FailureOf(h.Try(ALICE, MessageReceived{wrong})) == ChannelError::BAD_REVOCATION_SECRET);
        CHECK(std::holds_alternative<Transition>(h.Try(ALICE, MessageReceived{revoke})));
    }
    SUBCASE("the secret must fit the shachain of the secrets already received")
    {
        // A secret that does match the point, but not the seed of the earlier secret.
        const Secret<32> rogue = SecretOfByte(0x42);
        h.State(ALICE).remote_prev_per_commitment_point = PerCommitmentPoint(rogue);
        std::ranges::copy(rogue.span(), revoke.per_commitment_secret.begin());
        CHECK(FailureOf(h.Try(ALICE, MessageReceived{revoke})) == ChannelError::REVOCATION_SHACHAIN_MISMATCH);
    }
}

TEST_CASE("messages outside the connected phase or for another channel")
{
    Harness h;
    UpdateAddHtlcMessage add = AddMessage(h, 0, Msat{10'000});
    add.channel_id[0] ^= 1;
    CHECK(FailureOf(h.Try(BOB, MessageReceived{add}), ProtocolFailure::Response::WARNING) == ChannelError::WRONG_CHANNEL_ID);
    h.Do(BOB, PeerDisconnected{});
    CHECK(FailureOf(h.Try(BOB, MessageReceived{AddMessage(h, 0, Msat{10'000})}), ProtocolFailure::Response::WARNING) ==
          ChannelError::UNEXPECTED_MESSAGE);
    h.Do(BOB, PeerReconnected{});
    // "MUST wait to receive the other node's channel_reestablish message before sending any
    // other messages": the peer must too.
    CHECK(FailureOf(h.Try(BOB, MessageReceived{AddMessage(h, 0, Msat{10'000})}), ProtocolFailure::Response::WARNING) ==
          ChannelError::UNEXPECTED_MESSAGE);
    const ShutdownMessage shutdown{.channel_id = h.State(BOB).setup.channel_id, .scriptpubkey = {}, .extension = {}};
    CHECK(FailureOf(h.Try(ALICE, MessageReceived{shutdown}), ProtocolFailure::Response::WARNING) == ChannelError::UNEXPECTED_MESSAGE);
}

TEST_CASE("disconnection reverses the peer's uncommitted updates only")
{
    Harness h;
    LockIn(h, Msat{10'000'000}, 1);
    h.Do(ALICE, AddCommand(Msat{20'000'000}, 2));
    h.Do(BOB, FulfillHtlcCommand{.id = 0, .preimage = PreimageOf(1)});
    h.DeliverAll();
    REQUIRE(h.State(BOB).htlcs.size() == 2);
    REQUIRE(h.State(ALICE).FindHtlc(Side::LOCAL, 0)->removal);
    h.Do(ALICE, PeerDisconnected{});
    h.Do(BOB, PeerDisconnected{});
    // Bob forgets Alice's unsigned HTLC 1 (and its id); Alice forgets Bob's fulfill but keeps
    // the preimage; each keeps its own update to resend.
    CHECK(h.State(BOB).htlcs.size() == 1);
    CHECK(h.State(BOB).next_remote_htlc_id == 1);
    CHECK(h.State(ALICE).htlcs.size() == 2);
    CHECK(!h.State(ALICE).FindHtlc(Side::LOCAL, 0)->removal);
    CHECK(h.State(ALICE).FindHtlc(Side::LOCAL, 0)->known_preimage == PreimageOf(1));
    CHECK(h.State(BOB).FindHtlc(Side::REMOTE, 0)->removal);
    h.inbox = {};
    h.Do(ALICE, PeerReconnected{});
    h.Do(BOB, PeerReconnected{});
    h.DeliverAll();
    // Resent: the fulfill (no second HtlcFulfilled) and HTLC 1 with its old id.
    CHECK(ActionsOf<HtlcFulfilled>(h.events[ALICE]).size() == 1);
    CHECK(h.State(BOB).FindHtlc(Side::REMOTE, 1) != nullptr);
    h.Settle();
    CheckAgree(h);
    CHECK(h.State(ALICE).htlcs.size() == 1);
}

TEST_CASE("channel_reestablish retransmits exactly what the peer missed")
{
    Harness h;
    SUBCASE("nothing missed")
    {
        LockIn(h, Msat{10'000'000}, 1);
        h.Reconnect();
        h.Deliver(ALICE);
        h.Deliver(BOB);
        CHECK(h.inbox[ALICE].empty());
        CHECK(h.inbox[BOB].empty());
        CHECK(h.State(ALICE).connection == ConnectionStatus::CONNECTED);
    }
    SUBCASE("a lost commitment_signed comes again with its updates")
    {
        h.Do(ALICE, AddCommand(Msat{10'000'000}, 1));
        h.Do(ALICE, AddCommand(Msat{11'000'000}, 2));
        h.Do(ALICE, SignCommitmentCommand{});
        const std::vector<ChannelMessage> sent = h.inbox[BOB];
        REQUIRE(sent.size() == 3);
        h.Reconnect();
        const auto bob_reestablish = std::get<ChannelReestablishMessage>(h.inbox[ALICE].front());
        CHECK(bob_reestablish.next_commitment_number == 1);
        const auto alice_actions = h.Deliver(ALICE);
        const auto resent = ActionsOf<SendMessage>(alice_actions);
        // Neither side has received a commitment_signed yet: channel_ready goes first.
        REQUIRE(resent.size() == 4);
        CHECK(std::holds_alternative<ChannelReadyMessage>(resent[0].message));
        for (size_t i = 0; i < 3; ++i) CHECK(resent[i + 1].message == sent[i]);
        h.Deliver(BOB);
        h.DeliverAll();
        h.Settle();
        CheckAgree(h);
        CHECK(h.State(BOB).htlcs.size() == 2);
    }
    SUBCASE("a lost revoke_and_ack comes again")
    {
        h.Do(ALICE, AddCommand(Msat{10'000'000}, 1));
        h.Do(ALICE, SignCommitmentCommand{});
        h.Deliver(BOB);
        h.Deliver(BOB);
        const ChannelMessage revoke = h.inbox[ALICE].front();
        h.Reconnect();
        const auto alice_reestablish = std::get<ChannelReestablishMessage>(h.inbox[BOB].front());
        CHECK(alice_reestablish.next_revocation_number == 0);
        const auto resent = ActionsOf<SendMessage>(h.Deliver(BOB));
        REQUIRE(resent.size() == 1);
        CHECK(resent[0].message == revoke);
        h.Deliver(ALICE);
        h.DeliverAll();
        h.Settle();
        CheckAgree(h);
    }
    SUBCASE("revoke_and_ack and commitment_signed in their original order")
    {
        LockIn(h, Msat{10'000'000}, 1);
        h.Do(BOB, FulfillHtlcCommand{.id = 0, .preimage = PreimageOf(1)});
        h.Do(ALICE, AddCommand(Msat{12'000'000}, 2));
        bool revoke_first = false;
        SUBCASE("revoke_and_ack first")
        {
            revoke_first = true;
            h.Do(ALICE, SignCommitmentCommand{});
            h.Deliver(BOB); // add
            h.Deliver(BOB); // commitment_signed: Bob revokes
            h.Do(BOB, SignCommitmentCommand{});
        }
        SUBCASE("commitment_signed first")
        {
            h.Do(ALICE, SignCommitmentCommand{});
            h.Do(BOB, SignCommitmentCommand{});
            h.Deliver(BOB);
            h.Deliver(BOB);
        }
        // Bob's fulfill, commitment_signed and revoke_and_ack are all lost.
        const std::vector<ChannelMessage> lost = h.inbox[ALICE];
        REQUIRE(lost.size() == 3);
        h.Reconnect();
        h.Deliver(BOB); // Alice's channel_reestablish: Bob retransmits after his own
        REQUIRE(h.inbox[ALICE].size() == 4);
        const std::vector<ChannelMessage> resent(h.inbox[ALICE].begin() + 1, h.inbox[ALICE].end());
        CHECK(resent == lost);
        CHECK(std::holds_alternative<UpdateFulfillHtlcMessage>(resent[0]));
        CHECK(std::holds_alternative<RevokeAndAckMessage>(resent[revoke_first ? 1 : 2]));
        h.DeliverAll();
        h.Settle();
        CheckAgree(h);
    }
}

TEST_CASE("channel_reestablish detects a peer that is behind, a bad secret, and our own data loss")
{
    Harness h;
    LockIn(h, Msat{10'000'000}, 1);
    const ChannelState bob_old = h.State(BOB);
    LockIn(h, Msat{10'000'000}, 2);
    LockIn(h, Msat{10'000'000}, 3);

    SUBCASE("the peer lost data: it is behind us")
    {
        h.State(BOB) = bob_old;
        h.Reconnect();
        // Alice gets the old Bob's numbers: an error, the channel fails (she broadcasts).
        CHECK(FailureOf(h.Try(ALICE, MessageReceived{h.inbox[ALICE].front()})) == ChannelError::REESTABLISH_BAD_REVOCATION_NUMBER);
        // The old Bob gets Alice's proof that he is behind: never broadcast, never sign.
        const auto actions = h.Deliver(BOB);
        const auto loss = ActionsOf<DataLossDetected>(actions);
        REQUIRE(loss.size() == 1);
        CHECK(loss[0].remote_current_per_commitment_point == h.pair.signers[ALICE].PerCommitmentPoint(h.State(ALICE).local_commitment_number));
        CHECK(h.State(BOB).data_loss_detected);
        CHECK(RejectionOf(h.Try(BOB, SignCommitmentCommand{})) == ChannelError::DATA_LOSS);
        CHECK(RejectionOf(h.Try(BOB, AddCommand(Msat{10'000}, 9))) == ChannelError::DATA_LOSS);
        // Survives a restart.
        const auto reloaded = DeserializeChannelState(SerializeChannelState(h.State(BOB)));
        REQUIRE(reloaded);
        CHECK(reloaded->data_loss_detected);
    }
    SUBCASE("a wrong your_last_per_commitment_secret")
    {
        h.Reconnect();
        auto reestablish = std::get<ChannelReestablishMessage>(h.inbox[ALICE].front());
        reestablish.your_last_per_commitment_secret[5] ^= 1;
        CHECK(FailureOf(h.Try(ALICE, MessageReceived{reestablish})) == ChannelError::REESTABLISH_BAD_SECRET);
    }
    SUBCASE("a next_revocation_number too far ahead without proof")
    {
        h.Reconnect();
        auto reestablish = std::get<ChannelReestablishMessage>(h.inbox[ALICE].front());
        reestablish.next_revocation_number += 5;
        CHECK(FailureOf(h.Try(ALICE, MessageReceived{reestablish})) == ChannelError::REESTABLISH_BAD_REVOCATION_NUMBER);
    }
    SUBCASE("a next_commitment_number that is neither ours nor ours plus one")
    {
        h.Reconnect();
        auto reestablish = std::get<ChannelReestablishMessage>(h.inbox[ALICE].front());
        reestablish.next_commitment_number -= 1;
        CHECK(FailureOf(h.Try(ALICE, MessageReceived{reestablish})) == ChannelError::REESTABLISH_BAD_COMMITMENT_NUMBER);
        reestablish.next_commitment_number += 2;
        CHECK(FailureOf(h.Try(ALICE, MessageReceived{reestablish})) == ChannelError::REESTABLISH_BAD_COMMITMENT_NUMBER);
    }
    SUBCASE("a second channel_reestablish is unexpected")
    {
        h.Reconnect();
        const ChannelMessage reestablish = h.inbox[ALICE].front();
        h.Deliver(ALICE);
        CHECK(FailureOf(h.Try(ALICE, MessageReceived{reestablish}), ProtocolFailure::Response::WARNING) == ChannelError::UNEXPECTED_MESSAGE);
    }
}

TEST_CASE("channel_ready is retransmitted before the first commitment and its point taken once")
{
    Harness h;
    h.State(BOB).remote_next_per_commitment_point.reset();
    h.Reconnect();
    h.Deliver(ALICE);
    const auto actions = h.Deliver(BOB);
    const auto ready = SentOf<ChannelReadyMessage>(actions);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].second_per_commitment_point == h.pair.signers[BOB].PerCommitmentPoint(1));
    CHECK(h.inbox[BOB].size() == 1); // Alice's channel_ready
    h.Deliver(BOB);
    CHECK(h.State(BOB).remote_next_per_commitment_point == h.pair.signers[ALICE].PerCommitmentPoint(1));
    h.DeliverAll();
    LockIn(h, Msat{10'000'000}, 1, BOB);
    CheckAgree(h);
}

TEST_CASE("HTLC deadlines fail the channel")
{
    Harness h;
    h.Do(ALICE, AddCommand(Msat{10'000'000}, 1, 1'000));
    h.Do(ALICE, AddCommand(Msat{10'000'000}, 2, 2'000));
    h.DeliverAll();
    h.Settle();
    CHECK(std::holds_alternative<Transition>(h.Try(ALICE, BlockHeightChanged{.height = 1'000})));
    CHECK(FailureOf(h.Try(ALICE, BlockHeightChanged{.height = 1'001})) == ChannelError::HTLC_DEADLINE);
    // Bob fulfilled HTLC 1 but Alice does not sign: 7 blocks before its expiry he must go on-chain.
    h.Do(BOB, FulfillHtlcCommand{.id = 1, .preimage = PreimageOf(2)});
    CHECK(std::holds_alternative<Transition>(h.Try(BOB, BlockHeightChanged{.height = 1'992})));
    CHECK(FailureOf(h.Try(BOB, BlockHeightChanged{.height = 1'993})) == ChannelError::HTLC_DEADLINE);
}

TEST_CASE("channel states round-trip through their encoding and corrupt encodings are refused")
{
    Harness h;
    LockIn(h, Msat{10'000'000}, 1);
    h.Do(BOB, FulfillHtlcCommand{.id = 0, .preimage = PreimageOf(1)});
    h.Do(ALICE, AddCommand(Msat{12'000'000}, 2));
    h.Do(ALICE, UpdateFeeCommand{.feerate_per_kw = 3'000});
    h.Do(ALICE, SignCommitmentCommand{});
    for (const ChannelState& state : h.pair.states) {
        const Bytes bytes = SerializeChannelState(state);
        const auto decoded = DeserializeChannelState(bytes);
        REQUIRE(decoded);
        CHECK(*decoded == state);
        CHECK(SerializeChannelState(*decoded) == bytes);
        // Every truncation is refused, as are trailing bytes and another version.
        for (size_t len = 0; len < bytes.size(); len += 1 + len / 16) {
            CHECK(!DeserializeChannelState(ByteSpan(bytes).first(len)));
        }
        Bytes longer = bytes;
        longer.push_back(0);
        CHECK(!DeserializeChannelState(longer));
        Bytes version = bytes;
        version[0] = 2;
        CHECK(!DeserializeChannelState(version));
    }
    // A balance that does not add up to the funding amount is corrupt.
    ChannelState broken = h.State(ALICE);
    broken.local_balance += Msat{1};
    CHECK(!DeserializeChannelState(SerializeChannelState(broken)));
    ChannelState bad_id = h.State(ALICE);
    bad_id.next_local_htlc_id = 0;
    CHECK(!DeserializeChannelState(SerializeChannelState(bad_id)));
}

TEST_CASE("a non-anchor channel works the same way")
{
    PairOptions options;
    options.format = CommitmentFormat::STATIC_REMOTEKEY;
    Harness h(options);
    LockIn(h, Msat{10'000'000}, 1);
    LockIn(h, Msat{300'000}, 2, BOB);
    h.Do(BOB, FulfillHtlcCommand{.id = 0, .preimage = PreimageOf(1)});
    h.Do(ALICE, FailHtlcCommand{.id = 0, .reason = {}});
    h.DeliverAll();
    h.Settle();
    CheckAgree(h);
    CHECK(h.State(ALICE).htlcs.empty());
}

TEST_CASE("a commitment_signed that only settles our HTLCs, and a signature that only fulfills theirs, are told apart")
{
    Harness h;
    CHECK_FALSE(NextCommitmentOnlySettlesOurs(h.State(ALICE)));
    CHECK_FALSE(NextSignatureOnlyFulfills(h.State(ALICE)));
    CHECK_FALSE(HasUnsignedUpdatesOfOurs(h.State(ALICE)));
    const uint64_t first = LockIn(h, Msat{20'000'000}, 1);
    CHECK_FALSE(HasUnsignedUpdatesOfOurs(h.State(ALICE)));
    CHECK_FALSE(NextCommitmentOnlySettlesOurs(h.State(ALICE)));
    CHECK_FALSE(NextSignatureOnlyFulfills(h.State(BOB)));

    SUBCASE("a fulfill's signature waits for the peer's next HTLC and answers both")
    {
        h.Do(BOB, FulfillHtlcCommand{.id = first, .preimage = PreimageOf(1)});
        CHECK(NextSignatureOnlyFulfills(h.State(BOB)));
        CHECK(HasUnsignedUpdatesOfOurs(h.State(BOB)));
        h.Deliver(ALICE);
        CHECK(NextCommitmentOnlySettlesOurs(h.State(ALICE)));
        // Bob's fulfill is his update, not Alice's: she has nothing to sign for it.
        CHECK_FALSE(HasUnsignedUpdatesOfOurs(h.State(ALICE)));
        CHECK_FALSE(NextSignatureOnlyFulfills(h.State(ALICE)));
        h.Do(ALICE, AddCommand(Msat{30'000'000}, 2));
        CHECK_FALSE(NextSignatureOnlyFulfills(h.State(ALICE)));
        const auto offered = h.Do(ALICE, SignCommitmentCommand{});
        REQUIRE(SentOf<CommitmentSignedMessage>(offered).size() == 1);
        // Bob's commitment still has the fulfilled HTLC: Alice's own does not have the fulfill yet.
        CHECK(SentOf<CommitmentSignedMessage>(offered)[0].htlc_signatures.size() == 2);
        h.Deliver(BOB);
        CHECK(NextSignatureOnlyFulfills(h.State(BOB)));
        const auto revoked = h.Deliver(BOB);
        CHECK(SentOf<RevokeAndAckMessage>(revoked).size() == 1);
        // Alice's HTLC is in Bob's commitment now: his signature takes it with the fulfill.
        CHECK_FALSE(NextSignatureOnlyFulfills(h.State(BOB)));
        const auto signed_both = h.Do(BOB, SignCommitmentCommand{});
        REQUIRE(SentOf<CommitmentSignedMessage>(signed_both).size() == 1);
        CHECK(SentOf<CommitmentSignedMessage>(signed_both)[0].htlc_signatures.size() == 1);
        h.Deliver(ALICE);
        const auto alice_revoked = h.Deliver(ALICE);
        CHECK(SentOf<RevokeAndAckMessage>(alice_revoked).size() == 1);
        // The fulfill is in Alice's commitment: its removal from Bob's may wait for her next HTLC.
        CHECK(NextSignatureOnlyFulfills(h.State(ALICE)));
        h.Do(ALICE, AddCommand(Msat{1'000'000}, 5));
        CHECK_FALSE(NextSignatureOnlyFulfills(h.State(ALICE)));
        h.DeliverAll();
        h.Settle();
        CheckAgree(h);
        REQUIRE(h.State(BOB).htlcs.size() == 2);
        CHECK(h.State(BOB).htlcs[0].amount_msat == Msat{30'000'000});
    }
    SUBCASE("a failure is not a settlement to wait on")
    {
        h.Do(BOB, FailHtlcCommand{.id = first, .reason = Bytes(32, 1)});
        CHECK_FALSE(NextSignatureOnlyFulfills(h.State(BOB)));
        h.Deliver(ALICE);
        CHECK_FALSE(NextCommitmentOnlySettlesOurs(h.State(ALICE)));
    }
    SUBCASE("nor a fulfill together with an HTLC of ours")
    {
        h.Do(BOB, FulfillHtlcCommand{.id = first, .preimage = PreimageOf(1)});
        h.Do(BOB, AddCommand(Msat{5'000'000}, 3));
        CHECK_FALSE(NextSignatureOnlyFulfills(h.State(BOB)));
        h.DeliverAll();
        CHECK_FALSE(NextCommitmentOnlySettlesOurs(h.State(ALICE)));
    }
    SUBCASE("nor a fulfill together with a fee update")
    {
        const uint64_t theirs = LockIn(h, Msat{5'000'000}, 4, BOB);
        h.Do(ALICE, FulfillHtlcCommand{.id = theirs, .preimage = PreimageOf(4)});
        CHECK(NextSignatureOnlyFulfills(h.State(ALICE)));
        h.Do(ALICE, UpdateFeeCommand{.feerate_per_kw = 5'000});
        CHECK_FALSE(NextSignatureOnlyFulfills(h.State(ALICE)));
    }
}

namespace {
//! One payment from Alice to Bob, locked in, fulfilled and settled, each side signing as soon as
//! it may; `between` runs before it, before each exchange of messages, and after the fulfill.
void PayAndSettle(Harness& h, uint64_t payment, Msat amount, const std::function<void()>& between)
{
    between();
    h.Do(ALICE, AddCommand(amount, payment));
    h.Do(ALICE, SignCommitmentCommand{});
    while (!h.inbox[ALICE].empty() || !h.inbox[BOB].empty()) {
        between();
        for (size_t side : {ALICE, BOB}) {
            if (!h.inbox[side].empty()) h.Deliver(side);
        }
        h.Do(ALICE, SignCommitmentCommand{});
        h.Do(BOB, SignCommitmentCommand{});
    }
    h.Do(BOB, FulfillHtlcCommand{.id = payment - 1, .preimage = PreimageOf(payment)});
    between();
    h.DeliverAll();
    h.Settle();
}
} // namespace

TEST_CASE("keys derived ahead for the next commitments are the ones the dance derives")
{
    Harness h;
    const auto warm = [&] {
        for (size_t side : {ALICE, BOB}) {
            for (Side holder : {Side::LOCAL, Side::REMOTE}) WarmNextCommitmentKeys(h.State(side), h.pair.signers[side], holder);
        }
    };
    warm();
    const ChannelState& alice = h.State(ALICE);
    const ChannelSigner& signer = h.pair.signers[ALICE];
    const uint64_t next = alice.local_commitment_number + 1;
    const CommitmentSpec ours = MakeCommitmentView(alice, Side::LOCAL, next, signer.PerCommitmentPoint(next)).spec;
    const auto remembered = signer.RememberedKeys(ours);
    REQUIRE(remembered);
    const CommitmentKeys derived = DeriveCommitmentKeys(ours);
    CHECK(remembered->revocation == derived.revocation);
    CHECK(remembered->local_delayed == derived.local_delayed);
    CHECK(remembered->local_htlc == derived.local_htlc);
    CHECK(remembered->remote_htlc == derived.remote_htlc);
    CHECK(remembered->remote_payment == derived.remote_payment);
    REQUIRE(alice.remote_next_per_commitment_point);
    const CommitmentSpec theirs =
        MakeCommitmentView(alice, Side::REMOTE, alice.remote_commitment_number + 1, *alice.remote_next_per_commitment_point).spec;
    REQUIRE(signer.RememberedKeys(theirs));
    CHECK(signer.RememberedKeys(theirs)->revocation == DeriveCommitmentKeys(theirs).revocation);
    // Another point is another commitment.
    CommitmentSpec other = ours;
    other.per_commitment_point = signer.PerCommitmentPoint(next + 1);
    CHECK_FALSE(signer.RememberedKeys(other));

    // A dance that warms before every message signs and checks exactly as one that does not.
    const Msat alice_before = Balance(h, ALICE);
    for (uint64_t payment = 1; payment <= 3; ++payment) PayAndSettle(h, payment, Msat{10'000'000}, warm);
    CheckAgree(h);
    CHECK(Balance(h, ALICE) == alice_before - Msat{30'000'000});
}

TEST_CASE("keys derived ahead on another thread, from copies of the state, while the dance goes on")
{
    // As the node's idle pollers do: each job has its own copy of the state and shares only
    // the signer, whose memos another thread reads and fills meanwhile.
    Harness h;
    Mutex mutex;
    std::condition_variable cv;
    std::deque<std::pair<size_t, std::shared_ptr<const ChannelState>>> jobs;
    bool done = false;
    int posted = 0;
    std::atomic<int> warmed{0};
    std::thread warmer([&] {
        for (;;) {
            std::pair<size_t, std::shared_ptr<const ChannelState>> job;
            {
                UniqueLock lock(mutex);
                lock.Wait(cv, [&]() REQUIRES(mutex) { return done || !jobs.empty(); });
                if (jobs.empty()) return;
                job = std::move(jobs.front());
                jobs.pop_front();
            }
            for (Side holder : {Side::LOCAL, Side::REMOTE}) WarmNextCommitmentKeys(*job.second, h.pair.signers[job.first], holder);
            ++warmed;
        }
    });
    const auto post = [&] {
        const MutexLock lock(mutex);
        for (size_t side : {ALICE, BOB}) jobs.emplace_back(side, std::make_shared<const ChannelState>(h.State(side)));
        posted += 2;
        cv.notify_one();
    };
    const Msat alice_before = Balance(h, ALICE);
    constexpr uint64_t kPayments = 20;
    for (uint64_t payment = 1; payment <= kPayments; ++payment) PayAndSettle(h, payment, Msat{1'000'000}, post);
    {
        const MutexLock lock(mutex);
        done = true;
        cv.notify_one();
    }
    warmer.join();
    CHECK(warmed.load() == posted);
    CHECK(posted >= 4 * static_cast<int>(kPayments));
    CheckAgree(h);
    CHECK(Balance(h, ALICE) == alice_before - Msat{1'000'000 * kPayments});
}
