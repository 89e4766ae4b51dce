// BOLT 4 forwarding-node failure checks: every code at its boundary, and their order.
#include "pay/forward.h"

#include <doctest/doctest.h>

#include <limits>

using namespace sidebolt;

namespace {

constexpr uint32_t kHeight = 800'000;

//! A forward that passes every check: fee 1000 + 1000000 * 100 / 1e6 = 1100, delta 40.
struct ForwardCase {
    IncomingHtlc incoming{Msat{1'001'100}, 800'140};
    ForwardRequest request{Msat{1'000'000}, 800'100};
    OutgoingChannelView channel{true, true, {Msat{1000}, 100, 40, Msat{1000}, Msat{1'000'000'000}}, Msat{500'000'000}};
    ForwardLimits limits{};

    std::optional<ForwardFailure> Check() const { return CheckForward(incoming, request, channel, kHeight, limits); }
    std::optional<FailureCode> Code() const
    {
        const auto failure = Check();
        return failure ? std::optional{failure->code} : std::nullopt;
    }
    //! Moves the outgoing amount keeping the incoming one paying exactly the fee.
    void SetAmount(uint64_t amount)
    {
        request.amt_to_forward = Msat{amount};
        incoming.amount_msat = request.amt_to_forward + ForwardingFee(channel.policy, request.amt_to_forward);
    }
    //! Moves the outgoing cltv keeping the incoming one exactly cltv_expiry_delta above.
    void SetOutgoingCltv(uint32_t cltv)
    {
        request.outgoing_cltv_value = cltv;
        incoming.cltv_expiry = cltv + channel.policy.cltv_expiry_delta;
    }
};

} // namespace

TEST_CASE("forward: a correct HTLC is forwarded")
{
    const ForwardCase c;
    CHECK_FALSE(c.Check());
}

TEST_CASE("forward: unknown_next_peer")
{
    ForwardCase c;
    c.channel.exists = false;
    const auto failure = c.Check();
    REQUIRE(failure);
    CHECK(failure->code == FailureCode::UNKNOWN_NEXT_PEER);
    CHECK_FALSE(failure->htlc_msat);
    CHECK_FALSE(failure->cltv_expiry);
    CHECK_FALSE(failure->needs_channel_update());
    // Nothing else can be judged without the channel: it comes first whatever else is wrong.
    c.channel.usable = false;
    c.incoming = {Msat{0}, 0};
    CHECK(c.Code() == FailureCode::UNKNOWN_NEXT_PEER);
}

TEST_CASE("forward: temporary_channel_failure above htlc_maximum_msat or the spendable amount")
{
    ForwardCase c;
    c.SetAmount(500'000'000); // exactly what the channel can send
    CHECK_FALSE(c.Check());
    c.SetAmount(500'000'001);
    const auto failure = c.Check();
    REQUIRE(failure);
    CHECK(failure->code == FailureCode::TEMPORARY_CHANNEL_FAILURE);
    CHECK(failure->needs_channel_update());
    CHECK_FALSE(failure->htlc_msat);

    c.channel.spendable_msat = Msat{std::numeric_limits<uint64_t>::max()};
    c.SetAmount(1'000'000'000); // exactly htlc_maximum_msat
    CHECK_FALSE(c.Check());
    c.SetAmount(1'000'000'001);
    CHECK(c.Code() == FailureCode::TEMPORARY_CHANNEL_FAILURE);

    // A channel with no HTLC slot left reports nothing spendable.
    c.SetAmount(1'000'000);
    c.channel.spendable_msat = Msat{0};
    CHECK(c.Code() == FailureCode::TEMPORARY_CHANNEL_FAILURE);
}

TEST_CASE("forward: amount_below_minimum reports the outgoing amount")
{
    ForwardCase c;
    c.SetAmount(1000); // exactly htlc_minimum_msat
    CHECK_FALSE(c.Check());
    c.SetAmount(999);
    const auto failure = c.Check();
    REQUIRE(failure);
    CHECK(failure->code == FailureCode::AMOUNT_BELOW_MINIMUM);
    CHECK(failure->htlc_msat == Msat{999});
    CHECK(failure->needs_channel_update());

    // BOLT 2 forbids a zero HTLC even where our minimum is zero.
    c.channel.policy.htlc_minimum_msat = Msat{0};
    c.SetAmount(1);
    CHECK_FALSE(c.Check());
    c.SetAmount(0);
    CHECK(c.Code() == FailureCode::AMOUNT_BELOW_MINIMUM);
}

TEST_CASE("forward: fee_insufficient reports the incoming amount")
{
    ForwardCase c;
    c.incoming.amount_msat = Msat{1'001'100}; // exactly amt_to_forward + fee
    CHECK_FALSE(c.Check());
    c.incoming.amount_msat = Msat{1'001'099};
    const auto failure = c.Check();
    REQUIRE(failure);
    CHECK(failure->code == FailureCode::FEE_INSUFFICIENT);
    CHECK(failure->htlc_msat == Msat{1'001'099});
    CHECK(failure->needs_channel_update());

    SUBCASE("rounding down in the sender's favour")
    {
        c.channel.policy.fee_proportional_millionths = 1;
        c.request.amt_to_forward = Msat{1'999'999}; // proportional part floor(1.999999) = 1
        c.incoming.amount_msat = Msat{1'999'999 + 1001};
        CHECK_FALSE(c.Check());
        c.incoming.amount_msat = Msat{1'999'999 + 1000};
        CHECK(c.Code() == FailureCode::FEE_INSUFFICIENT);
    }
    SUBCASE("an incoming amount below the outgoing one")
    {
        c.incoming.amount_msat = Msat{1};
        CHECK(c.Code() == FailureCode::FEE_INSUFFICIENT);
    }
    SUBCASE("a fee that overflows can never be paid")
    {
        c.channel.spendable_msat = Msat{std::numeric_limits<uint64_t>::max()};
        c.channel.policy.htlc_maximum_msat = Msat{std::numeric_limits<uint64_t>::max()};
        c.request.amt_to_forward = Msat{std::numeric_limits<uint64_t>::max() - 10};
        c.incoming.amount_msat = Msat{std::numeric_limits<uint64_t>::max()};
        CHECK(c.Code() == FailureCode::FEE_INSUFFICIENT);
    }
}

TEST_CASE("forward: incorrect_cltv_expiry reports the outgoing cltv")
{
    ForwardCase c;
    c.incoming.cltv_expiry = 800'140; // exactly outgoing_cltv_value + cltv_expiry_delta
    CHECK_FALSE(c.Check());
    c.incoming.cltv_expiry = 800'139;
    const auto failure = c.Check();
    REQUIRE(failure);
    CHECK(failure->code == FailureCode::INCORRECT_CLTV_EXPIRY);
    CHECK(failure->cltv_expiry == 800'100u);
    CHECK_FALSE(failure->htlc_msat);
    CHECK(failure->needs_channel_update());

    // An incoming expiry below the outgoing one must not wrap around.
    c.incoming.cltv_expiry = 1;
    CHECK(c.Code() == FailureCode::INCORRECT_CLTV_EXPIRY);
    c.incoming.cltv_expiry = std::numeric_limits<uint32_t>::max();
    c.request.outgoing_cltv_value = std::numeric_limits<uint32_t>::max() - 39;
    CHECK(c.Code() == FailureCode::INCORRECT_CLTV_EXPIRY);
}

TEST_CASE("forward: expiry_too_soon for an outgoing cltv close to the tip")
{
    ForwardCase c;
    c.SetOutgoingCltv(kHeight + 6); // exactly min_outgoing_expiry_blocks ahead
    CHECK_FALSE(c.Check());
    c.SetOutgoingCltv(kHeight + 5);
    const auto failure = c.Check();
    REQUIRE(failure);
    CHECK(failure->code == FailureCode::EXPIRY_TOO_SOON);
    CHECK(failure->needs_channel_update());
    c.SetOutgoingCltv(kHeight - 5); // already expired
    CHECK(c.Code() == FailureCode::EXPIRY_TOO_SOON);

    c.limits.min_outgoing_expiry_blocks = 20;
    c.SetOutgoingCltv(kHeight + 20);
    CHECK_FALSE(c.Check());
    c.SetOutgoingCltv(kHeight + 19);
    CHECK(c.Code() == FailureCode::EXPIRY_TOO_SOON);
}

TEST_CASE("forward: expiry_too_far for an incoming cltv beyond max_htlc_cltv")
{
    ForwardCase c;
    c.SetOutgoingCltv(kHeight + 2016 - 40); // incoming exactly 2016 blocks ahead
    CHECK_FALSE(c.Check());
    c.SetOutgoingCltv(kHeight + 2016 - 39);
    const auto failure = c.Check();
    REQUIRE(failure);
    CHECK(failure->code == FailureCode::EXPIRY_TOO_FAR);
    CHECK_FALSE(failure->needs_channel_update());
    // A larger delta than needed still counts against the incoming expiry.
    c.SetOutgoingCltv(kHeight + 100);
    c.incoming.cltv_expiry = kHeight + 2017;
    CHECK(c.Code() == FailureCode::EXPIRY_TOO_FAR);
    c.incoming.cltv_expiry = std::numeric_limits<uint32_t>::max();
    CHECK(c.Code() == FailureCode::EXPIRY_TOO_FAR);

    c.limits.max_htlc_cltv = 500;
    c.incoming.cltv_expiry = kHeight + 500;
    CHECK_FALSE(c.Check());
    c.incoming.cltv_expiry = kHeight + 501;
    CHECK(c.Code() == FailureCode::EXPIRY_TOO_FAR);
}

TEST_CASE("forward: channel_disabled when the channel cannot be used")
{
    ForwardCase c;
    c.channel.usable = false;
    const auto failure = c.Check();
    REQUIRE(failure);
    CHECK(failure->code == FailureCode::CHANNEL_DISABLED);
    CHECK(failure->needs_channel_update());
    CHECK(failure->needs_disabled_flags());
    CHECK_FALSE(ForwardFailure{FailureCode::FEE_INSUFFICIENT, {}, {}}.needs_disabled_flags());
}

TEST_CASE("forward: with several errors the first of BOLT 4's list is reported")
{
    ForwardCase c;
    // Every later error present at once, then removed one by one from the front.
    c.channel.usable = false;                          // channel_disabled
    c.incoming.cltv_expiry = kHeight + 5000;           // expiry_too_far
    c.request.outgoing_cltv_value = kHeight + 1;       // expiry_too_soon
    c.channel.policy.cltv_expiry_delta = 6000;         // incorrect_cltv_expiry
    c.incoming.amount_msat = Msat{1};                  // fee_insufficient
    c.request.amt_to_forward = Msat{999};              // amount_below_minimum
    c.channel.spendable_msat = Msat{998};              // temporary_channel_failure
    CHECK(c.Code() == FailureCode::TEMPORARY_CHANNEL_FAILURE);
    c.channel.spendable_msat = Msat{500'000'000};
    CHECK(c.Code() == FailureCode::AMOUNT_BELOW_MINIMUM);
    c.request.amt_to_forward = Msat{1'000'000};
    CHECK(c.Code() == FailureCode::FEE_INSUFFICIENT);
    c.incoming.amount_msat = Msat{1'001'100};
    CHECK(c.Code() == FailureCode::INCORRECT_CLTV_EXPIRY);
    c.channel.policy.cltv_expiry_delta = 40;
    CHECK(c.Code() == FailureCode::EXPIRY_TOO_SOON);
    c.request.outgoing_cltv_value = kHeight + 100;
    CHECK(c.Code() == FailureCode::EXPIRY_TOO_FAR);
    c.incoming.cltv_expiry = kHeight + 140;
    CHECK(c.Code() == FailureCode::CHANNEL_DISABLED);
    c.channel.usable = true;
    CHECK_FALSE(c.Check());
}
