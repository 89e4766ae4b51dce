// The payment record codec: a pending payment's retry state survives the store exactly, records
// written before it existed (version 1) still read, and damaged ones are refused.

#include "node/payment_record.h"

#include "tests/node/node_test_util.h"

#include <doctest/doctest.h>

namespace sidebolt {
namespace {

using test::KeyOf;

PaymentRecord PendingRecord()
{
    PaymentRecord record;
    record.payment_hash = Sha256(Bytes{'h'});
    const PubKey payee = KeyOf(0x44).GetPubKey();
    std::copy(payee.span().begin(), payee.span().end(), record.destination.begin());
    record.amount_msat = Msat{1'500'000};
    record.created_at = 1'700'000'000;
    record.attempts = 2;
    record.failure = "hop 0 failed";
    record.failure_code = 0x1007;
    record.erring_index = 0;
    record.bolt11 = "lnbcrt1...";
    record.label = "coffee";
    record.next_part_id = 2;
    record.parts.push_back(PaymentPart{1, Sha256(Bytes{'c'}), 9, Msat{1'501'001}, Msat{1'500'000}, PaymentStatus::PENDING,
                                       "900x3x0>800x2x0"});

    PaymentRetryState retry;
    retry.payment_secret = Sha256(Bytes{'s'});
    retry.payment_metadata = Bytes{1, 2, 3};
    retry.min_final_cltv_expiry_delta = 18;
    retry.route_hints = {{HintHop{KeyOf(0x42).GetPubKey(), ShortChannelId{800, 1, 0}, Msat{1000}, 10, 34}},
                         {HintHop{KeyOf(0x43).GetPubKey(), ShortChannelId{800, 2, 0}, Msat{1000}, 10, 34}}};
    retry.max_fee_percent = 0.3;
    retry.exempt_fee_msat = Msat{5000};
    retry.max_delay = 500;
    retry.retry_deadline = 1'700'000'060;
    retry.excluded = {ShortChannelId{800, 1, 0}};
    retry.too_large = {{ShortChannelId{800, 2, 0}, Msat{700'000}}};
    Route route;
    route.hops = {RouteHop{KeyOf(0x43).GetPubKey(), ShortChannelId{900, 3, 0}, Msat{1'501'001}, 1074},
                  RouteHop{payee, ShortChannelId{800, 2, 0}, Msat{1'500'000}, 1040}};
    retry.in_flight.push_back(PartAttempt{1, route, {Secret<32>(Bytes(32, 7)), Secret<32>(Bytes(32, 8))}});
    record.retry = retry;
    return record;
}

} // namespace

TEST_CASE("payment record: a pending payment's retry state round-trips")
{
    const PaymentRecord record = PendingRecord();
    const auto read = DeserializePaymentRecord(SerializePaymentRecord(record));
    REQUIRE(read);
    CHECK(read->payment_hash == record.payment_hash);
    CHECK(read->attempts == 2);
    REQUIRE(read->parts.size() == 1);
    CHECK(read->parts[0].route == "900x3x0>800x2x0");
    REQUIRE(read->retry);
    const PaymentRetryState& retry = *read->retry;
    CHECK(retry.payment_secret == record.retry->payment_secret);
    CHECK(retry.payment_metadata == record.retry->payment_metadata);
    CHECK_FALSE(retry.keysend_preimage);
    CHECK(retry.min_final_cltv_expiry_delta == 18);
    REQUIRE(retry.route_hints.size() == 2);
    CHECK(retry.route_hints[1][0].node_id == KeyOf(0x43).GetPubKey());
    CHECK(retry.route_hints[1][0].short_channel_id == ShortChannelId{800, 2, 0});
    CHECK(retry.route_hints[1][0].fee_base_msat == Msat{1000});
    CHECK(retry.route_hints[1][0].fee_proportional_millionths == 10);
    CHECK(retry.route_hints[1][0].cltv_expiry_delta == 34);
    CHECK_FALSE(retry.fixed_route);
    CHECK(retry.max_fee_percent == 0.3); // exactly: its bits are stored
    CHECK(retry.exempt_fee_msat == Msat{5000});
    CHECK(retry.max_delay == 500);
    CHECK(retry.retry_deadline == 1'700'000'060);
    CHECK(retry.excluded == std::vector<ShortChannelId>{ShortChannelId{800, 1, 0}});
    REQUIRE(retry.too_large.size() == 1);
    CHECK(retry.too_large[0].first == ShortChannelId{800, 2, 0});
    CHECK(retry.too_large[0].second == Msat{700'000});
    CHECK_FALSE(retry.refused);
    REQUIRE(retry.in_flight.size() == 1);
    const PartAttempt& attempt = retry.in_flight[0];
    CHECK(attempt.part_id == 1);
    REQUIRE(attempt.route.hops.size() == 2);
    CHECK(attempt.route.hops[0].node_id == KeyOf(0x43).GetPubKey());
    CHECK(attempt.route.hops[0].amount_msat == Msat{1'501'001});
    CHECK(attempt.route.hops[1].cltv_expiry == 1040);
    REQUIRE(attempt.shared_secrets.size() == 2);
    CHECK(attempt.shared_secrets[1] == Secret<32>(Bytes(32, 8)));

    SUBCASE("sendpay's fixed route and a keysend preimage")
    {
        PaymentRecord fixed = record;
        fixed.retry->fixed_route = attempt.route;
        fixed.retry->keysend_preimage = Sha256(Bytes{'k'});
        fixed.retry->refused = true;
        const auto again = DeserializePaymentRecord(SerializePaymentRecord(fixed));
        REQUIRE(again);
        REQUIRE(again->retry);
        REQUIRE(again->retry->fixed_route);
        CHECK(again->retry->fixed_route->hops.size() == 2);
        CHECK(again->retry->keysend_preimage == fixed.retry->keysend_preimage);
        CHECK(again->retry->refused);
    }
}

TEST_CASE("payment record: version 2 retry state, without channels refused by amount, still reads")
{
    PaymentRecord record = PendingRecord();
    record.retry->too_large.clear();
    Bytes bytes = SerializePaymentRecord(record);
    // Version 2 ended with the parts in flight: drop the empty list of channels refused by amount.
    REQUIRE(bytes.size() > 4);
    CHECK(Bytes(bytes.end() - 4, bytes.end()) == Bytes(4, 0));
    bytes.resize(bytes.size() - 4);
    bytes[0] = 2;
    const auto old = DeserializePaymentRecord(bytes);
    REQUIRE(old);
    REQUIRE(old->retry);
    CHECK(old->retry->too_large.empty());
    CHECK(old->retry->in_flight.size() == 1);
    // Version 3 needs the list.
    bytes[0] = 3;
    CHECK_FALSE(DeserializePaymentRecord(bytes));
}

TEST_CASE("payment record: a settled record has no retry state; version 1 records still read")
{
    PaymentRecord record = PendingRecord();
    record.retry.reset();
    record.status = PaymentStatus::COMPLETE;
    Bytes bytes = SerializePaymentRecord(record);
    const auto read = DeserializePaymentRecord(bytes);
    REQUIRE(read);
    CHECK_FALSE(read->retry);
    CHECK(read->status == PaymentStatus::COMPLETE);
    // Version 1 was this layout without the retry flag at the end.
    REQUIRE(bytes.back() == 0);
    bytes.pop_back();
    bytes[0] = 1;
    const auto old = DeserializePaymentRecord(bytes);
    REQUIRE(old);
    CHECK_FALSE(old->retry);
    CHECK(old->label == "coffee");
    // A version 1 record with anything after its parts is not one.
    bytes.push_back(0);
    CHECK_FALSE(DeserializePaymentRecord(bytes));
}

TEST_CASE("payment record: damaged retry state is refused")
{
    const Bytes bytes = SerializePaymentRecord(PendingRecord());
    SUBCASE("truncated anywhere in the retry state")
    {
        const size_t settled_size = [] {
            PaymentRecord record = PendingRecord();
            record.retry.reset();
            return SerializePaymentRecord(record).size();
        }();
        for (size_t size = settled_size; size < bytes.size(); ++size) {
            CHECK_FALSE(DeserializePaymentRecord(ByteSpan(bytes).first(size)));
        }
    }
    SUBCASE("an unknown version")
    {
        Bytes other = bytes;
        other[0] = 4;
        CHECK_FALSE(DeserializePaymentRecord(other));
    }
    SUBCASE("a route hop whose node id is not a point")
    {
        // The last part's route starts after part_id (8 bytes) and its hop count (4 bytes);
        // find it from the end: one channel refused by amount (4 + 8 + 8), secrets (2 * 32 + 4),
        // then two hops of 33 + 8 + 8 + 4 bytes.
        Bytes bad = bytes;
        const size_t hop0 = bad.size() - (4 + 8 + 8) - (2 * 32 + 4) - 2 * (33 + 8 + 8 + 4);
        bad[hop0] = 0x05;
        CHECK_FALSE(DeserializePaymentRecord(bad));
    }
}

} // namespace sidebolt
