#include "wire/message.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

using namespace sidebolt;

namespace {
template <typename Msg>
Msg DecodeAs(const Bytes& bytes)
{
    auto decoded = DecodeMessage(bytes);
    REQUIRE(decoded);
    REQUIRE(std::holds_alternative<Msg>(*decoded));
    return std::get<Msg>(*decoded);
}

DecodeError DecodeFailure(const Bytes& bytes)
{
    const auto decoded = DecodeMessage(bytes);
    REQUIRE_FALSE(decoded);
    return decoded.error();
}

Hash256 FilledHash(uint8_t byte)
{
    Hash256 hash;
    hash.fill(byte);
    return hash;
}
} // namespace

TEST_CASE("BOLT 1 Appendix C: init message extensions")
{
    const auto vectors = test::ReadJsonVectors("net/bolt1_message_extension.json");
    for (const auto& v : vectors["valid"]) {
        CAPTURE(v["comment"].get<std::string>());
        const Bytes bytes = ParseHex(v["message"].get<std::string>());
        const auto init = DecodeAs<InitMessage>(bytes);
        CHECK(init.features.empty());
        CHECK(init.global_features.empty());
        CHECK_FALSE(init.networks);
        // Unknown odd records are kept, so the message re-encodes byte for byte.
        CHECK(EncodeMessage(init) == bytes);
    }
    const DecodeError expected[] = {DecodeError::kTruncated, DecodeError::kUnknownEvenType, DecodeError::kTlvNotIncreasing};
    REQUIRE(vectors["invalid"].size() == std::size(expected));
    for (size_t i = 0; i < std::size(expected); ++i) {
        const auto& v = vectors["invalid"][i];
        CAPTURE(v["comment"].get<std::string>());
        CHECK(DecodeFailure(ParseHex(v["message"].get<std::string>())) == expected[i]);
    }
}

TEST_CASE("init carries features, networks and remote_addr and round-trips")
{
    InitMessage init;
    init.global_features = ParseHex("02");
    init.features = OurInitFeatures().ToWire();
    init.networks = std::vector<Hash256>{FilledHash(0x6f), FilledHash(0x43)};
    init.remote_addr = ParseHex("017f000001262e");
    const Bytes bytes = EncodeMessage(init);
    CHECK(ToHex(ByteSpan(bytes).first(2)) == "0010");
    const auto decoded = DecodeAs<InitMessage>(bytes);
    CHECK(decoded == init);
    CHECK(decoded.CombinedFeatures() == (OurInitFeatures() | FeatureBits::FromWire(ParseHex("02"))));
    CHECK(decoded.other_tlvs.empty());
}

TEST_CASE("init rejects truncated fields and malformed networks")
{
    CHECK(DecodeFailure(ParseHex("0010")) == DecodeError::kTruncated);
    CHECK(DecodeFailure(ParseHex("00100001")) == DecodeError::kTruncated);
    CHECK(DecodeFailure(ParseHex("0010000000020a")) == DecodeError::kTruncated);
    // networks must be a whole number of 32-byte chain hashes.
    CHECK(DecodeFailure(ParseHex("001000000000" "0101" "aa")) == DecodeError::kBadLength);
    const auto empty_networks = DecodeAs<InitMessage>(ParseHex("001000000000" "0100"));
    REQUIRE(empty_networks.networks);
    CHECK(empty_networks.networks->empty());
}

TEST_CASE("error and warning: layout, all-channel ids and printable data")
{
    ErrorMessage error;
    error.channel_id = FilledHash(0x11);
    const std::string text = "internal error";
    error.data.assign(text.begin(), text.end());
    const Bytes bytes = EncodeMessage(error);
    CHECK(ToHex(ByteSpan(bytes).first(2)) == "0011");
    const auto decoded = DecodeAs<ErrorMessage>(bytes);
    CHECK(decoded == error);
    CHECK_FALSE(decoded.IsForAllChannels());
    CHECK(PrintableNoticeData(decoded.data) == text);

    WarningMessage warning;
    warning.data = {0x01, 0x41};
    const auto decoded_warning = DecodeAs<WarningMessage>(EncodeMessage(warning));
    CHECK(decoded_warning.IsForAllChannels());
    CHECK(PrintableNoticeData(decoded_warning.data) == "hex:0141");

    Bytes truncated = bytes;
    truncated.pop_back();
    CHECK(DecodeFailure(truncated) == DecodeError::kTruncated);
    Bytes with_even_extension = bytes;
    Append(with_even_extension, ParseHex("0200"));
    CHECK(DecodeFailure(with_even_extension) == DecodeError::kUnknownEvenType);
    Bytes with_odd_extension = bytes;
    Append(with_odd_extension, ParseHex("0300"));
    CHECK(DecodeAs<ErrorMessage>(with_odd_extension).extension.Records().size() == 1);
}

