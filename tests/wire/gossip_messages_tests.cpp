#include "wire/gossip_messages.h"

#include "tests/test_util.h"
#include "tests/wire/wire_test_util.h"
#include "util/hex.h"
#include "wire/bigsize.h"
#include "wire/message.h"

#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace sidebolt;
using namespace sidebolt::amount_literals;

namespace {
using test::Filled;
using test::Point;
using test::Signature;

std::string Repeat(const std::string& hex, size_t count)
{
    std::string out;
    for (size_t i = 0; i < count; ++i) out += hex;
    return out;
}

TlvStream OddExtension()
{
    TlvStream stream;
    stream.Set(99, ParseHex("c0ffee"));
    return stream;
}

const ShortChannelId kScid{.block_height = 800'000, .tx_index = 1234, .output_index = 1};

// The Tor Project's v3 onion service (its 32-byte key, 2-byte checksum and version 3).
const char* const kOnionHex = "d1b38b83a83b3ed918c5bb69dd444ad56bc8d5835a914de73447474e5f02591bddd903";
const char* const kOnion = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";

std::vector<NodeAddress> SampleAddresses()
{
    return {
        NodeAddress{NodeAddress::Type::kIpv4, {203, 0, 113, 7}, 9735},
        NodeAddress{NodeAddress::Type::kIpv6, ParseHex("20010db8000000000000000000000001"), 9736},
        NodeAddress{NodeAddress::Type::kTorV3, ParseHex(kOnionHex), 9737},
        NodeAddress{NodeAddress::Type::kDns, {'l', 'n', '.', 'e', 'x'}, 9738},
    };
}

ByteArray<32> Alias(const std::string& text)
{
    ByteArray<32> alias{};
    std::copy(text.begin(), text.end(), alias.begin());
    return alias;
}

ChannelAnnouncementMessage SampleAnnouncement(bool extras)
{
    return ChannelAnnouncementMessage{
        .node_signature_1 = Signature(0x11, 0x12),
        .node_signature_2 = Signature(0x21, 0x22),
        .bitcoin_signature_1 = Signature(0x31, 0x32),
        .bitcoin_signature_2 = Signature(0x41, 0x42),
        .features = extras ? ParseHex("0200") : Bytes{},
        .chain_hash = Filled(0x6f),
        .short_channel_id = kScid,
        .node_id_1 = Point(1),
        .node_id_2 = Point(2),
        .bitcoin_key_1 = Point(3),
        .bitcoin_key_2 = Point(4),
        .trailing = extras ? ParseHex("deadbeef") : Bytes{},
    };
}

NodeAnnouncementMessage SampleNode(bool extras)
{
    return NodeAnnouncementMessage{
        .signature = Signature(0x51, 0x52),
        .features = extras ? ParseHex("088a52a1") : Bytes{},
        .timestamp = 1'700'000'000,
        .node_id = Point(2),
        .rgb_color = {0x12, 0x34, 0x56},
        .alias = Alias("sidebolt"),
        .addresses = extras ? NodeAnnouncementMessage::EncodeAddresses(SampleAddresses()) : Bytes{},
        // An option_will_fund-like TLV record: kept raw.
        .trailing = extras ? ParseHex("0102abcd") : Bytes{},
    };
}

ChannelUpdateMessage SampleUpdate(bool extras)
{
    return ChannelUpdateMessage{
        .signature = Signature(0x61, 0x62),
        .chain_hash = Filled(0x6f),
        .short_channel_id = kScid,
        .timestamp = 1'700'000'001,
        .message_flags = ChannelUpdateMessage::kMustBeOneFlag,
        .channel_flags = ChannelUpdateMessage::kDirectionFlag,
        .cltv_expiry_delta = 144,
        .htlc_minimum_msat = 1'000_msat,
        .fee_base_msat = 1'000,
        .fee_proportional_millionths = 100,
        .htlc_maximum_msat = 990'000'000_msat,
        .trailing = extras ? ParseHex("00") : Bytes{},
    };
}

ReplyChannelRangeMessage SampleReply(bool extras)
{
    const std::vector<ShortChannelId> ids{{700'000, 1, 0}, {700'001, 2, 1}, kScid};
    return ReplyChannelRangeMessage{
        .chain_hash = Filled(0x6f),
        .first_blocknum = 700'000,
        .number_of_blocks = 100'001,
        .sync_complete = 1,
        .short_channel_ids = ids,
        .timestamps = extras ? std::optional(std::vector<ChannelTimestamps>{{1, 2}, {3, 0}, {0, 6}}) : std::nullopt,
        .checksums = extras ? std::optional(std::vector<ChannelChecksums>{{7, 8}, {9, 10}, {0xffffffff, 0}})
                            : std::nullopt,
        .extension = extras ? OddExtension() : TlvStream{},
    };
}

//! One of each of the 9 messages; `extras` sets every optional field, trailing bytes and an
//! unknown odd TLV record.
std::vector<GossipMessage> SampleMessages(bool extras)
{
    const TlvStream extension = extras ? OddExtension() : TlvStream{};
    const std::vector<ShortChannelId> ids{{1, 2, 3}, kScid};
    return {
        SampleAnnouncement(extras),
        SampleNode(extras),
        SampleUpdate(extras),
        AnnouncementSignaturesMessage{Filled(0x02), kScid, Signature(0x71, 0x72), Signature(0x73, 0x74), extension},
        QueryShortChannelIdsMessage{Filled(0x6f), ids,
                                    extras ? std::optional(std::vector<uint64_t>{query_flag::kChannelAnnouncement,
                                                                                 0x1f})
                                           : std::nullopt,
                                    extension},
        ReplyShortChannelIdsEndMessage{Filled(0x6f), 0, extension},
        QueryChannelRangeMessage{Filled(0x6f), 600'000, 200'000,
                                 extras ? std::optional<uint64_t>(QueryChannelRangeMessage::kWantTimestamps)
                                        : std::nullopt,
                                 extension},
        SampleReply(extras),
        GossipTimestampFilterMessage{Filled(0x6f), 1'700'000'000, 86'400, extension},
    };
}

uint16_t FramedType(const Bytes& framed) { return static_cast<uint16_t>(framed.at(0) << 8 | framed.at(1)); }

Decoded<GossipMessage> DecodeFramed(const Bytes& framed)
{
    return DecodeGossipMessage(FramedType(framed), ByteSpan(framed).subspan(2));
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

//! zlib's own deflate of `data`, as an older peer would send it.
Bytes Deflate(const Bytes& data)
{
    uLongf size = compressBound(static_cast<uLong>(data.size()));
    Bytes out(size);
    REQUIRE(compress2(out.data(), &size, data.data(), static_cast<uLong>(data.size()), Z_BEST_COMPRESSION) == Z_OK);
    out.resize(size);
    return out;
}

//! An encoded array: the encoding byte then the (possibly compressed) elements.
Bytes Encoded(ArrayEncoding encoding, const Bytes& elements)
{
    Bytes out{static_cast<uint8_t>(encoding)};
    Append(out, encoding == ArrayEncoding::kZlib ? Deflate(elements) : elements);
    return out;
}

Bytes U16(size_t value) { return {static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)}; }

//! One TLV record as hex: bigsize type, bigsize length, value.
std::string TlvHex(uint64_t type, const Bytes& value)
{
    Bytes out;
    AppendBigSize(out, type);
    AppendBigSize(out, value.size());
    Append(out, value);
    return ToHex(out);
}

//! query_short_channel_ids over the given encoded_short_ids and TLV stream bytes.
Bytes QueryIds(const Bytes& encoded_short_ids, const std::string& tlvs_hex = "")
{
    Bytes framed = ParseHex("0105");
    Append(framed, Filled(0x6f));
    Append(framed, U16(encoded_short_ids.size()));
    Append(framed, encoded_short_ids);
    Append(framed, test::SpacedHex(tlvs_hex));
    return framed;
}

Bytes ThreeIds() { return EncodeShortChannelIds({{1, 1, 1}, {2, 2, 2}, {3, 3, 3}}); }

Decoded<std::vector<NodeAddress>> Parse(const std::string& hex)
{
    NodeAnnouncementMessage node = SampleNode(false);
    node.addresses = test::SpacedHex(hex);
    return node.ParseAddresses();
}
} // namespace

TEST_CASE("every gossip message round-trips, with its optional parts present and absent")
{
    for (const bool extras : {false, true}) {
        std::set<uint16_t> types;
        for (const auto& message : SampleMessages(extras)) {
            const Bytes framed = EncodeGossipMessage(message);
            CAPTURE(FramedType(framed));
            CHECK(FramedType(framed) == static_cast<uint16_t>(TypeOfGossipMessage(message)));
            CHECK(IsGossipMessageKnown(FramedType(framed)));
            types.insert(FramedType(framed));
            const auto decoded = DecodeFramed(framed);
            REQUIRE(decoded);
            CHECK(*decoded == message);
            CHECK(EncodeGossipMessage(*decoded) == framed);
        }
        CHECK(types.size() == std::variant_size_v<GossipMessage>);
    }
}

TEST_CASE("gossip message types: the nine of BOLT 7 and nothing else")
{
    for (uint32_t type = 0; type <= 0xffff; ++type) {
        const auto t = static_cast<uint16_t>(type);
        CHECK(IsGossipMessageKnown(t) == IsGossipMessageType(t));
    }
    for (const uint16_t type : {0, 16, 255, 260, 266}) {
        CAPTURE(type);
        CHECK_FALSE(IsGossipMessageKnown(type));
        CHECK_THROWS_AS(DecodeGossipMessage(type, {}), std::invalid_argument);
    }
}

TEST_CASE("channel_update encodes to the BOLT 7 field layout")
{
    const Bytes expected = test::SpacedHex(
        "0102"                                                             // type 258
        + Repeat("61", 32) + Repeat("62", 32) +                            // signature
        "6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f" // chain_hash
        "0c3500 0004d2 0001"                                               // short_channel_id 800000x1234x1
        "6553f101"                                                         // timestamp 1700000001
        "01"                                                               // message_flags: must_be_one
        "01"                                                               // channel_flags: direction 1
        "0090"                                                             // cltv_expiry_delta 144
        "00000000000003e8"                                                 // htlc_minimum_msat 1000
        "000003e8"                                                         // fee_base_msat 1000
        "00000064"                                                         // fee_proportional_millionths 100
        "000000003b023380"                                                 // htlc_maximum_msat 990000000
        "00");                                                             // a field we do not know
    CHECK(expected.size() == 2 + 64 + 32 + 8 + 4 + 1 + 1 + 2 + 8 + 4 + 4 + 8 + 1);
    const ChannelUpdateMessage update = SampleUpdate(true);
    CHECK(EncodeMessage(update) == expected);
    const auto decoded = ChannelUpdateMessage::DecodePayload(ByteSpan(expected).subspan(2));
    REQUIRE(decoded);
    CHECK(*decoded == update);
    CHECK(decoded->Direction() == 1);
    CHECK_FALSE(decoded->Disabled());
    // "the double-SHA256 of the entire remaining packet after `signature`", unknown field included.
    const ByteSpan signed_part = SignedPart(ByteSpan(expected).subspan(2), ChannelUpdateMessage::kSignedOffset);
    CHECK(Bytes(signed_part.begin(), signed_part.end()) == Bytes(expected.begin() + 2 + 64, expected.end()));
}

TEST_CASE("channel_announcement encodes to the BOLT 7 field layout")
{
    const Bytes expected = test::SpacedHex(
        "0100"                                                               // type 256
        + Repeat("11", 32) + Repeat("12", 32)                                // node_signature_1
        + Repeat("21", 32) + Repeat("22", 32)                                // node_signature_2
        + Repeat("31", 32) + Repeat("32", 32)                                // bitcoin_signature_1
        + Repeat("41", 32) + Repeat("42", 32) +                              // bitcoin_signature_2
        "0002 0200"                                                          // len 2, features (bit 9)
        "6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f"   // chain_hash
        "0c35000004d20001"                                                   // short_channel_id
        "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798" // node_id_1
        "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5" // node_id_2
        "02f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9" // bitcoin_key_1
        "02e493dbf1c10d80f3581e4904930b1404cc6c13900ee0758474fa94abe8c4cd13" // bitcoin_key_2
        "deadbeef");                                                         // future fields
    const ChannelAnnouncementMessage announcement = SampleAnnouncement(true);
    CHECK(EncodeMessage(announcement) == expected);
    const auto decoded = DecodeFramed(expected);
    REQUIRE(decoded);
    CHECK(std::get<ChannelAnnouncementMessage>(*decoded) == announcement);
    // "beginning at offset 256": the features' length is the first signed byte.
    const ByteSpan payload = ByteSpan(expected).subspan(2);
    const ByteSpan signed_part = SignedPart(payload, ChannelAnnouncementMessage::kSignedOffset);
    REQUIRE(signed_part.size() == payload.size() - 256);
    CHECK(ToHex(signed_part.first(4)) == "00020200");
    CHECK(SignedPart(payload.first(255), ChannelAnnouncementMessage::kSignedOffset).empty());
}

TEST_CASE("node_announcement encodes to the BOLT 7 field layout")
{
    const Bytes expected = test::SpacedHex(
        "0101"                                                               // type 257
        + Repeat("51", 32) + Repeat("52", 32) +                              // signature
        "0004 088a52a1"                                                      // flen, features
        "6553f100"                                                           // timestamp
        "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5" // node_id
        "123456"                                                             // rgb_color
        "73696465626f6c74" + Repeat("00", 24) +                              // alias "sidebolt"
        "0049"                                                               // addrlen 73
        "01 cb007107 2607"                                                   // ipv4 203.0.113.7:9735
        "02 20010db8000000000000000000000001 2608"                           // ipv6 [2001:db8::1]:9736
        "04" + std::string(kOnionHex) + "2609"                               // tor v3 :9737
        "05 05 6c6e2e6578 260a"                                              // dns "ln.ex":9738
        "0102abcd");                                                         // node_announcement_tlvs
    const NodeAnnouncementMessage node = SampleNode(true);
    CHECK(EncodeMessage(node) == expected);
    const auto decoded = DecodeFramed(expected);
    REQUIRE(decoded);
    const auto& parsed = std::get<NodeAnnouncementMessage>(*decoded);
    CHECK(parsed == node);
    CHECK(parsed.AliasString() == "sidebolt");
    const auto addresses = parsed.ParseAddresses();
    REQUIRE(addresses);
    CHECK(*addresses == SampleAddresses());
}

TEST_CASE("a payload cut anywhere inside the known fields is truncated")
{
    for (const auto& message : SampleMessages(false)) {
        const Bytes framed = EncodeGossipMessage(message);
        CAPTURE(FramedType(framed));
        for (size_t size = 2; size < framed.size(); ++size) {
            CAPTURE(size);
            const Bytes cut(framed.begin(), framed.begin() + static_cast<ptrdiff_t>(size));
            CHECK(FailureOf(cut) == DecodeError::kTruncated);
        }
    }
    // channel_update without htlc_maximum_msat, as sent before it became mandatory.
    Bytes update = EncodeMessage(SampleUpdate(false));
    update.resize(update.size() - 8);
    CHECK(FailureOf(update) == DecodeError::kTruncated);
}

TEST_CASE("bytes after the known fields of signed gossip are kept")
{
    for (const auto& hex : std::vector<std::string>{"00", "ffff", "02 00", Repeat("ab", 1000)}) {
        for (auto message : SampleMessages(false)) {
            const Bytes framed = WithSuffix(EncodeGossipMessage(message), hex);
            const auto type = TypeOfGossipMessage(message);
            if (type != GossipMessageType::kChannelAnnouncement && type != GossipMessageType::kNodeAnnouncement &&
                type != GossipMessageType::kChannelUpdate) {
                continue;
            }
            CAPTURE(static_cast<uint16_t>(type));
            const auto decoded = DecodeFramed(framed);
            REQUIRE(decoded);
            std::visit(
                [&](const auto& msg) {
                    if constexpr (requires { msg.trailing; }) CHECK(msg.trailing == test::SpacedHex(hex));
                },
                *decoded);
            CHECK(EncodeGossipMessage(*decoded) == framed);
        }
    }
}

TEST_CASE("invalid points and signatures fail the decode")
{
    SUBCASE("each of channel_announcement's points")
    {
        const Bytes framed = EncodeMessage(SampleAnnouncement(false));
        const size_t first_point = 2 + 256 + 2 + 32 + 8;
        for (size_t i = 0; i < 4; ++i) {
            Bytes bad = framed;
            REQUIRE(bad[first_point + 33 * i] == 0x02);
            bad[first_point + 33 * i] = 0x05;
            CHECK(FailureOf(bad) == DecodeError::kInvalidPoint);
        }
    }
    SUBCASE("node_announcement node_id off the curve")
    {
        Bytes framed = EncodeMessage(SampleNode(false));
        const size_t node_id = 2 + 64 + 2 + 4;
        // x = 5 has no y on secp256k1 (5^3 + 7 = 132 is not a square mod p).
        std::fill(framed.begin() + node_id + 1, framed.begin() + node_id + 33, uint8_t{0});
        framed[node_id + 32] = 5;
        CHECK(FailureOf(framed) == DecodeError::kInvalidPoint);
    }
    SUBCASE("each of channel_announcement's signatures")
    {
        const Bytes framed = EncodeMessage(SampleAnnouncement(false));
        for (size_t i = 0; i < 4; ++i) {
            Bytes bad = framed;
            // r above the curve order.
            std::fill(bad.begin() + 2 + 64 * i, bad.begin() + 2 + 64 * i + 32, uint8_t{0xff});
            CHECK(FailureOf(bad) == DecodeError::kInvalidSignature);
        }
    }
    SUBCASE("the signatures of node_announcement, channel_update and announcement_signatures")
    {
        for (const size_t index : {1, 2, 3}) {
            Bytes framed = EncodeGossipMessage(SampleMessages(false)[index]);
            const size_t signature = index == 3 ? 2 + 32 + 8 + 64 : 2;
            // s above the curve order.
            std::fill(framed.begin() + signature + 32, framed.begin() + signature + 64, uint8_t{0xff});
            CHECK(FailureOf(framed) == DecodeError::kInvalidSignature);
        }
    }
}

TEST_CASE("short_channel_id arrays: plain, zlib and malformed")
{
    const std::vector<ShortChannelId> ids{{1, 2, 3}, {500'000, 1'000, 7}, {0xffffff, 0xffffff, 0xffff}};
    // Block height, transaction index, output index: 3, 3 and 2 bytes.
    const Bytes plain = test::SpacedHex("000001 000002 0003  07a120 0003e8 0007  ffffff ffffff ffff");
    CHECK(EncodeShortChannelIds(ids) == Encoded(ArrayEncoding::kUncompressed, plain));
    CHECK(ToHex(EncodeShortChannelIds({{1, 2, 3}})) == "00" "000001000002" "0003");
    CHECK(*DecodeShortChannelIds(Encoded(ArrayEncoding::kUncompressed, plain)) == ids);
    CHECK(*DecodeShortChannelIds(Encoded(ArrayEncoding::kZlib, plain)) == ids);
    CHECK(DecodeShortChannelIds(ParseHex("00"))->empty());
    CHECK(DecodeShortChannelIds(Encoded(ArrayEncoding::kZlib, {}))->empty());

    // "MUST set the first byte of `encoded_short_ids` to the encoding type".
    CHECK(DecodeShortChannelIds({}).error() == DecodeError::kTruncated);
    for (const uint8_t encoding : {2, 3, 0x78, 0xff}) {
        Bytes bad = plain;
        bad.insert(bad.begin(), encoding);
        CHECK(DecodeShortChannelIds(bad).error() == DecodeError::kBadLength);
    }
    // "does not decode into a whole number of `short_channel_id`".
    for (const size_t cut : {1, 7, 9, 23}) {
        const Bytes part(plain.begin(), plain.begin() + static_cast<ptrdiff_t>(cut));
        CHECK(DecodeShortChannelIds(Encoded(ArrayEncoding::kUncompressed, part)).error() == DecodeError::kBadLength);
        CHECK(DecodeShortChannelIds(Encoded(ArrayEncoding::kZlib, part)).error() == DecodeError::kBadLength);
    }

    const Bytes zlib = Encoded(ArrayEncoding::kZlib, plain);
    SUBCASE("a zlib stream cut short")
    {
        for (size_t size = 1; size < zlib.size(); ++size) {
            const Bytes cut(zlib.begin(), zlib.begin() + static_cast<ptrdiff_t>(size));
            CHECK(DecodeShortChannelIds(cut).error() == DecodeError::kBadLength);
        }
    }
    SUBCASE("bytes after the zlib stream")
    {
        Bytes padded = zlib;
        padded.push_back(0);
        CHECK(DecodeShortChannelIds(padded).error() == DecodeError::kBadLength);
    }
    SUBCASE("corrupt zlib data")
    {
        Bytes corrupt = zlib;
        corrupt[1] ^= 0x01; // the header checksum no longer holds
        CHECK(DecodeShortChannelIds(corrupt).error() == DecodeError::kBadLength);
        CHECK(DecodeShortChannelIds(test::SpacedHex("01 00112233")).error() == DecodeError::kBadLength);
    }
}

TEST_CASE("inflated arrays are bounded by kMaxInflated: a zlib bomb is an error, not memory")
{
    // 16 MiB of zeros compresses to about 16 KiB, under one message.
    const Bytes bomb = Encoded(ArrayEncoding::kZlib, Bytes(16 << 20, 0));
    REQUIRE(bomb.size() < kMaxMessageSize - 100);
    CHECK(DecodeShortChannelIds(bomb).error() == DecodeError::kBadLength);
    CHECK(FailureOf(QueryIds(bomb)) == DecodeError::kBadLength);

    // The largest whole number of ids under the bound inflates; the bound is exact.
    const size_t max_ids = kMaxInflated / 8;
    CHECK(DecodeShortChannelIds(Encoded(ArrayEncoding::kZlib, Bytes(max_ids * 8, 0)))->size() == max_ids);
    CHECK(DecodeShortChannelIds(Encoded(ArrayEncoding::kZlib, Bytes((max_ids + 1) * 8, 0))).error() ==
          DecodeError::kBadLength);
    // Each TLV array has its own bound: query flags (one byte each) beside as many ids.
    const Bytes fitting_ids = Encoded(ArrayEncoding::kZlib, Bytes(max_ids * 8, 0));
    const auto fitting_flags = [&](size_t count) {
        return QueryIds(fitting_ids, TlvHex(1, Encoded(ArrayEncoding::kZlib, Bytes(count, 0x1f))));
    };
    const auto decoded = DecodeFramed(fitting_flags(max_ids));
    REQUIRE(decoded);
    CHECK(std::get<QueryShortChannelIdsMessage>(*decoded).query_flags->size() == max_ids);
    CHECK(FailureOf(fitting_flags(kMaxInflated + 1)) == DecodeError::kBadLength);
}

TEST_CASE("query_short_channel_ids: query_flags")
{
    SUBCASE("one minimal bigsize per id, plain or zlib")
    {
        const auto plain = DecodeFramed(QueryIds(ThreeIds(), "01 04 00 01 1f fd"));
        CHECK_FALSE(plain); // fd starts a 3-byte bigsize: cut short
        CHECK(plain.error() == DecodeError::kTruncated);
        const auto ok = DecodeFramed(QueryIds(ThreeIds(), "01 06 00 01 1f fd0100"));
        REQUIRE(ok);
        CHECK(std::get<QueryShortChannelIdsMessage>(*ok).query_flags == std::vector<uint64_t>{1, 0x1f, 0x100});
        const Bytes zlib = Encoded(ArrayEncoding::kZlib, test::SpacedHex("01 1f fd0100"));
        const auto inflated = DecodeFramed(QueryIds(ThreeIds(), TlvHex(1, zlib)));
        REQUIRE(inflated);
        CHECK(std::get<QueryShortChannelIdsMessage>(*inflated).query_flags ==
              std::get<QueryShortChannelIdsMessage>(*ok).query_flags);
    }
    SUBCASE("rejects")
    {
        // "Query flags must be minimally encoded".
        CHECK(FailureOf(QueryIds(ThreeIds(), "01 06 00 01 1f fd00fc")) == DecodeError::kNonMinimal);
        // "MUST encode one query flag per `short_channel_id`".
        CHECK(FailureOf(QueryIds(ThreeIds(), "01 03 00 01 1f")) == DecodeError::kBadLength);
        CHECK(FailureOf(QueryIds(ThreeIds(), "01 05 00 01 1f 01 01")) == DecodeError::kBadLength);
        CHECK(FailureOf(QueryIds(ThreeIds(), "01 00")) == DecodeError::kTruncated);
        CHECK(FailureOf(QueryIds(ThreeIds(), "01 04 02 01 1f 01")) == DecodeError::kBadLength);
        CHECK(FailureOf(QueryIds(ThreeIds(), "02 00")) == DecodeError::kUnknownEvenType);
        CHECK(FailureOf(QueryIds(ThreeIds(), "03 00 01 00")) == DecodeError::kTlvNotIncreasing);
        CHECK(FailureOf(QueryIds(ParseHex("02"))) == DecodeError::kBadLength);
        CHECK(FailureOf(QueryIds({})) == DecodeError::kTruncated);
    }
    SUBCASE("the encoder refuses a count mismatch, a local bug")
    {
        auto query = std::get<QueryShortChannelIdsMessage>(SampleMessages(true)[4]);
        query.query_flags->push_back(1);
        CHECK_THROWS_AS(EncodeMessage(query), std::invalid_argument);
    }
}

TEST_CASE("reply_channel_range: timestamps and checksums, one per id")
{
    const Bytes base = EncodeMessage(SampleReply(false));
    const std::string timestamps = "00 00000001 00000002 00000003 00000000 00000000 00000006";
    const std::string checksums = "00000007 00000008 00000009 0000000a ffffffff 00000000";
    const auto decoded = DecodeFramed(WithSuffix(base, "01 19" + timestamps + "03 18" + checksums + "63 03 c0ffee"));
    REQUIRE(decoded);
    CHECK(std::get<ReplyChannelRangeMessage>(*decoded) == SampleReply(true));
    CHECK(EncodeMessage(SampleReply(true)) ==
          WithSuffix(base, "01 19" + timestamps + "03 18" + checksums + "63 03 c0ffee"));

    const Bytes zlib = Encoded(ArrayEncoding::kZlib, test::SpacedHex(timestamps.substr(3)));
    const auto inflated = DecodeFramed(WithSuffix(base, TlvHex(1, zlib)));
    REQUIRE(inflated);
    CHECK(std::get<ReplyChannelRangeMessage>(*inflated).timestamps == SampleReply(true).timestamps);

    // A count other than the short_channel_ids' is an error, whichever array.
    CHECK(FailureOf(WithSuffix(base, "01 11 00 0000000100000002 0000000300000000")) == DecodeError::kBadLength);
    CHECK(FailureOf(WithSuffix(base, "01 01 00")) == DecodeError::kBadLength);
    CHECK(FailureOf(WithSuffix(base, "03 10 0000000700000008 000000090000000a")) == DecodeError::kBadLength);
    CHECK(FailureOf(WithSuffix(base, "03 00")) == DecodeError::kBadLength);
    // Not a whole number of pairs.
    CHECK(FailureOf(WithSuffix(base, "01 18" + timestamps.substr(0, timestamps.size() - 2))) ==
          DecodeError::kBadLength);
    CHECK(FailureOf(WithSuffix(base, "03 19" + checksums + "00")) == DecodeError::kBadLength);
    // An unknown encoding byte, and no encoding byte at all.
    CHECK(FailureOf(WithSuffix(base, "01 19 02" + timestamps.substr(2))) == DecodeError::kBadLength);
    CHECK(FailureOf(WithSuffix(base, "01 00")) == DecodeError::kTruncated);
    CHECK(FailureOf(WithSuffix(base, "02 00")) == DecodeError::kUnknownEvenType);
    CHECK(FailureOf(WithSuffix(base, "03 18" + checksums + "01 19" + timestamps)) == DecodeError::kTlvNotIncreasing);

    auto reply = SampleReply(true);
    reply.checksums->pop_back();
    CHECK_THROWS_AS(EncodeMessage(reply), std::invalid_argument);
    reply = SampleReply(true);
    reply.timestamps->clear();
    CHECK_THROWS_AS(EncodeMessage(reply), std::invalid_argument);
}

TEST_CASE("query_channel_range: query_option is one minimal bigsize")
{
    const Bytes base = EncodeGossipMessage(SampleMessages(false)[6]);
    const auto both = DecodeFramed(WithSuffix(base, "01 01 03"));
    REQUIRE(both);
    CHECK(std::get<QueryChannelRangeMessage>(*both).query_option ==
          (QueryChannelRangeMessage::kWantTimestamps | QueryChannelRangeMessage::kWantChecksums));
    const auto large = DecodeFramed(WithSuffix(base, "01 03 fd 1234"));
    REQUIRE(large);
    CHECK(std::get<QueryChannelRangeMessage>(*large).query_option == 0x1234);
    CHECK(FailureOf(WithSuffix(base, "01 00")) == DecodeError::kTruncated);
    CHECK(FailureOf(WithSuffix(base, "01 02 03 00")) == DecodeError::kBadLength);
    CHECK(FailureOf(WithSuffix(base, "01 03 fd 0003")) == DecodeError::kNonMinimal);
    CHECK(FailureOf(WithSuffix(base, "00 00")) == DecodeError::kUnknownEvenType);
}

TEST_CASE("messages with only an extension refuse unknown even TLVs and keep unknown odd ones")
{
    for (const size_t index : {3, 5, 8}) {
        const Bytes framed = EncodeGossipMessage(SampleMessages(false)[index]);
        CAPTURE(FramedType(framed));
        CHECK(FailureOf(WithSuffix(framed, "00 00")) == DecodeError::kUnknownEvenType);
        CHECK(FailureOf(WithSuffix(framed, "01")) == DecodeError::kTruncated);
        const auto decoded = DecodeFramed(WithSuffix(framed, "01 00 07 01 ff"));
        REQUIRE(decoded);
        std::visit(
            [](const auto& msg) {
                if constexpr (requires { msg.extension; }) {
                    CHECK(msg.extension.Records().size() == 2);
                } else {
                    FAIL("no extension");
                }
            },
            *decoded);
    }
}

TEST_CASE("node_announcement addresses")
{
    SUBCASE("each type, with its text form")
    {
        const auto v4 = Parse("01 7f000001 2607");
        REQUIRE(v4);
        REQUIRE(v4->size() == 1);
        CHECK((*v4)[0] == NodeAddress{NodeAddress::Type::kIpv4, {127, 0, 0, 1}, 9735});
        CHECK((*v4)[0].ToString() == "127.0.0.1:9735");

        const auto v6 = Parse("02 00000000000000000000000000000001 2607");
        REQUIRE(v6);
        CHECK((*v6)[0].ToString() == "[::1]:9735");

        const auto onion = Parse("04" + std::string(kOnionHex) + "01bb");
        REQUIRE(onion);
        CHECK((*onion)[0].type == NodeAddress::Type::kTorV3);
        CHECK((*onion)[0].ToString() == std::string(kOnion) + ":443");

        const auto dns = Parse("05 0b 6578616d706c652e636f6d 2607");
        REQUIRE(dns);
        CHECK((*dns)[0] == NodeAddress{NodeAddress::Type::kDns, ParseHex("6578616d706c652e636f6d"), 9735});
        CHECK((*dns)[0].ToString() == "example.com:9735");

        const auto all = Parse(ToHex(NodeAnnouncementMessage::EncodeAddresses(SampleAddresses())));
        REQUIRE(all);
        CHECK(*all == SampleAddresses());
        CHECK(Parse("")->empty());
        // Port 0 is returned: BOLT 7's "SHOULD ignore" is the caller's policy.
        CHECK(Parse("01 01020304 0000")->at(0).port == 0);
    }
    SUBCASE("IPv6 text follows RFC 5952")
    {
        const auto text = [](const std::string& hex) {
            return NodeAddress{NodeAddress::Type::kIpv6, ParseHex(hex), 1}.ToString();
        };
        CHECK(text("00000000000000000000000000000000") == "[::]:1");
        CHECK(text("20010db8000000000000000000000001") == "[2001:db8::1]:1");
        CHECK(text("20010db8000000010000000000000000") == "[2001:db8:0:1::]:1");
        CHECK(text("00010000000000020000000000000003") == "[1:0:0:2::3]:1");
        CHECK(text("00010000000200030004000500060007") == "[1:0:2:3:4:5:6:7]:1");
        CHECK(text("20010db8000000000001000000000001") == "[2001:db8::1:0:0:1]:1");
        CHECK(text("fe80000000000000abcd00ef00000000") == "[fe80::abcd:ef:0:0]:1");
    }
    SUBCASE("a descriptor cut short is an error")
    {
        for (const auto& full : std::vector<std::string>{"01 7f000001 2607", "02 00000000000000000000000000000001 2607",
                                                         "04" + std::string(kOnionHex) + "01bb", "05 03 616263 2607"}) {
            const Bytes bytes = test::SpacedHex(full);
            for (size_t size = 1; size < bytes.size(); ++size) {
                CAPTURE(full);
                CAPTURE(size);
                CHECK(Parse("01 01020304 0001" + ToHex(ByteSpan(bytes).first(size))).error() ==
                      DecodeError::kTruncated);
            }
        }
    }
    SUBCASE("the first unknown type ends the list, keeping what came before")
    {
        for (const std::string unknown : {"00", "03 0102030405060708090a 2607", "06 ffff", "ff"}) {
            CAPTURE(unknown);
            const auto parsed = Parse("01 01020304 0001" + unknown + "01 05060708 0002");
            REQUIRE(parsed);
            REQUIRE(parsed->size() == 1);
            CHECK((*parsed)[0].ToString() == "1.2.3.4:1");
        }
        const auto first = Parse("03 0102030405060708090a 2607 01 05060708 0002");
        REQUIRE(first);
        CHECK(first->empty());
    }
    SUBCASE("DNS hostnames must be printable ASCII")
    {
        for (const std::string bad : {"07", "20", "7f", "80", "c3a9", "00"}) {
            CAPTURE(bad);
            const auto host = "61" + bad + "62";
            const auto length = ToHex(Bytes{static_cast<uint8_t>(host.size() / 2)});
            CHECK(Parse("05" + length + host + "2607").error() == DecodeError::kBadLength);
        }
        const auto punycode = Parse("05 0f 786e2d2d6e786173636d6f2e636f6d 2607");
        REQUIRE(punycode);
        CHECK((*punycode)[0].ToString() == "xn--nxascmo.com:9735");
    }
    SUBCASE("the encoder refuses malformed addresses, a local bug")
    {
        CHECK_THROWS_AS(NodeAnnouncementMessage::EncodeAddresses({{NodeAddress::Type::kIpv4, {1, 2, 3}, 1}}),
                        std::invalid_argument);
        CHECK_THROWS_AS(NodeAnnouncementMessage::EncodeAddresses({{NodeAddress::Type::kDns, Bytes(256, 'a'), 1}}),
                        std::invalid_argument);
        CHECK_THROWS_AS(NodeAnnouncementMessage::EncodeAddresses({{NodeAddress::Type::kDns, {'a', ' '}, 1}}),
                        std::invalid_argument);
        CHECK_THROWS_AS((NodeAddress{NodeAddress::Type::kTorV3, Bytes(32, 1), 1}.ToString()), std::invalid_argument);
        const Bytes longest = NodeAnnouncementMessage::EncodeAddresses({{NodeAddress::Type::kDns, Bytes(255, 'a'), 1}});
        CHECK(longest.size() == 1 + 1 + 255 + 2);
    }
}

TEST_CASE("node_announcement alias")
{
    NodeAnnouncementMessage node = SampleNode(false);
    CHECK(node.AliasString() == "sidebolt");
    node.alias = {};
    CHECK(node.AliasString().empty());
    node.alias.fill('z');
    CHECK(node.AliasString() == std::string(32, 'z'));
    // Up to the first zero: BOLT 7 pads with zeros after the name.
    node.alias = Alias("ab");
    node.alias[5] = 'c';
    CHECK(node.AliasString() == "ab");
}

TEST_CASE("BOLT 7 extended-queries.json vectors")
{
    const auto vectors = test::ReadJsonVectors("bolt07/extended-queries.json");
    REQUIRE(vectors.size() == 10);
    size_t compressed_count = 0;
    for (const auto& vector : vectors) {
        const Bytes bytes = ParseHex(vector.at("hex").get<std::string>());
        const auto& msg = vector.at("msg");
        const std::string type = msg.at("type");
        CAPTURE(type);
        CAPTURE(vector.at("hex").get<std::string>());
        const auto decoded = DecodeFramed(bytes);
        REQUIRE(decoded);
        const auto ids_of = [](const nlohmann::json& json) {
            std::vector<std::string> ids;
            for (const auto& id : json.at("shortChannelIds").at("array")) ids.push_back(id.get<std::string>());
            return ids;
        };
        const auto to_strings = [](const std::vector<ShortChannelId>& ids) {
            std::vector<std::string> out;
            for (const auto& id : ids) out.push_back(id.ToString());
            return out;
        };
        if (type == "QueryChannelRange") {
            const auto& query = std::get<QueryChannelRangeMessage>(*decoded);
            CHECK(ToHex(query.chain_hash) == msg.at("chainHash"));
            CHECK(query.first_blocknum == msg.at("firstBlockNum"));
            CHECK(query.number_of_blocks == msg.at("numberOfBlocks"));
            const auto& records = msg.at("tlvStream").at("records");
            if (records.empty()) {
                CHECK_FALSE(query.query_option);
            } else {
                REQUIRE(records.size() == 1);
                uint64_t expected = 0;
                const std::string flags = records[0];
                if (flags.find("WANT_TIMESTAMPS") != std::string::npos) expected |= QueryChannelRangeMessage::kWantTimestamps;
                if (flags.find("WANT_CHECKSUMS") != std::string::npos) expected |= QueryChannelRangeMessage::kWantChecksums;
                CHECK(query.query_option == expected);
            }
            CHECK(query.extension.empty());
        } else if (type == "ReplyChannelRange") {
            const auto& reply = std::get<ReplyChannelRangeMessage>(*decoded);
            CHECK(ToHex(reply.chain_hash) == msg.at("chainHash"));
            CHECK(reply.first_blocknum == msg.at("firstBlockNum"));
            CHECK(reply.number_of_blocks == msg.at("numberOfBlocks"));
            CHECK(reply.sync_complete == msg.at("complete"));
            CHECK(to_strings(reply.short_channel_ids) == ids_of(msg));
            REQUIRE(reply.timestamps.has_value() == msg.contains("timestamps"));
            if (reply.timestamps) {
                std::vector<ChannelTimestamps> expected;
                for (const auto& pair : msg.at("timestamps").at("timestamps")) {
                    expected.push_back({pair.at("timestamp1"), pair.at("timestamp2")});
                }
                CHECK(*reply.timestamps == expected);
            }
            REQUIRE(reply.checksums.has_value() == msg.contains("checksums"));
            if (reply.checksums) {
                std::vector<ChannelChecksums> expected;
                for (const auto& pair : msg.at("checksums").at("checksums")) {
                    expected.push_back({pair.at("checksum1"), pair.at("checksum2")});
                }
                CHECK(*reply.checksums == expected);
            }
            CHECK(reply.extension.empty());
        } else if (type == "QueryShortChannelIds") {
            const auto& query = std::get<QueryShortChannelIdsMessage>(*decoded);
            CHECK(ToHex(query.chain_hash) == msg.at("chainHash"));
            CHECK(to_strings(query.short_channel_ids) == ids_of(msg));
            const auto& records = msg.at("tlvStream").at("records");
            if (records.empty()) {
                CHECK_FALSE(query.query_flags);
            } else {
                REQUIRE(records.size() == 1);
                CHECK(query.query_flags == records[0].at("array").get<std::vector<uint64_t>>());
            }
            CHECK(query.extension.empty());
        } else {
            FAIL("unexpected vector type");
        }
        // We only send plain arrays: those vectors re-encode byte for byte, the zlib ones to a
        // plain message that decodes to the same value.
        const bool compressed = msg.dump().find("COMPRESSED_ZLIB") != std::string::npos;
        compressed_count += compressed;
        const Bytes encoded = EncodeGossipMessage(*decoded);
        if (!compressed) CHECK(encoded == bytes);
        const auto again = DecodeFramed(encoded);
        REQUIRE(again);
        CHECK(*again == *decoded);
    }
    CHECK(compressed_count == 5);
}
