// BOLT 4 "Returning Errors" and "Failure Messages": the spec's vectors (the JSON file and the
// trace in the spec text), every failure code through routes of 1 to 20 hops, and the rejects.
#include "pay/onion_failure.h"
#include "tests/test_util.h"
#include "util/hex.h"
#include "wire/wire.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

using namespace sidebolt;

namespace {

Secret<32> SecretFromHex(const std::string& hex) { return Secret<32>(ParseHex(hex)); }

std::vector<Secret<32>> RandomSecrets(std::mt19937_64& rng, size_t count)
{
    std::vector<Secret<32>> secrets(count);
    for (auto& secret : secrets) {
        for (uint8_t& byte : secret.span()) byte = static_cast<uint8_t>(rng());
    }
    return secrets;
}

//! The hops before the erring hop `k` each add their layer, k-1 down to 0.
Bytes ReturnToOrigin(const std::vector<Secret<32>>& secrets, size_t k, Bytes packet)
{
    for (size_t i = k; i-- > 0;) packet = WrapFailureOnion(secrets[i], packet);
    return packet;
}

//! A packet with a valid HMAC over an arbitrary body, as a (possibly non-compliant) hop sends it.
Bytes Seal(const Secret<32>& secret, ByteSpan body)
{
    const Hash256 hmac = HmacSha256(DeriveUmKey(secret).span(), body);
    return WrapFailureOnion(secret, Concat({hmac, body}));
}

//! failure_len || failuremsg || pad_len || zero pad.
Bytes Body(ByteSpan failuremsg, size_t pad_len)
{
    Bytes body;
    WireWriter writer(body);
    writer.WriteU16Prefixed(failuremsg);
    writer.WriteU16(static_cast<uint16_t>(pad_len));
    body.resize(body.size() + pad_len);
    return body;
}

FailureMessage MessageFromBytes(ByteSpan failuremsg)
{
    return FailureMessage{static_cast<uint16_t>(failuremsg[0] << 8 | failuremsg[1]), Bytes(failuremsg.begin() + 2, failuremsg.end())};
}

const Bytes kChannelUpdate = ParseHex("0102" "aabbccddeeff00112233");
const Hash256 kOnionHash = Sha256(ParseHex("00"));

struct Case {
    FailureMessage message;
    FailureDetails expected;
};

FailureDetails Details(uint16_t code)
{
    FailureDetails details;
    details.code = code;
    return details;
}

FailureDetails Details(FailureCode code) { return Details(static_cast<uint16_t>(code)); }

FailureDetails WithUpdate(FailureDetails details)
{
    details.channel_update = kChannelUpdate;
    return details;
}

//! One message per BOLT 4 failure code (invalid_onion_payload with and without its fields),
//! with the details the origin must decode from it.
std::vector<Case> AllCases()
{
    std::vector<Case> cases;
    for (const FailureCode code : {FailureCode::INVALID_REALM, FailureCode::TEMPORARY_NODE_FAILURE,
                                   FailureCode::PERMANENT_NODE_FAILURE, FailureCode::REQUIRED_NODE_FEATURE_MISSING,
                                   FailureCode::PERMANENT_CHANNEL_FAILURE, FailureCode::REQUIRED_CHANNEL_FEATURE_MISSING,
                                   FailureCode::UNKNOWN_NEXT_PEER, FailureCode::EXPIRY_TOO_FAR,
                                   FailureCode::INVALID_ONION_PAYLOAD, FailureCode::MPP_TIMEOUT}) {
        cases.push_back({MakeFailure(code), Details(code)});
    }
    for (const FailureCode code : {FailureCode::INVALID_ONION_VERSION, FailureCode::INVALID_ONION_HMAC,
                                   FailureCode::INVALID_ONION_KEY, FailureCode::INVALID_ONION_BLINDING}) {
        FailureDetails expected = Details(code);
        expected.sha256_of_onion = kOnionHash;
        cases.push_back({MakeBadOnion(code, kOnionHash), expected});
    }
    for (const FailureCode code : {FailureCode::TEMPORARY_CHANNEL_FAILURE, FailureCode::EXPIRY_TOO_SOON}) {
        cases.push_back({MakeFailureWithUpdate(code, kChannelUpdate), WithUpdate(Details(code))});
    }
    FailureDetails below = WithUpdate(Details(FailureCode::AMOUNT_BELOW_MINIMUM));
    below.htlc_msat = Msat{999};
    cases.push_back({MakeAmountBelowMinimum(Msat{999}, kChannelUpdate), below});
    FailureDetails fee = WithUpdate(Details(FailureCode::FEE_INSUFFICIENT));
    fee.htlc_msat = Msat{0x0102030405060708};
    cases.push_back({MakeFeeInsufficient(Msat{0x0102030405060708}, kChannelUpdate), fee});
    FailureDetails cltv = WithUpdate(Details(FailureCode::INCORRECT_CLTV_EXPIRY));
    cltv.cltv_expiry = 812345;
    cases.push_back({MakeIncorrectCltvExpiry(812345, kChannelUpdate), cltv});
    FailureDetails disabled = WithUpdate(Details(FailureCode::CHANNEL_DISABLED));
    disabled.disabled_flags = 0x8001;
    cases.push_back({MakeChannelDisabled(0x8001, kChannelUpdate), disabled});
    FailureDetails details = Details(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
    details.htlc_msat = Msat{100000};
    details.height = 800001;
    cases.push_back({MakeIncorrectPaymentDetails(Msat{100000}, 800001), details});
    FailureDetails final_cltv = Details(FailureCode::FINAL_INCORRECT_CLTV_EXPIRY);
    final_cltv.cltv_expiry = 700000;
    cases.push_back({MakeFinalIncorrectCltvExpiry(700000), final_cltv});
    FailureDetails final_amount = Details(FailureCode::FINAL_INCORRECT_HTLC_AMOUNT);
    final_amount.htlc_msat = Msat{123456789};
    cases.push_back({MakeFinalIncorrectHtlcAmount(Msat{123456789}), final_amount});
    FailureDetails payload = Details(FailureCode::INVALID_ONION_PAYLOAD);
    payload.tlv_type = 0x10000; // a 5-byte BigSize
    payload.offset = 517;
    cases.push_back({MakeInvalidOnionPayload(0x10000, 517), payload});
    return cases;
}

} // namespace

TEST_CASE("onion failure: spec vector file onion-error-test.json")
{
    const auto vectors = test::ReadJsonVectors("bolt04/onion-error-test.json");
    const auto& hops = vectors["generate"]["hops"];
    REQUIRE(hops.size() == 5);
    std::vector<Secret<32>> secrets;
    for (const auto& hop : hops) {
        secrets.push_back(SecretFromHex(hop["hop_shared_secret"]));
        CHECK(ToHex(DeriveAmmagKey(secrets.back()).span()) == hop["ammag_key"].get<std::string>());
        if (hop.contains("um_key")) CHECK(ToHex(DeriveUmKey(secrets.back()).span()) == hop["um_key"].get<std::string>());
    }
    const FailureMessage message = MessageFromBytes(ParseHex(vectors["generate"]["failure_message"].get<std::string>()));
    CHECK(message == MakeFailure(FailureCode::TEMPORARY_NODE_FAILURE));

    Bytes packet = CreateFailureOnion(secrets[4], message);
    // The erring hop's layer removed: its HMAC and the payload the vector gives.
    const Bytes plain = WrapFailureOnion(secrets[4], packet);
    const ByteSpan payload = ByteSpan(plain).subspan(32);
    CHECK(ToHex(payload) == hops[4]["payload"].get<std::string>());
    const Hash256 hmac = HmacSha256(DeriveUmKey(secrets[4]).span(), payload);
    CHECK(std::equal(hmac.begin(), hmac.end(), plain.begin()));

    packet = ReturnToOrigin(secrets, 4, packet);
    CHECK(ToHex(packet) == vectors["errorpacket"].get<std::string>());

    const auto failure = DecryptFailureOnion(secrets, ParseHex(vectors["errorpacket"].get<std::string>()));
    REQUIRE(failure);
    CHECK(failure->hop_index == 4);
    CHECK_FALSE(failure->malformed);
    CHECK(failure->message == message);
    const auto details = ParseFailureMessage(EncodeFailureMessage(failure->message));
    REQUIRE(details);
    CHECK(*details == Details(FailureCode::TEMPORARY_NODE_FAILURE));
}

TEST_CASE("onion failure: spec text trace, every intermediate packet")
{
    const auto vectors = test::ReadJsonVectors("bolt04/onion-error-spec-trace.json");
    const auto& hops = vectors["hops"]; // return order: the erring node 4 first
    REQUIRE(hops.size() == 5);

    FailureMessage message = MakeIncorrectPaymentDetails(Msat{vectors["htlc_msat"].get<uint64_t>()}, vectors["height"].get<uint32_t>());
    TlvStream tlvs;
    tlvs.Set(vectors["tlv_type"].get<uint64_t>(), Bytes(vectors["tlv_value_len"].get<size_t>(), vectors["tlv_value_byte"].get<uint8_t>()));
    Append(message.data, tlvs.Encode());
    CHECK(ToHex(EncodeFailureMessage(message)) == vectors["failuremsg"].get<std::string>());

    std::vector<Secret<32>> return_secrets;
    for (const auto& hop : hops) {
        return_secrets.push_back(SecretFromHex(hop["shared_secret"]));
        CHECK(ToHex(DeriveAmmagKey(return_secrets.back()).span()) == hop["ammag_key"].get<std::string>());
    }
    CHECK(ToHex(DeriveUmKey(return_secrets[0]).span()) == vectors["um_key"].get<std::string>());

    const size_t padded_len = vectors["failure_len"].get<size_t>() + vectors["pad_len"].get<size_t>();
    Bytes packet = CreateFailureOnion(return_secrets[0], message, padded_len);
    const Bytes raw = WrapFailureOnion(return_secrets[0], packet);
    CHECK(ToHex(ByteSpan(raw).first(32)) == vectors["raw_error_packet_hmac"].get<std::string>());
    for (size_t i = 0; i < hops.size(); ++i) {
        CAPTURE(i);
        if (i > 0) packet = WrapFailureOnion(return_secrets[i], packet);
        CHECK(ToHex(packet) == hops[i]["error_packet"].get<std::string>());
    }

    std::vector<Secret<32>> route_secrets(return_secrets.rbegin(), return_secrets.rend());
    const auto failure = DecryptFailureOnion(route_secrets, packet);
    REQUIRE(failure);
    CHECK(failure->hop_index == vectors["failure_source"].get<size_t>());
    CHECK(failure->message == message);
    const auto details = ParseFailureMessage(EncodeFailureMessage(failure->message));
    REQUIRE(details);
    CHECK(details->code == static_cast<uint16_t>(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS));
    CHECK(details->htlc_msat == Msat{100});
    CHECK(details->height == 800000u);
    REQUIRE(details->tlv_stream);
    CHECK(*details->tlv_stream == tlvs);
    CHECK(details->extra == tlvs.Encode());
}

TEST_CASE("onion failure: every code from any hop of 1 to 20-hop routes")
{
    std::mt19937_64 rng(0x0b0174);
    for (const Case& c : AllCases()) {
        CAPTURE(FailureCodeName(c.message.code));
        for (size_t hops = 1; hops <= 20; ++hops) {
            const size_t k = rng() % hops;
            CAPTURE(hops);
            CAPTURE(k);
            const auto secrets = RandomSecrets(rng, hops);
            const Bytes packet = ReturnToOrigin(secrets, k, CreateFailureOnion(secrets[k], c.message));
            CHECK(packet.size() == kMinFailureOnionSize);
            const auto failure = DecryptFailureOnion(secrets, packet);
            REQUIRE(failure);
            CHECK(failure->hop_index == k);
            CHECK_FALSE(failure->malformed);
            CHECK(failure->message == c.message);
            const auto details = ParseFailureMessage(EncodeFailureMessage(failure->message));
            REQUIRE(details);
            CHECK(*details == c.expected);
        }
    }
}

TEST_CASE("onion failure: each hop of a 20-hop route is attributed, and only with its secret")
{
    std::mt19937_64 rng(20);
    const auto secrets = RandomSecrets(rng, 20);
    const FailureMessage message = MakeFailure(FailureCode::UNKNOWN_NEXT_PEER);
    for (size_t k = 0; k < secrets.size(); ++k) {
        CAPTURE(k);
        const Bytes packet = ReturnToOrigin(secrets, k, CreateFailureOnion(secrets[k], message));
        const auto failure = DecryptFailureOnion(secrets, packet);
        REQUIRE(failure);
        CHECK(failure->hop_index == k);
        // Without the erring hop's secret no hop matches.
        CHECK_FALSE(DecryptFailureOnion(std::span(secrets).first(k), packet));
        auto wrong = secrets;
        wrong[k] = RandomSecrets(rng, 1)[0];
        CHECK_FALSE(DecryptFailureOnion(wrong, packet));
    }
}

TEST_CASE("onion failure: padding to 256 bytes, longer messages unpadded, size limits")
{
    const Secret<32> secret = SecretFromHex(std::string(64, '1'));
    const auto pad_len_of = [&](const Bytes& packet) {
        const Bytes plain = WrapFailureOnion(secret, packet);
        WireReader reader(ByteSpan(plain).subspan(32));
        reader.ReadBytes(reader.ReadU16());
        return reader.ReadU16();
    };
    const FailureMessage small = MakeFailure(FailureCode::MPP_TIMEOUT);
    CHECK(CreateFailureOnion(secret, small).size() == kMinFailureOnionSize);
    CHECK(pad_len_of(CreateFailureOnion(secret, small)) == 254);
    // padded_len under 256 still pads to 256: "MUST set pad such that [...] is at least 256".
    CHECK(CreateFailureOnion(secret, small, 10).size() == kMinFailureOnionSize);

    const FailureMessage big = MakeFailureWithUpdate(FailureCode::TEMPORARY_CHANNEL_FAILURE, Bytes(296, 7));
    const Bytes big_packet = CreateFailureOnion(secret, big);
    CHECK(big_packet.size() == 32 + 2 + 300 + 2);
    CHECK(pad_len_of(big_packet) == 0);
    CHECK(DecryptFailureOnion(std::span(&secret, 1), big_packet)->message == big);

    const Bytes largest = CreateFailureOnion(secret, small, kMaxFailureOnionSize - 36);
    CHECK(largest.size() == kMaxFailureOnionSize);
    CHECK(DecryptFailureOnion(std::span(&secret, 1), largest)->message == small);
    CHECK_THROWS_AS(CreateFailureOnion(secret, small, kMaxFailureOnionSize - 35), std::length_error);
}

TEST_CASE("onion failure: rejects corrupted, short, oversized and malformed packets")
{
    std::mt19937_64 rng(3);
    const auto secrets = RandomSecrets(rng, 3);
    const Bytes failuremsg = EncodeFailureMessage(MakeFailure(FailureCode::TEMPORARY_NODE_FAILURE));

    SUBCASE("any corrupted byte leaves the failure unattributable")
    {
        const Bytes packet = ReturnToOrigin(secrets, 2, CreateFailureOnion(secrets[2], MessageFromBytes(failuremsg)));
        REQUIRE(DecryptFailureOnion(secrets, packet));
        for (size_t i = 0; i < packet.size(); ++i) {
            CAPTURE(i);
            Bytes corrupted = packet;
            corrupted[i] ^= 0x01;
            CHECK_FALSE(DecryptFailureOnion(secrets, corrupted));
        }
    }
    SUBCASE("shorter than 256 bytes of message and pad, although the HMAC is valid")
    {
        const Bytes padded = ReturnToOrigin(secrets, 1, Seal(secrets[1], Body(failuremsg, 254)));
        CHECK(padded.size() == kMinFailureOnionSize);
        CHECK(DecryptFailureOnion(secrets, padded)->hop_index == 1);
        const Bytes short_packet = ReturnToOrigin(secrets, 1, Seal(secrets[1], Body(failuremsg, 253)));
        CHECK_FALSE(DecryptFailureOnion(secrets, short_packet));
        CHECK_FALSE(DecryptFailureOnion(secrets, Bytes{}));
        CHECK_FALSE(DecryptFailureOnion(secrets, ByteSpan(padded).first(kMinFailureOnionSize - 1)));
    }
    SUBCASE("larger than update_fail_htlc can carry, although the HMAC is valid")
    {
        const Bytes oversized = ReturnToOrigin(secrets, 0, Seal(secrets[0], Body(failuremsg, kMaxFailureOnionSize - 37)));
        CHECK(oversized.size() == kMaxFailureOnionSize + 1);
        CHECK_FALSE(DecryptFailureOnion(secrets, oversized));
    }
    SUBCASE("failure_len beyond the data blames the hop without a message")
    {
        Bytes body = Body(failuremsg, 254);
        const size_t payload_len = body.size() - 2;
        // failure_len values that overrun the packet, leave no room for pad_len, or hold no code.
        for (const size_t failure_len : {size_t{0xffff}, payload_len + 1, payload_len - 1, size_t{1}, size_t{0}}) {
            CAPTURE(failure_len);
            body[0] = static_cast<uint8_t>(failure_len >> 8);
            body[1] = static_cast<uint8_t>(failure_len);
            const auto failure = DecryptFailureOnion(secrets, ReturnToOrigin(secrets, 2, Seal(secrets[2], body)));
            REQUIRE(failure);
            CHECK(failure->hop_index == 2);
            CHECK(failure->malformed);
            CHECK(failure->message == FailureMessage{});
        }
        // The largest failure_len that still leaves the two bytes of pad_len is accepted.
        body[0] = static_cast<uint8_t>((payload_len - 2) >> 8);
        body[1] = static_cast<uint8_t>(payload_len - 2);
        const auto failure = DecryptFailureOnion(secrets, ReturnToOrigin(secrets, 2, Seal(secrets[2], body)));
        REQUIRE(failure);
        CHECK_FALSE(failure->malformed);
        CHECK(failure->message.code == static_cast<uint16_t>(FailureCode::TEMPORARY_NODE_FAILURE));
        CHECK(failure->message.data.size() == payload_len - 4);
    }
}

TEST_CASE("onion failure: ParseFailureMessage rejects every truncation of every code's fields")
{
    for (const Case& c : AllCases()) {
        CAPTURE(FailureCodeName(c.message.code));
        const Bytes encoded = EncodeFailureMessage(c.message);
        for (size_t len = 0; len < encoded.size(); ++len) {
            CAPTURE(len);
            // invalid_onion_payload's fields are optional: the bare code is complete.
            if (len == 2 && c.message.code == static_cast<uint16_t>(FailureCode::INVALID_ONION_PAYLOAD)) continue;
            const auto parsed = ParseFailureMessage(ByteSpan(encoded).first(len));
            REQUIRE_FALSE(parsed);
            CHECK(parsed.error() == DecodeError::kTruncated);
        }
    }
    CHECK(ParseFailureMessage(Bytes{}).error() == DecodeError::kTruncated);
    CHECK(ParseFailureMessage(Bytes{0x40}).error() == DecodeError::kTruncated);
    // A channel_update length beyond the message.
    CHECK(ParseFailureMessage(ParseHex("1007" "0005" "010203")).error() == DecodeError::kTruncated);
    // invalid_onion_payload's type must be a minimal BigSize.
    CHECK(ParseFailureMessage(ParseHex("4016" "fd0001" "0000")).error() == DecodeError::kNonMinimal);
}

TEST_CASE("onion failure: ParseFailureMessage ignores extra bytes and unknown codes")
{
    const Bytes tlv = ParseHex("0103aabbcc");
    const Bytes with_tlv = Concat({EncodeFailureMessage(MakeFinalIncorrectCltvExpiry(9)), tlv});
    const auto parsed = ParseFailureMessage(with_tlv);
    REQUIRE(parsed);
    CHECK(parsed->cltv_expiry == 9u);
    CHECK(parsed->extra == tlv);
    REQUIRE(parsed->tlv_stream);
    CHECK(parsed->tlv_stream->Encode() == tlv);

    // "MUST ignore any extra bytes": neither a broken stream nor an unknown even type fails it.
    for (const char* extra : {"0105aa", "0201ff", "ff"}) {
        CAPTURE(extra);
        const auto garbage = ParseFailureMessage(Concat({EncodeFailureMessage(MakeFailure(FailureCode::MPP_TIMEOUT)), ParseHex(extra)}));
        REQUIRE(garbage);
        CHECK(garbage->extra == ParseHex(extra));
        CHECK_FALSE(garbage->tlv_stream);
    }

    const auto unknown = ParseFailureMessage(ParseHex("3456" "0102"));
    REQUIRE(unknown);
    FailureDetails expected = Details(0x3456);
    expected.extra = ParseHex("0102");
    CHECK(*unknown == expected);
}

TEST_CASE("onion failure: builders refuse codes that do not fit them")
{
    CHECK_THROWS_AS(MakeFailure(FailureCode::TEMPORARY_CHANNEL_FAILURE), std::invalid_argument);
    CHECK_THROWS_AS(MakeFailure(FailureCode::INVALID_ONION_HMAC), std::invalid_argument);
    CHECK_THROWS_AS(MakeFailure(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS), std::invalid_argument);
    CHECK_THROWS_AS(MakeFailureWithUpdate(FailureCode::FEE_INSUFFICIENT, kChannelUpdate), std::invalid_argument);
    CHECK_THROWS_AS(MakeFailureWithUpdate(FailureCode::PERMANENT_CHANNEL_FAILURE, kChannelUpdate), std::invalid_argument);
    CHECK_THROWS_AS(MakeBadOnion(FailureCode::TEMPORARY_NODE_FAILURE, kOnionHash), std::invalid_argument);
    CHECK_THROWS_AS(MakeFailureWithUpdate(FailureCode::EXPIRY_TOO_SOON, Bytes(65536)), std::length_error);
    // The wire layout of one builder per shape, byte for byte.
    CHECK(ToHex(EncodeFailureMessage(MakeChannelDisabled(0, ParseHex("0102ff")))) == "1014" "0000" "0003" "0102ff");
    CHECK(ToHex(EncodeFailureMessage(MakeInvalidOnionPayload(2, 3))) == "4016" "02" "0003");
    CHECK(ToHex(EncodeFailureMessage(MakeFeeInsufficient(Msat{1}, {}))) == "100c" "0000000000000001" "0000");
}
