// BOLT 4 hop payload TLVs: the spec vector's payloads, codec round trips, and every reject.
#include "pay/hop_payload.h"
#include "tests/test_util.h"
#include "util/hex.h"
#include "wire/bigsize.h"

#include <doctest/doctest.h>

#include <stdexcept>

using namespace sidebolt;

namespace {
Bytes VectorPayload(const nlohmann::json& hop)
{
    const Bytes prefixed = ParseHex(hop["payload"].get<std::string>());
    ByteSpan rest(prefixed);
    REQUIRE(ReadBigSize(rest).has_value());
    return Bytes(rest.begin(), rest.end());
}

PayloadError DecodeFailure(const std::string& hex)
{
    const auto decoded = DecodeHopPayload(ParseHex(hex));
    REQUIRE_FALSE(decoded.has_value());
    return decoded.error();
}

HopPayload Forward()
{
    HopPayload p;
    p.amt_to_forward = Msat{15000};
    p.outgoing_cltv_value = 1500;
    p.short_channel_id = ShortChannelId{0, 0, 1};
    return p;
}

HopPayload Final()
{
    HopPayload p;
    p.amt_to_forward = Msat{10000};
    p.outgoing_cltv_value = 1000;
    return p;
}

std::string Zeros(size_t bytes) { return std::string(2 * bytes, '0'); }

Hash256 Filled(uint8_t byte)
{
    Hash256 h;
    h.fill(byte);
    return h;
}
} // namespace

TEST_CASE("hop payload: BOLT 4 onion-test.json payloads decode, check and re-encode")
{
    const auto hops = test::ReadJsonVectors("bolt04/onion-test.json")["generate"]["hops"];
    REQUIRE(hops.size() == 5);
    const uint64_t amounts[] = {15000, 14000, 12500, 10000, 10000};
    const uint32_t cltvs[] = {1500, 1400, 1250, 1000, 1000};
    for (size_t i = 0; i < hops.size(); ++i) {
        CAPTURE(i);
        const Bytes bytes = VectorPayload(hops[i]);
        const auto payload = DecodeHopPayload(bytes);
        REQUIRE(payload.has_value());
        CHECK(payload->amt_to_forward == Msat{amounts[i]});
        CHECK(payload->outgoing_cltv_value == cltvs[i]);
        CHECK(EncodeHopPayload(*payload) == bytes);
        if (i + 1 < hops.size()) {
            CHECK(payload->short_channel_id == ShortChannelId::FromU64(i + 1));
            CHECK_FALSE(CheckForwardPayload(*payload).has_value());
        } else {
            CHECK_FALSE(CheckFinalPayload(*payload).has_value());
        }
    }
    // Hop 1 carries an odd record 513 of 60 bytes; hop 4 payment_data and odd record 301.
    const auto second = DecodeHopPayload(VectorPayload(hops[1]));
    REQUIRE(second->unknown_odd_records.size() == 1);
    CHECK(second->unknown_odd_records[0].type == 513);
    CHECK(second->unknown_odd_records[0].value.size() == 60);
    const auto last = DecodeHopPayload(VectorPayload(hops[4]));
    REQUIRE(last->payment_data.has_value());
    CHECK(ToHex(last->payment_data->payment_secret) == "24a33562c54507a9334e79f0dc4f17d407e6d7c61f0e2f3d0d38599502f61704");
    CHECK(last->payment_data->total_msat == Msat{10000});
    CHECK(FinalTotalMsat(*last) == Msat{10000});
    REQUIRE(last->unknown_odd_records.size() == 1);
    CHECK(last->unknown_odd_records[0].type == 301);
    CHECK(last->unknown_odd_records[0].value == Bytes(224, 0x2a));
    CHECK_FALSE(last->short_channel_id.has_value());
}

