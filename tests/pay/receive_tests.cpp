// BOLT 4 final-node checks and "Basic Multi-Part Payments" bookkeeping.
#include "pay/receive.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

using namespace sidebolt;

namespace {

constexpr uint32_t kTip = 800'000;

ByteArray<32> SecretOf(uint8_t byte)
{
    ByteArray<32> secret;
    secret.fill(byte);
    return secret;
}

//! A single-part payment of the invoice's exact amount, cltv exactly at the minimum.
struct FinalCase {
    FinalHtlcCheck htlc{Msat{100'000}, kTip + 18, Msat{100'000}, kTip + 18, SecretOf(7), Msat{100'000}};
    std::optional<ExpectedPayment> expected{ExpectedPayment{Msat{100'000}, SecretOf(7), 18, false, false}};

    std::optional<FinalFailure> Check() const { return CheckFinalHtlc(htlc, expected, kTip); }
    std::optional<FailureCode> Code() const
    {
        const auto failure = Check();
        return failure ? std::optional{failure->code} : std::nullopt;
    }
};

IncomingHtlcKey Key(uint64_t id, uint8_t channel = 1) { return {SecretOf(channel), id}; }

} // namespace

TEST_CASE("receive: a correct final HTLC is accepted")
{
    const FinalCase c;
    CHECK_FALSE(c.Check());
}

TEST_CASE("receive: incorrect_or_unknown_payment_details carries htlc_msat and height")
{
    FinalCase c;
    c.expected.reset();
    const auto failure = c.Check();
    REQUIRE(failure);
    CHECK(failure->code == FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
    CHECK(failure->htlc_msat == Msat{100'000});
    CHECK(failure->height == kTip);
    CHECK_FALSE(failure->cltv_expiry);
}

TEST_CASE("receive: expired or already paid invoices count as unknown")
{
    FinalCase c;
    c.expected->expired = true;
    CHECK(c.Code() == FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
    c.expected->expired = false;
    c.expected->paid = true;
    CHECK(c.Code() == FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
}

TEST_CASE("receive: payment_secret wrong or missing")
{
    FinalCase c;
    c.htlc.payment_secret = SecretOf(8);
    CHECK(c.Code() == FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
    c.htlc.payment_secret.reset();
    c.htlc.total_msat.reset();
    CHECK(c.Code() == FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);

    // Without a secret in the invoice (e.g. keysend) a single part needs none...
    c.expected->payment_secret.reset();
    CHECK_FALSE(c.Check());
    // ...but every HTLC of a multi-part set does.
    c.htlc.total_msat = Msat{200'000};
    c.expected->amount_msat.reset();
    CHECK(c.Code() == FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
    c.htlc.payment_secret = SecretOf(1);
    CHECK_FALSE(c.Check());
}

TEST_CASE("receive: amount paid is total_msat, between the invoice amount and twice it")
{
    FinalCase c;
    // One part of a set: amt_to_forward is not what is compared with the invoice.
    c.htlc.htlc_amount_msat = c.htlc.amt_to_forward = Msat{10};
    CHECK_FALSE(c.Check());
    c.htlc.total_msat = Msat{99'999};
    CHECK(c.Code() == FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
    c.htlc.total_msat = Msat{200'000}; // exactly twice
    CHECK_FALSE(c.Check());
    c.htlc.total_msat = Msat{200'001};
    CHECK(c.Code() == FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);

    SUBCASE("without total_msat the HTLC's amt_to_forward is the amount paid")
    {
        c.htlc.total_msat.reset();
        c.htlc.htlc_amount_msat = c.htlc.amt_to_forward = Msat{99'999};
        CHECK(c.Code() == FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
        c.htlc.htlc_amount_msat = c.htlc.amt_to_forward = Msat{200'000};
        CHECK_FALSE(c.Check());
        c.htlc.htlc_amount_msat = c.htlc.amt_to_forward = Msat{200'001};
        CHECK(c.Code() == FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
    }
    SUBCASE("an invoice without an amount takes any")
    {
        c.expected->amount_msat.reset();
        c.htlc.total_msat = Msat{1};
        c.htlc.htlc_amount_msat = c.htlc.amt_to_forward = Msat{1};
        CHECK_FALSE(c.Check());
        c.htlc.total_msat = Msat{std::numeric_limits<uint64_t>::max()};
        CHECK_FALSE(c.Check());
    }
    SUBCASE("twice an enormous amount does not overflow")
    {
        c.expected->amount_msat = Msat{std::numeric_limits<uint64_t>::max() - 1};
        c.htlc.total_msat = Msat{std::numeric_limits<uint64_t>::max()};
        CHECK_FALSE(c.Check());
    }
}

TEST_CASE("receive: cltv_expiry too close to the tip")
{
    FinalCase c;
    c.htlc.htlc_cltv_expiry = c.htlc.outgoing_cltv_value = kTip + 17;
    CHECK(c.Code() == FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
    c.expected->min_final_cltv_expiry_delta = 40;
    c.htlc.htlc_cltv_expiry = c.htlc.outgoing_cltv_value = kTip + 40;
    CHECK_FALSE(c.Check());
    c.htlc.htlc_cltv_expiry = c.htlc.outgoing_cltv_value = kTip + 39;
    const auto failure = c.Check();
    REQUIRE(failure);
    CHECK(failure->code == FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
    CHECK(failure->height == kTip);
}

TEST_CASE("receive: final_incorrect_cltv_expiry when the HTLC expires before the onion says")
{
    FinalCase c;
    c.htlc.htlc_cltv_expiry = kTip + 30;
    c.htlc.outgoing_cltv_value = kTip + 30;
    CHECK_FALSE(c.Check());
    c.htlc.outgoing_cltv_value = kTip + 31;
    const auto failure = c.Check();
    REQUIRE(failure);
    CHECK(failure->code == FailureCode::FINAL_INCORRECT_CLTV_EXPIRY);
    CHECK(failure->cltv_expiry == kTip + 30);
    CHECK_FALSE(failure->htlc_msat);
    // A later HTLC expiry than the onion's is fine.
    c.htlc.outgoing_cltv_value = kTip + 20;
    CHECK_FALSE(c.Check());
}

TEST_CASE("receive: final_incorrect_htlc_amount when the HTLC carries less than the onion says")
{
    FinalCase c;
    c.htlc.htlc_amount_msat = Msat{99'999};
    const auto failure = c.Check();
    REQUIRE(failure);
    CHECK(failure->code == FailureCode::FINAL_INCORRECT_HTLC_AMOUNT);
    CHECK(failure->htlc_msat == Msat{99'999});
    CHECK_FALSE(failure->height);
    c.htlc.htlc_amount_msat = Msat{100'001}; // more than the onion asks is fine
    CHECK_FALSE(c.Check());
}

TEST_CASE("receive: the first failure of BOLT 4's list wins")
{
    FinalCase c;
    c.htlc.htlc_amount_msat = Msat{99'999};
    c.htlc.outgoing_cltv_value = kTip + 19;
    CHECK(c.Code() == FailureCode::FINAL_INCORRECT_CLTV_EXPIRY);
    c.htlc.payment_secret = SecretOf(9);
    CHECK(c.Code() == FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
}

TEST_CASE("receive: a single part completes at once")
{
    PartialPayment payment;
    CHECK_FALSE(payment.deadline());
    const auto outcome = payment.AddPart(Key(1), Msat{100}, Msat{100}, 5);
    REQUIRE(std::holds_alternative<PartialPayment::Complete>(outcome));
    CHECK(std::get<PartialPayment::Complete>(outcome).parts == std::vector<HeldPart>{{Key(1), Msat{100}}});
    CHECK(payment.complete());
    CHECK_FALSE(payment.deadline());
    CHECK(payment.Expire(1'000'000).empty());
}

TEST_CASE("receive: parts arriving in any order complete the set")
{
    const std::vector<HeldPart> all{{Key(1), Msat{30}}, {Key(2, 2), Msat{30}}, {Key(3), Msat{40}}};
    std::vector<size_t> order{0, 1, 2};
    do {
        PartialPayment payment;
        std::vector<HeldPart> arrived;
        for (size_t n = 0; n < order.size(); ++n) {
            const HeldPart& part = all[order[n]];
            arrived.push_back(part);
            const auto outcome = payment.AddPart(part.key, part.amount_msat, Msat{100}, 1000 + n);
            if (n + 1 < order.size()) {
                CHECK(std::holds_alternative<PartialPayment::Hold>(outcome));
                CHECK(payment.deadline() == 1060u);
            } else {
                REQUIRE(std::holds_alternative<PartialPayment::Complete>(outcome));
                CHECK(std::get<PartialPayment::Complete>(outcome).parts == arrived);
            }
        }
        CHECK(payment.received_msat() == Msat{100});
    } while (std::next_permutation(order.begin(), order.end()));
}

TEST_CASE("receive: one msat short holds, an overpaid set completes")
{
    PartialPayment short_set;
    CHECK(std::holds_alternative<PartialPayment::Hold>(short_set.AddPart(Key(1), Msat{50}, Msat{100}, 0)));
    CHECK(std::holds_alternative<PartialPayment::Hold>(short_set.AddPart(Key(2), Msat{49}, Msat{100}, 0)));
    CHECK_FALSE(short_set.complete());

    // Paying more than total_msat is allowed (e.g. forced by an htlc_minimum_msat on the way).
    PartialPayment over;
    CHECK(std::holds_alternative<PartialPayment::Hold>(over.AddPart(Key(1), Msat{60}, Msat{100}, 0)));
    const auto outcome = over.AddPart(Key(2), Msat{60}, Msat{100}, 0);
    REQUIRE(std::holds_alternative<PartialPayment::Complete>(outcome));
    CHECK(std::get<PartialPayment::Complete>(outcome).parts.size() == 2);
    CHECK(over.received_msat() == Msat{120});
}

TEST_CASE("receive: a part after completion is failed alone")
{
    PartialPayment payment;
    REQUIRE(std::holds_alternative<PartialPayment::Complete>(payment.AddPart(Key(1), Msat{100}, Msat{100}, 0)));
    const auto late = payment.AddPart(Key(2), Msat{10}, Msat{100}, 1);
    REQUIRE(std::holds_alternative<PartialPayment::Fail>(late));
    const auto& fail = std::get<PartialPayment::Fail>(late);
    CHECK(fail.code == FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
    CHECK(fail.parts == std::vector<HeldPart>{{Key(2), Msat{10}}});
    CHECK(payment.complete());
    CHECK(payment.parts().size() == 1);
}

TEST_CASE("receive: a differing total_msat fails the whole set")
{
    PartialPayment payment;
    CHECK(std::holds_alternative<PartialPayment::Hold>(payment.AddPart(Key(1), Msat{30}, Msat{100}, 0)));
    CHECK(std::holds_alternative<PartialPayment::Hold>(payment.AddPart(Key(2), Msat{30}, Msat{100}, 1)));
    const auto outcome = payment.AddPart(Key(3), Msat{40}, Msat{90}, 2);
    REQUIRE(std::holds_alternative<PartialPayment::Fail>(outcome));
    const auto& fail = std::get<PartialPayment::Fail>(outcome);
    CHECK(fail.code == FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
    CHECK(fail.parts == std::vector<HeldPart>{{Key(1), Msat{30}}, {Key(2), Msat{30}}, {Key(3), Msat{40}}});
    // The set starts afresh for a retry.
    CHECK(payment.parts().empty());
    CHECK(payment.received_msat() == Msat{0});
    CHECK_FALSE(payment.deadline());
    CHECK(std::holds_alternative<PartialPayment::Hold>(payment.AddPart(Key(4), Msat{50}, Msat{90}, 10)));
    CHECK(payment.deadline() == 70u);
    CHECK(std::holds_alternative<PartialPayment::Complete>(payment.AddPart(Key(5), Msat{40}, Msat{90}, 11)));
}

TEST_CASE("receive: a sum that overflows fails the set")
{
    PartialPayment payment;
    const Msat huge{std::numeric_limits<uint64_t>::max()};
    CHECK(std::holds_alternative<PartialPayment::Hold>(payment.AddPart(Key(1), Msat{huge.value() - 1}, huge, 0)));
    const auto outcome = payment.AddPart(Key(2), Msat{2}, huge, 0);
    REQUIRE(std::holds_alternative<PartialPayment::Fail>(outcome));
    CHECK(std::get<PartialPayment::Fail>(outcome).parts.size() == 2);
}

TEST_CASE("receive: the same HTLC twice is a local bug")
{
    PartialPayment payment;
    payment.AddPart(Key(1), Msat{10}, Msat{100}, 0);
    CHECK_THROWS_AS(payment.AddPart(Key(1), Msat{10}, Msat{100}, 0), std::logic_error);
    // Same id on another channel is another HTLC.
    CHECK(std::holds_alternative<PartialPayment::Hold>(payment.AddPart(Key(1, 2), Msat{10}, Msat{100}, 0)));
}

TEST_CASE("receive: mpp_timeout 60 seconds after the first part")
{
    PartialPayment payment;
    CHECK(payment.Expire(0).empty());
    payment.AddPart(Key(1), Msat{30}, Msat{100}, 1000);
    payment.AddPart(Key(2), Msat{30}, Msat{100}, 1030); // later parts do not extend the wait
    CHECK(payment.deadline() == 1060u);
    CHECK(payment.Expire(1059).empty());
    CHECK(payment.parts().size() == 2);
    const auto expired = payment.Expire(1060);
    CHECK(expired == std::vector<HeldPart>{{Key(1), Msat{30}}, {Key(2), Msat{30}}});
    CHECK(payment.parts().empty());
    CHECK_FALSE(payment.deadline());
    CHECK(payment.Expire(5000).empty());
    // A new set after the timeout waits its own 60 seconds.
    payment.AddPart(Key(3), Msat{30}, Msat{100}, 2000);
    CHECK(payment.Expire(2059).empty());
    CHECK(payment.Expire(2060).size() == 1);
}

TEST_CASE("receive: a complete set never times out")
{
    PartialPayment payment;
    payment.AddPart(Key(1), Msat{50}, Msat{100}, 0);
    payment.AddPart(Key(2), Msat{50}, Msat{100}, 59);
    CHECK(payment.complete());
    CHECK(payment.Expire(60).empty());
    CHECK(payment.parts().size() == 2);
}
