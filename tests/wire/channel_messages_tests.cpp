#include "wire/channel_messages.h"

#include "tests/wire/wire_test_util.h"
#include "util/hex.h"
#include "wire/message.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>

using namespace sidebolt;
using namespace sidebolt::amount_literals;

namespace {
using test::Filled;
using test::Point;
using test::Signature;

//! An unknown odd record, which every message must keep.
TlvStream OddExtension()
{
    TlvStream stream;
    stream.Set(99, ParseHex("c0ffee"));
    return stream;
}

constexpr ShortChannelId kAlias{.block_height = 800'000, .tx_index = 5, .output_index = 1};

FeatureBits AnchorsType() { return ChannelType{.anchors = true}.ToFeatureBits(); }

OpenChannelMessage SampleOpen(bool with_tlvs)
{
    return OpenChannelMessage{
        .chain_hash = Filled(0x6f),
        .temporary_channel_id = Filled(0x01),
        .funding_satoshis = 1'000'000_sat,
        .push_msat = 1'000_msat,
        .dust_limit_satoshis = 546_sat,
        .max_htlc_value_in_flight_msat = 5'000'000'000_msat,
        .channel_reserve_satoshis = 10'000_sat,
        .htlc_minimum_msat = 1_msat,
        .feerate_per_kw = 253,
        .to_self_delay = 144,
        .max_accepted_htlcs = 483,
        .funding_pubkey = Point(1),
        .revocation_basepoint = Point(2),
        .payment_basepoint = Point(3),
        .delayed_payment_basepoint = Point(4),
        .htlc_basepoint = Point(5),
        .first_per_commitment_point = Point(6),
        .channel_flags = OpenChannelMessage::kAnnounceChannelFlag,
        .upfront_shutdown_script = with_tlvs ? std::optional(ParseHex("0014" + std::string(40, 'a'))) : std::nullopt,
        .channel_type = with_tlvs ? std::optional<FeatureBits>(AnchorsType()) : std::nullopt,
        .extension = with_tlvs ? OddExtension() : TlvStream{},
    };
}

AcceptChannelMessage SampleAccept(bool with_tlvs)
{
    return AcceptChannelMessage{
        .temporary_channel_id = Filled(0x01),
        .dust_limit_satoshis = 354_sat,
        .max_htlc_value_in_flight_msat = 1'000'000_msat,
        .channel_reserve_satoshis = 20'000_sat,
        .htlc_minimum_msat = 1000_msat,
        .minimum_depth = 3,
        .to_self_delay = 720,
        .max_accepted_htlcs = 30,
        .funding_pubkey = Point(6),
        .revocation_basepoint = Point(5),
        .payment_basepoint = Point(4),
        .delayed_payment_basepoint = Point(3),
        .htlc_basepoint = Point(2),
        .first_per_commitment_point = Point(1),
        // Present but empty: BOLT 2's way to say "no upfront script", distinct from absent.
        .upfront_shutdown_script = with_tlvs ? std::optional<Bytes>(Bytes{}) : std::nullopt,
        .channel_type = with_tlvs ? std::optional<FeatureBits>(AnchorsType()) : std::nullopt,
        .extension = with_tlvs ? OddExtension() : TlvStream{},
    };
}

//! One of each of the 15 messages; `with_tlvs` sets every optional TLV and an unknown odd one.
std::vector<ChannelMessage> SampleMessages(bool with_tlvs)
{
    const TlvStream extension = with_tlvs ? OddExtension() : TlvStream{};
    ByteArray<kOnionPacketSize> onion;
    onion.fill(0x05);
    return {
        SampleOpen(with_tlvs),
        SampleAccept(with_tlvs),
        FundingCreatedMessage{Filled(0x01), Filled(0x0a), 1, Signature(0x11, 0x22), extension},
        FundingSignedMessage{Filled(0x02), Signature(0x33, 0x44), extension},
        ChannelReadyMessage{Filled(0x02), Point(2), with_tlvs ? std::optional(kAlias) : std::nullopt, extension},
        ShutdownMessage{Filled(0x02), ParseHex("0014" + std::string(40, 'b')), extension},
        ClosingSignedMessage{Filled(0x02), 1'500_sat, Signature(0x55, 0x66),
                             with_tlvs ? std::optional(FeeRange{1'000_sat, 3'000_sat}) : std::nullopt, extension},
        UpdateAddHtlcMessage{Filled(0x02), 7, 12'345_msat, Filled(0x03), 800'000, onion,
                             with_tlvs ? std::optional(Point(3)) : std::nullopt, extension},
        UpdateFulfillHtlcMessage{Filled(0x02), 7, Filled(0x04), extension},
        UpdateFailHtlcMessage{Filled(0x02), 8, Bytes(292, 0x07), extension},
        CommitmentSignedMessage{Filled(0x02), Signature(0x12, 0x34), {Signature(0x01, 0x02), Signature(0x03, 0x04)},
                                extension},
        RevokeAndAckMessage{Filled(0x02), Filled(0x08), Point(4), extension},
        UpdateFeeMessage{Filled(0x02), 2'500, extension},
        UpdateFailMalformedHtlcMessage{Filled(0x02), 9, Filled(0x09), 0xc005, extension},
        ChannelReestablishMessage{Filled(0x02), 42, 41, Filled(0x0c), Point(5), extension},
    };
}

uint16_t FramedType(const Bytes& framed) { return static_cast<uint16_t>(framed.at(0) << 8 | framed.at(1)); }

Decoded<ChannelMessage> DecodeFramed(const Bytes& framed)
{
    return DecodeChannelMessage(FramedType(framed), ByteSpan(framed).subspan(2));
}

DecodeError FailureOf(const Bytes& framed)
{
    const auto decoded = DecodeFramed(framed);
    REQUIRE_FALSE(decoded);
    return decoded.error();
}

Bytes WithSuffix(Bytes framed, const std::string& hex)
{
    Append(framed, test::SpacedHex(hex));
    return framed;
}

std::string Repeat(const std::string& hex, size_t count)
{
    std::string out;
    for (size_t i = 0; i < count; ++i) out += hex;
    return out;
}

uintptr_t AddressOf(const auto& member) { return reinterpret_cast<uintptr_t>(&member); }
} // namespace

TEST_CASE("every channel message round-trips with its optional TLVs present and absent")
{
    for (const bool with_tlvs : {false, true}) {
        std::set<uint16_t> types;
        for (const auto& message : SampleMessages(with_tlvs)) {
            const Bytes framed = EncodeChannelMessage(message);
            CAPTURE(FramedType(framed));
            CHECK(FramedType(framed) == static_cast<uint16_t>(TypeOfChannelMessage(message)));
            CHECK(IsChannelMessageType(FramedType(framed)));
            types.insert(FramedType(framed));
            const auto decoded = DecodeFramed(framed);
            REQUIRE(decoded);
            CHECK(*decoded == message);
            CHECK(EncodeChannelMessage(*decoded) == framed);
            // The extension must survive exactly, unknown odd record included.
            std::visit([&](const auto& msg) { CHECK(msg.extension.empty() != with_tlvs); }, *decoded);
        }
        CHECK(types.size() == std::variant_size_v<ChannelMessage>);
    }
}

TEST_CASE("every channel message type has its BOLT 2 name, and only those")
{
    std::set<std::string_view> names;
    for (uint32_t type = 0; type <= 0xffff; ++type) {
        const std::string_view name = ChannelMessageName(static_cast<ChannelMessageType>(type));
        if (!IsChannelMessageType(static_cast<uint16_t>(type))) {
            CHECK(name == "unknown");
            continue;
        }
        CHECK(name != "unknown");
        CHECK(names.insert(name).second);
    }
    CHECK(names.size() == 15);
    CHECK(ChannelMessageName(ChannelMessageType::kUpdateAddHtlc) == "update_add_htlc");
    CHECK(ChannelMessageName(ChannelMessageType::kChannelReestablish) == "channel_reestablish");
    CHECK(ChannelMessageName(TypeOfChannelMessage(UpdateFeeMessage{.channel_id = {}, .feerate_per_kw = 253, .extension = {}})) == "update_fee");
}

TEST_CASE("field lists follow the members' declaration order, as the aggregate decoder needs")
{
    for (const auto& message : SampleMessages(true)) {
        std::visit(
            [](const auto& msg) {
                using Msg = std::decay_t<decltype(msg)>;
                CAPTURE(static_cast<uint16_t>(Msg::kType));
                std::vector<uintptr_t> addresses;
                std::apply([&](auto... member) { (addresses.push_back(AddressOf(msg.*member)), ...); }, Msg::Fields());
                if constexpr (requires { Msg::Tlvs(); }) {
                    std::apply([&](auto... field) { (addresses.push_back(AddressOf(msg.*field.member)), ...); },
                               Msg::Tlvs());
                }
                addresses.push_back(AddressOf(msg.extension));
                CHECK(std::is_sorted(addresses.begin(), addresses.end()));
                CHECK(std::adjacent_find(addresses.begin(), addresses.end()) == addresses.end());
            },
            message);
    }
}

TEST_CASE("open_channel encodes to the BOLT 2 field layout")
{
    const Bytes expected = test::SpacedHex(
        "0020"                                                               // type 32
        "6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f"   // chain_hash
        "0101010101010101010101010101010101010101010101010101010101010101"   // temporary_channel_id
        "00000000000f4240"                                                   // funding_satoshis 1000000
        "00000000000003e8"                                                   // push_msat 1000
        "0000000000000222"                                                   // dust_limit_satoshis 546
        "000000012a05f200"                                                   // max_htlc_value_in_flight_msat
        "0000000000002710"                                                   // channel_reserve_satoshis 10000
        "0000000000000001"                                                   // htlc_minimum_msat 1
        "000000fd"                                                           // feerate_per_kw 253
        "0090"                                                               // to_self_delay 144
        "01e3"                                                               // max_accepted_htlcs 483
        "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798" // funding_pubkey
        "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5" // revocation_basepoint
        "02f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9" // payment_basepoint
        "02e493dbf1c10d80f3581e4904930b1404cc6c13900ee0758474fa94abe8c4cd13" // delayed_payment_basepoint
        "022f8bde4d1a07209355b4a7250a5c5128e88b84bddc619ab7cba8d569b240efe4" // htlc_basepoint
        "03fff97bd5755eeea420453a14355235d382f6472f8568a18b2f057a1460297556" // first_per_commitment_point
        "01"                                                                 // channel_flags: announce
        "00 16 0014aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"                 // tlv 0 upfront_shutdown_script
        "01 03 401000"                                                       // tlv 1 channel_type: 22, 12
        "63 03 c0ffee");                                                     // unknown odd tlv 99
    CHECK(EncodeMessage(SampleOpen(true)) == expected);
    const auto decoded = OpenChannelMessage::DecodePayload(ByteSpan(expected).subspan(2));
    REQUIRE(decoded);
    CHECK(*decoded == SampleOpen(true));
}

TEST_CASE("update_add_htlc encodes to the BOLT 2 field layout")
{
    ByteArray<kOnionPacketSize> onion;
    onion.fill(0x05);
    const UpdateAddHtlcMessage add{Filled(0x02), 7, 12'345_msat, Filled(0x03), 800'000, onion, Point(3), {}};
    const Bytes expected = test::SpacedHex(
        "0080"                                                               // type 128
        "0202020202020202020202020202020202020202020202020202020202020202"   // channel_id
        "0000000000000007"                                                   // id 7
        "0000000000003039"                                                   // amount_msat 12345
        "0303030303030303030303030303030303030303030303030303030303030303"   // payment_hash
        "000c3500"                                                           // cltv_expiry 800000
        + Repeat("05", kOnionPacketSize) +                                   // onion_routing_packet
        "00 21"                                                              // tlv 0 blinded_path, 33 bytes
        "02f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9"); // path_key
    CHECK(expected.size() == 2 + 32 + 8 + 8 + 32 + 4 + kOnionPacketSize + 2 + 33);
    CHECK(EncodeMessage(add) == expected);
    const auto decoded = DecodeFramed(expected);
    REQUIRE(decoded);
    CHECK(std::get<UpdateAddHtlcMessage>(*decoded) == add);
}

TEST_CASE("a payload cut anywhere inside the fixed fields is truncated")
{
    for (const auto& message : SampleMessages(false)) {
        const Bytes framed = EncodeChannelMessage(message);
        CAPTURE(FramedType(framed));
        for (size_t size = 2; size < framed.size(); ++size) {
            const Bytes cut(framed.begin(), framed.begin() + static_cast<ptrdiff_t>(size));
            CHECK(FailureOf(cut) == DecodeError::kTruncated);
        }
    }
}

TEST_CASE("invalid points and signatures fail the decode")
{
    SUBCASE("open_channel funding_pubkey with a bad prefix")
    {
        Bytes framed = EncodeMessage(SampleOpen(false));
        const size_t funding_pubkey = 2 + 32 + 32 + 6 * 8 + 4 + 2 + 2;
        REQUIRE(framed[funding_pubkey] == 0x02);
        framed[funding_pubkey] = 0x05;
        CHECK(FailureOf(framed) == DecodeError::kInvalidPoint);
    }
    SUBCASE("channel_reestablish point off the curve")
    {
        // x = 5 has no y on secp256k1 (5^3 + 7 = 132 is not a square mod p).
        ChannelReestablishMessage msg{Filled(0x02), 1, 0, Filled(0), Point(1), {}};
        Bytes framed = EncodeMessage(msg);
        std::fill(framed.end() - 32, framed.end(), uint8_t{0});
        framed.back() = 5;
        CHECK(FailureOf(framed) == DecodeError::kInvalidPoint);
    }
    SUBCASE("update_add_htlc blinding point in the TLV")
    {
        Bytes framed = EncodeChannelMessage(SampleMessages(true)[7]);
        const size_t tlv_point = 2 + 32 + 8 + 8 + 32 + 4 + kOnionPacketSize + 2;
        REQUIRE(framed[tlv_point - 2] == 0x00);
        framed[tlv_point] = 0x04;
        CHECK(FailureOf(framed) == DecodeError::kInvalidPoint);
    }
    SUBCASE("funding_signed signature with r above the curve order")
    {
        Bytes framed = EncodeMessage(FundingSignedMessage{Filled(0x02), Signature(0x33, 0x44), {}});
        std::fill(framed.begin() + 2 + 32, framed.begin() + 2 + 32 + 32, uint8_t{0xff});
        CHECK(FailureOf(framed) == DecodeError::kInvalidSignature);
        CHECK(ToString(DecodeError::kInvalidSignature) == "invalid_signature");
    }
    SUBCASE("commitment_signed htlc signature with s above the curve order")
    {
        Bytes framed = EncodeChannelMessage(SampleMessages(false)[10]);
        std::fill(framed.end() - 32, framed.end(), uint8_t{0xff});
        CHECK(FailureOf(framed) == DecodeError::kInvalidSignature);
    }
}

TEST_CASE("the bytes after the fixed fields must be a valid TLV stream")
{
    const Bytes open = EncodeMessage(SampleOpen(false));
    CHECK(FailureOf(WithSuffix(open, "02 00")) == DecodeError::kUnknownEvenType);
    CHECK(FailureOf(WithSuffix(open, "01 00 00 00")) == DecodeError::kTlvNotIncreasing);
    CHECK(FailureOf(WithSuffix(open, "01 00 01 00")) == DecodeError::kTlvNotIncreasing);
    // A lone byte is a type without a length: garbage, not an ignorable tail.
    CHECK(FailureOf(WithSuffix(open, "01")) == DecodeError::kTruncated);
    CHECK(FailureOf(WithSuffix(open, "63 05 00")) == DecodeError::kTruncated);
    CHECK(FailureOf(WithSuffix(open, "fd 00 01 00")) == DecodeError::kNonMinimal);
    // channel_reestablish does not know the dual-funding even TLV 0 (next_funding).
    const Bytes reestablish = EncodeChannelMessage(SampleMessages(false)[14]);
    CHECK(FailureOf(WithSuffix(reestablish, "00 20" + std::string(64, '1'))) == DecodeError::kUnknownEvenType);
    // Unknown odd records are accepted and kept.
    const auto decoded = DecodeFramed(WithSuffix(open, "05 00 07 01 ff"));
    REQUIRE(decoded);
    const auto& records = std::get<OpenChannelMessage>(*decoded).extension.Records();
    REQUIRE(records.size() == 2);
    CHECK(records[0].type == 5);
    CHECK(records[1] == TlvRecord{7, {0xff}});
}

TEST_CASE("known TLV records must have their exact length")
{
    const Bytes ready = EncodeChannelMessage(SampleMessages(false)[4]);
    CHECK(FailureOf(WithSuffix(ready, "01 07 00000000000000")) == DecodeError::kTruncated);
    CHECK(FailureOf(WithSuffix(ready, "01 09 000000000000000000")) == DecodeError::kBadLength);
    const auto alias = DecodeFramed(WithSuffix(ready, "01 08 0c35000000050001"));
    REQUIRE(alias);
    CHECK(std::get<ChannelReadyMessage>(*alias).short_channel_id_alias == kAlias);

    const Bytes closing = EncodeChannelMessage(SampleMessages(false)[6]);
    CHECK(FailureOf(WithSuffix(closing, "01 0f" + std::string(30, '0'))) == DecodeError::kTruncated);
    CHECK(FailureOf(WithSuffix(closing, "01 11" + std::string(34, '0'))) == DecodeError::kBadLength);
    const auto range = DecodeFramed(WithSuffix(closing, "01 10 00000000000003e8 0000000000000bb8"));
    REQUIRE(range);
    CHECK(std::get<ClosingSignedMessage>(*range).fee_range == FeeRange{1'000_sat, 3'000_sat});

    const Bytes add = EncodeChannelMessage(SampleMessages(false)[7]);
    CHECK(FailureOf(WithSuffix(add, "00 20" + std::string(64, '2'))) == DecodeError::kTruncated);
}

TEST_CASE("length-prefixed fields must fit in the message")
{
    // shutdown: len 0x0017 but only 22 script bytes follow.
    Bytes shutdown = EncodeChannelMessage(SampleMessages(false)[5]);
    shutdown[2 + 32 + 1] = 0x17;
    CHECK(FailureOf(shutdown) == DecodeError::kTruncated);
    // commitment_signed: num_htlcs 3 with two signatures.
    Bytes commitment = EncodeChannelMessage(SampleMessages(false)[10]);
    commitment[2 + 32 + 64 + 1] = 3;
    CHECK(FailureOf(commitment) == DecodeError::kTruncated);
    // A huge count with nothing behind it fails before anything is allocated.
    commitment[2 + 32 + 64] = 0xff;
    CHECK(FailureOf(commitment) == DecodeError::kTruncated);
}

TEST_CASE("encoding rejects counts a u16 cannot carry")
{
    CommitmentSignedMessage msg{Filled(0x02), Signature(0x12, 0x34), {}, {}};
    msg.htlc_signatures.assign(0x10000, Signature(0x01, 0x02));
    Bytes out;
    CHECK_THROWS_AS(msg.EncodePayload(out), std::length_error);
}

TEST_CASE("channel message types and channel ids")
{
    for (const uint16_t type : {16, 17, 37, 40, 129, 137, 256}) {
        CAPTURE(type);
        CHECK_FALSE(IsChannelMessageType(type));
        CHECK_THROWS_AS(DecodeChannelMessage(type, {}), std::invalid_argument);
    }
    for (const auto& message : SampleMessages(false)) {
        const auto type = TypeOfChannelMessage(message);
        CAPTURE(static_cast<uint16_t>(type));
        const bool temporary = type == ChannelMessageType::kOpenChannel || type == ChannelMessageType::kAcceptChannel ||
                               type == ChannelMessageType::kFundingCreated;
        CHECK(ChannelIdOf(message) == (temporary ? Filled(0x01) : Filled(0x02)));
    }
}

TEST_CASE("channel_type feature vectors")
{
    CHECK(ToHex(ChannelType{}.ToFeatureBits().ToWire()) == "1000");
    CHECK(ToHex(ChannelType{.anchors = true}.ToFeatureBits().ToWire()) == "401000");
    const ChannelType all{.anchors = true, .scid_alias = true, .zeroconf = true};
    // Bits 50, 46, 22 and 12.
    CHECK(ToHex(all.ToFeatureBits().ToWire()) == "04400000401000");
    for (const bool anchors : {false, true}) {
        for (const bool scid_alias : {false, true}) {
            for (const bool zeroconf : {false, true}) {
                const ChannelType type{anchors, scid_alias, zeroconf};
                CHECK(ChannelType::FromFeatureBits(type.ToFeatureBits()) == type);
            }
        }
    }
    const auto reject = [](const std::string& hex) {
        return !ChannelType::FromFeatureBits(FeatureBits::FromWire(ParseHex(hex)));
    };
    CHECK(reject(""));       // BOLT 2 no longer defines the empty (pre static_remotekey) type
    CHECK(reject("400000")); // option_anchors without option_static_remotekey
    CHECK(reject("2000"));   // odd bit 13
    CHECK(reject("101000")); // option_anchor_outputs (bit 20) is not a current type
    CHECK(reject("3000"));   // bit 12 with its odd twin
}