TEST_CASE("hop payload: encoding")
{
    CHECK(ToHex(EncodeHopPayload(Forward())) == "02023a98040205dc06080000000000000001");
    CHECK(EncodeHopPayload(HopPayload{}).empty());
    // Truncated integers: zero is the empty value.
    HopPayload zero;
    zero.amt_to_forward = Msat{0};
    zero.outgoing_cltv_value = 0;
    CHECK(ToHex(EncodeHopPayload(zero)) == "02000400");
    HopPayload keysend = Final();
    keysend.keysend_preimage = Filled(0x11);
    CHECK(ToHex(EncodeHopPayload(keysend)) == "02022710040203e8ff0000000146c6616c20" + ToHex(Filled(0x11)));
}

TEST_CASE("hop payload: round trips")
{
    HopPayload full = Final();
    full.amt_to_forward = Msat{UINT64_MAX};
    full.outgoing_cltv_value = UINT32_MAX;
    full.payment_data = PaymentData{Filled(0xab), Msat{(uint64_t{1} << 40) + 7}};
    full.payment_metadata = Bytes{1, 2, 3, 4, 5};
    full.keysend_preimage = Filled(0x42);
    full.unknown_odd_records = {{1, {}}, {7, {9}}, {65537, Bytes(300, 0x55)}, {5482373485, {1, 2}}};
    const Bytes encoded = EncodeHopPayload(full);
    const auto decoded = DecodeHopPayload(encoded);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == full);
    CHECK(EncodeHopPayload(*decoded) == encoded);

    HopPayload empty_metadata = Final();
    empty_metadata.payment_metadata = Bytes{};
    empty_metadata.payment_data = PaymentData{Filled(1), Msat{0}};
    const auto again = DecodeHopPayload(EncodeHopPayload(empty_metadata));
    REQUIRE(again.has_value());
    CHECK(*again == empty_metadata);

    const HopPayload forward = Forward();
    CHECK(DecodeHopPayload(EncodeHopPayload(forward)).value() == forward);
    const auto nothing = DecodeHopPayload({});
    REQUIRE(nothing.has_value());
    CHECK(*nothing == HopPayload{});
}

TEST_CASE("hop payload: EncodeHopPayload refuses even extra records")
{
    HopPayload p = Final();
    p.unknown_odd_records = {{10, {1}}};
    CHECK_THROWS_AS(EncodeHopPayload(p), std::invalid_argument);
}

TEST_CASE("hop payload: malformed streams")
{
    // Unknown even type (10 is route blinding's encrypted_recipient_data, not supported).
    PayloadError e = DecodeFailure("02022710" "0a0101");
    CHECK(e.tlv_type == 0);
    CHECK(e.offset == 0);
    CHECK(e.reason.find("unknown_even") != std::string::npos);
    // Types not strictly increasing, duplicated, truncated value, non-minimal type.
    CHECK(DecodeFailure("04020100" "02020100").reason.find("tlv stream") != std::string::npos);
    CHECK(DecodeFailure("02020100" "02020100").reason.find("tlv stream") != std::string::npos);
    CHECK(DecodeFailure("020301").reason.find("tlv stream") != std::string::npos);
    CHECK(DecodeFailure("fd000201" "01").reason.find("tlv stream") != std::string::npos);
}