TEST_CASE("ping and pong: num_pong_bytes rule and decoding")
{
    PingMessage ping{.num_pong_bytes = 4, .ignored = Bytes(3, 0), .extension = {}};
    const Bytes bytes = EncodeMessage(ping);
    CHECK(ToHex(bytes) == "00120004" "0003" "000000");
    CHECK(DecodeAs<PingMessage>(bytes) == ping);
    const auto pong = PongFor(ping);
    REQUIRE(pong);
    CHECK(ToHex(EncodeMessage(*pong)) == "0013" "0004" "00000000");

    ping.num_pong_bytes = 65531;
    REQUIRE(PongFor(ping));
    CHECK(PongFor(ping)->ignored.size() == 65531);
    CHECK(EncodeMessage(*PongFor(ping)).size() == kMaxMessageSize);
    ping.num_pong_bytes = PingMessage::kNoPongThreshold;
    CHECK_FALSE(PongFor(ping));
    ping.num_pong_bytes = 65535;
    CHECK_FALSE(PongFor(ping));

    CHECK(DecodeFailure(ParseHex("00120004")) == DecodeError::kTruncated);
    CHECK(DecodeFailure(ParseHex("0012000400020000" "0400")) == DecodeError::kUnknownEvenType);
    CHECK(DecodeFailure(ParseHex("00130005" "00")) == DecodeError::kTruncated);
    CHECK(DecodeAs<PongMessage>(ParseHex("0013" "0000")).ignored.empty());
}

TEST_CASE("message type policy: known, unknown odd ignored, unknown even disconnects")
{
    for (const uint16_t type : {1, 16, 17, 18, 19}) CHECK(IsKnownMessageType(type));
    for (const uint16_t type : {0, 2, 32, 33, 32768}) CHECK_FALSE(IsKnownMessageType(type));
    CHECK(ActionForUnknownType(32769) == UnknownMessageAction::kIgnore);
    CHECK(ActionForUnknownType(32768) == UnknownMessageAction::kDisconnect);

    const Bytes channel_message = ParseHex("0020abcdef");
    const auto other = DecodeAs<OtherMessage>(channel_message);
    CHECK(other.type == 32);
    CHECK(ToHex(other.payload) == "abcdef");
    const auto decoded = DecodeMessage(channel_message);
    CHECK(TypeOf(*decoded) == 32);
    CHECK(EncodeMessage(*decoded) == channel_message);
    CHECK(TypeOf(Message{PingMessage{}}) == 18);
    CHECK(DecodeFailure(ParseHex("00")) == DecodeError::kTruncated);
    CHECK(DecodeFailure({}) == DecodeError::kTruncated);
}

TEST_CASE("encoding refuses messages above 65535 bytes")
{
    PongMessage pong;
    pong.ignored.assign(65531, 0);
    CHECK(EncodeMessage(pong).size() == kMaxMessageSize);
    pong.ignored.push_back(0);
    CHECK_THROWS_AS(EncodeMessage(pong), std::length_error);
    CHECK_THROWS_AS(EncodeMessage(Message{OtherMessage{.type = 33, .payload = Bytes(65534, 0)}}), std::length_error);
}

TEST_CASE("BOLT 7 gossip types are recognised, and nothing around them")
{
    for (const uint16_t type : {256, 257, 258, 259, 261, 262, 263, 264, 265}) CHECK(IsGossipMessageType(type));
    for (const uint16_t type : {0, 17, 255, 260, 266, 32768}) CHECK_FALSE(IsGossipMessageType(type));
}