TEST_CASE("hop payload: malformed known values name their type and offset")
{
    struct Case {
        std::string hex;
        uint64_t type;
        uint16_t offset;
    };
    const Case cases[] = {
        {"02020001", 2, 0},                                     // amt_to_forward non-minimal
        {"0209010000000000000000", 2, 0},                       // amt_to_forward longer than 8 bytes
        {"0201010403000001", 4, 3},                             // outgoing_cltv_value non-minimal
        {"02010104050100000000", 4, 3},                         // outgoing_cltv_value longer than 4 bytes
        {"020101040101060700000000000001", 6, 6},               // short_channel_id of 7 bytes
        {"0201010401010609000000000000000100", 6, 6},           // short_channel_id of 9 bytes
        {"081f" + Zeros(31), 8, 0},                             // payment_data too short for its secret
        {"0822" + Zeros(32) + "0001", 8, 0},                    // total_msat non-minimal
        {"0829" + Zeros(32) + "010000000000000000", 8, 0},      // total_msat longer than 8 bytes
        {"01020304" "ff0000000146c6616c1f" + Zeros(31), hop_tlv::KEYSEND_PREIMAGE, 4}, // 31-byte preimage
        {"ff0000000146c6616c21" + Zeros(33), hop_tlv::KEYSEND_PREIMAGE, 0},           // 33-byte preimage
    };
    for (const auto& c : cases) {
        CAPTURE(c.hex);
        const PayloadError e = DecodeFailure(c.hex);
        CHECK(e.tlv_type == c.type);
        CHECK(e.offset == c.offset);
        CHECK(e.reason.find("invalid value") != std::string::npos);
    }
}

TEST_CASE("hop payload: forward payload rules")
{
    CHECK_FALSE(CheckForwardPayload(Forward()).has_value());
    const auto rejects = [](auto&& mutate) {
        HopPayload p = Forward();
        mutate(p);
        const auto error = CheckForwardPayload(p);
        REQUIRE(error.has_value());
        return error->tlv_type;
    };
    CHECK(rejects([](HopPayload& p) { p.amt_to_forward.reset(); }) == hop_tlv::AMT_TO_FORWARD);
    CHECK(rejects([](HopPayload& p) { p.outgoing_cltv_value.reset(); }) == hop_tlv::OUTGOING_CLTV_VALUE);
    CHECK(rejects([](HopPayload& p) { p.short_channel_id.reset(); }) == hop_tlv::SHORT_CHANNEL_ID);
    CHECK(rejects([](HopPayload& p) { p.payment_data = PaymentData{}; }) == hop_tlv::PAYMENT_DATA);
    CHECK(rejects([](HopPayload& p) { p.payment_metadata = Bytes{1}; }) == hop_tlv::PAYMENT_METADATA);
    CHECK(rejects([](HopPayload& p) { p.keysend_preimage = Hash256{}; }) == hop_tlv::KEYSEND_PREIMAGE);
    // Unknown odd records are fine anywhere.
    CHECK_FALSE(CheckForwardPayload([] { HopPayload p = Forward(); p.unknown_odd_records = {{99, {1}}}; return p; }()).has_value());
}

TEST_CASE("hop payload: final payload rules")
{
    CHECK_FALSE(CheckFinalPayload(Final()).has_value());
    HopPayload with_everything = Final();
    with_everything.payment_data = PaymentData{Filled(3), Msat{20000}};
    with_everything.payment_metadata = Bytes{1};
    with_everything.keysend_preimage = Filled(4);
    CHECK_FALSE(CheckFinalPayload(with_everything).has_value());
    CHECK(FinalTotalMsat(with_everything) == Msat{20000});
    CHECK(FinalTotalMsat(Final()) == Msat{10000});
    CHECK_THROWS_AS(FinalTotalMsat(HopPayload{}), std::logic_error);

    const auto rejects = [](auto&& mutate) {
        HopPayload p = Final();
        mutate(p);
        const auto error = CheckFinalPayload(p);
        REQUIRE(error.has_value());
        CHECK(error->offset == 0);
        return error->tlv_type;
    };
    CHECK(rejects([](HopPayload& p) { p.amt_to_forward.reset(); }) == hop_tlv::AMT_TO_FORWARD);
    CHECK(rejects([](HopPayload& p) { p.outgoing_cltv_value.reset(); }) == hop_tlv::OUTGOING_CLTV_VALUE);
    CHECK(rejects([](HopPayload& p) { p.short_channel_id = ShortChannelId{1, 2, 3}; }) == hop_tlv::SHORT_CHANNEL_ID);
}
