#include "net/noise.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <vector>

using namespace sidebolt;

namespace {
PrivKey Priv(const nlohmann::json& hex) { return PrivKey::FromBytes(ParseHex(hex.get<std::string>())).value(); }
PubKey Pub(const nlohmann::json& hex) { return PubKey::Parse(ParseHex(hex.get<std::string>())).value(); }
Secret<32> Key(const nlohmann::json& hex) { return Secret<32>(ParseHex(hex.get<std::string>())); }
std::string Hex(ByteSpan bytes) { return ToHex(bytes); }

HandshakeError ErrorNamed(const std::string& vector_error)
{
    // Appendix A names: ACTn_READ_FAILED, ACTn_BAD_VERSION, ..._BAD_PUBKEY, ..._BAD_CIPHERTEXT, ..._BAD_TAG.
    static const std::map<std::string, HandshakeError> by_suffix{
        {"READ_FAILED", HandshakeError::kShortRead}, {"BAD_VERSION", HandshakeError::kBadVersion},
        {"BAD_PUBKEY", HandshakeError::kBadPubkey},  {"BAD_CIPHERTEXT", HandshakeError::kBadCiphertext},
        {"BAD_TAG", HandshakeError::kBadTag}};
    return by_suffix.at(vector_error.substr(5));
}

//! Two transports agree when each decrypts what the other encrypts, across a key rotation.
void CheckPaired(TransportCipher& a, TransportCipher& b)
{
    const Bytes message = ParseHex("68656c6c6f");
    for (int i = 0; i < 600; ++i) {
        for (auto [from, to] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
            const Bytes wire = from->Encrypt(message);
            const auto length = to->DecryptLength(ByteSpan(wire).first(TransportCipher::kLengthHeaderSize));
            REQUIRE(length);
            REQUIRE(*length == message.size());
            Bytes plain;
            REQUIRE(to->DecryptBody(ByteSpan(wire).subspan(TransportCipher::kLengthHeaderSize), plain));
            REQUIRE(plain == message);
        }
    }
}

//! The vector gives sk/rk/ck (secrets the transport never exposes): a transport built from
//! them must produce the same bytes, past a key rotation, and talk to the matching peer.
void CheckSameKeys(TransportCipher& cipher, const Secret<32>& sk, const Secret<32>& rk, const Secret<32>& ck)
{
    TransportCipher expected(sk, rk, ck);
    TransportCipher peer(rk, sk, ck);
    const Bytes message = ParseHex("0102030405");
    for (int i = 0; i < 1002; ++i) {
        const Bytes wire = cipher.Encrypt(message);
        REQUIRE(Hex(wire) == Hex(expected.Encrypt(message)));
        REQUIRE(peer.DecryptLength(ByteSpan(wire).first(TransportCipher::kLengthHeaderSize)));
        Bytes plain;
        REQUIRE(peer.DecryptBody(ByteSpan(wire).subspan(TransportCipher::kLengthHeaderSize), plain));
    }
    CheckPaired(cipher, peer);
}
} // namespace

TEST_CASE("BOLT 8 Appendix A: intermediate ECDH and HKDF values")
{
    const auto vectors = test::ReadJsonVectors("net/bolt8_transport.json")["intermediate"];
    for (const auto& v : vectors["ecdh"]) CHECK(Hex(Ecdh(Priv(v["priv"]), Pub(v["pub"])).span()) == v["ss"]);
    for (const auto& v : vectors["hkdf"]) {
        const auto [first, second] = NoiseHkdf(ParseHex(v["salt"].get<std::string>()), ParseHex(v["ikm"].get<std::string>()));
        CHECK(Hex(first.span()) == v["first"]);
        CHECK(Hex(second.span()) == v["second"]);
    }
}

TEST_CASE("BOLT 8 Appendix A: initiator tests")
{
    const auto vectors = test::ReadJsonVectors("net/bolt8_transport.json")["initiator"];
    CHECK(Hex(Priv(vectors["ls_priv"]).GetPubKey().span()) == vectors["ls_pub"]);
    CHECK(Hex(Priv(vectors["e_priv"]).GetPubKey().span()) == vectors["e_pub"]);
    for (const auto& t : vectors["tests"]) {
        CAPTURE(t["name"].get<std::string>());
        auto handshake = Handshake::Initiator(Priv(vectors["ls_priv"]), Pub(vectors["rs_pub"]), Priv(vectors["e_priv"]));
        CHECK(handshake.IsInitiator());
        CHECK(handshake.NextReadSize() == 0);
        CHECK(Hex(handshake.WriteActOne()) == t["act_one_output"]);
        CHECK(handshake.NextReadSize() == Handshake::kActTwoSize);
        const auto act_three = handshake.ReadActTwo(ParseHex(t["act_two_input"].get<std::string>()));
        if (t.contains("error")) {
            REQUIRE_FALSE(act_three);
            CHECK(act_three.error() == ErrorNamed(t["error"]));
            CHECK_FALSE(handshake.IsComplete());
            CHECK_THROWS_AS(std::move(handshake).Finish(), std::logic_error);
            continue;
        }
        REQUIRE(act_three);
        CHECK(Hex(*act_three) == t["act_three_output"]);
        REQUIRE(handshake.IsComplete());
        auto result = std::move(handshake).Finish();
        CHECK(result.remote_static == Pub(vectors["rs_pub"]));
        CheckSameKeys(result.cipher, Key(t["sk"]), Key(t["rk"]), Key(t["ck"]));
    }
}

TEST_CASE("BOLT 8 Appendix A: responder tests")
{
    const auto vectors = test::ReadJsonVectors("net/bolt8_transport.json")["responder"];
    CHECK(Hex(Priv(vectors["ls_priv"]).GetPubKey().span()) == vectors["ls_pub"]);
    CHECK(Hex(Priv(vectors["e_priv"]).GetPubKey().span()) == vectors["e_pub"]);
    for (const auto& t : vectors["tests"]) {
        CAPTURE(t["name"].get<std::string>());
        auto handshake = Handshake::Responder(Priv(vectors["ls_priv"]), Priv(vectors["e_priv"]));
        CHECK_FALSE(handshake.IsInitiator());
        CHECK(handshake.NextReadSize() == Handshake::kActOneSize);
        const auto act_two = handshake.ReadActOne(ParseHex(t["act_one_input"].get<std::string>()));
        const std::string error = t.value("error", "");
        if (error.rfind("ACT1", 0) == 0) {
            REQUIRE_FALSE(act_two);
            CHECK(act_two.error() == ErrorNamed(error));
            CHECK(handshake.NextReadSize() == 0);
            continue;
        }
        REQUIRE(act_two);
        CHECK(Hex(*act_two) == t["act_two_output"]);
        CHECK(handshake.NextReadSize() == Handshake::kActThreeSize);
        const auto act_three_error = handshake.ReadActThree(ParseHex(t["act_three_input"].get<std::string>()));
        if (!error.empty()) {
            REQUIRE(act_three_error);
            CHECK(*act_three_error == ErrorNamed(error));
            CHECK_FALSE(handshake.IsComplete());
            continue;
        }
        REQUIRE_FALSE(act_three_error);
        REQUIRE(handshake.IsComplete());
        auto result = std::move(handshake).Finish();
        CHECK(Hex(result.remote_static.span()) == t["rs"]);
        CheckSameKeys(result.cipher, Key(t["sk"]), Key(t["rk"]), Key(t["ck"]));
    }
}

TEST_CASE("BOLT 8 Appendix A: message encryption with two key rotations")
{
    const auto v = test::ReadJsonVectors("net/bolt8_transport.json")["message_encryption"];
    TransportCipher sender(Key(v["sk"]), Key(v["rk"]), Key(v["ck"]));
    TransportCipher receiver(Key(v["rk"]), Key(v["sk"]), Key(v["ck"]));
    std::map<int, std::string> expected;
    for (const auto& o : v["outputs"]) expected[o["index"].get<int>()] = o["output"].get<std::string>();
    const Bytes message = ParseHex(v["message"].get<std::string>());
    for (int i = 0; i <= 1001; ++i) {
        const Bytes wire = sender.Encrypt(message);
        REQUIRE(wire.size() == TransportCipher::EncryptedSize(message.size()));
        if (i == 0) CHECK(Hex(ByteSpan(wire).first(18)) == v["encrypted_length_0"]);
        if (expected.count(i)) CHECK(Hex(wire) == expected[i]);
        const auto length = receiver.DecryptLength(ByteSpan(wire).first(TransportCipher::kLengthHeaderSize));
        REQUIRE(length);
        Bytes plain;
        REQUIRE(receiver.DecryptBody(ByteSpan(wire).subspan(TransportCipher::kLengthHeaderSize), plain));
        REQUIRE(plain == message);
    }
}

TEST_CASE("transport rejects tampering and then refuses further use")
{
    const auto v = test::ReadJsonVectors("net/bolt8_transport.json")["message_encryption"];
    const Bytes message = ParseHex(v["message"].get<std::string>());
    SUBCASE("bad length MAC")
    {
        TransportCipher sender(Key(v["sk"]), Key(v["rk"]), Key(v["ck"]));
        TransportCipher receiver(Key(v["rk"]), Key(v["sk"]), Key(v["ck"]));
        Bytes wire = sender.Encrypt(message);
        wire[0] ^= 1;
        CHECK_FALSE(receiver.DecryptLength(ByteSpan(wire).first(18)));
        wire[0] ^= 1;
        CHECK_FALSE(receiver.DecryptLength(ByteSpan(wire).first(18)));
    }
    SUBCASE("bad body MAC")
    {
        TransportCipher sender(Key(v["sk"]), Key(v["rk"]), Key(v["ck"]));
        TransportCipher receiver(Key(v["rk"]), Key(v["sk"]), Key(v["ck"]));
        Bytes wire = sender.Encrypt(message);
        wire.back() ^= 0x80;
        REQUIRE(receiver.DecryptLength(ByteSpan(wire).first(18)));
        Bytes plain;
        CHECK_FALSE(receiver.DecryptBody(ByteSpan(wire).subspan(18), plain));
        CHECK(plain.empty());
        const Bytes next = sender.Encrypt(message);
        CHECK_FALSE(receiver.DecryptLength(ByteSpan(next).first(18)));
    }
    SUBCASE("replayed message")
    {
        TransportCipher sender(Key(v["sk"]), Key(v["rk"]), Key(v["ck"]));
        TransportCipher receiver(Key(v["rk"]), Key(v["sk"]), Key(v["ck"]));
        const Bytes wire = sender.Encrypt(message);
        Bytes plain;
        REQUIRE(receiver.DecryptLength(ByteSpan(wire).first(18)));
        REQUIRE(receiver.DecryptBody(ByteSpan(wire).subspan(18), plain));
        CHECK_FALSE(receiver.DecryptLength(ByteSpan(wire).first(18)));
    }
    SUBCASE("sizes")
    {
        TransportCipher sender(Key(v["sk"]), Key(v["rk"]), Key(v["ck"]));
        CHECK(sender.Encrypt(Bytes(65535, 0)).size() == 65569);
        CHECK(sender.Encrypt(Bytes{}).size() == 34);
        CHECK_THROWS_AS(sender.Encrypt(Bytes(65536, 0)), std::length_error);
        CHECK_THROWS_AS(sender.DecryptLength(Bytes(17, 0)), std::logic_error);
        Bytes plain;
        CHECK_THROWS_AS(static_cast<void>(sender.DecryptBody(Bytes(15, 0), plain)), std::logic_error);
    }
}

TEST_CASE("random keys: both ends of a handshake derive matching transports")
{
    const PrivKey initiator_key = PrivKey::Generate();
    const PrivKey responder_key = PrivKey::Generate();
    auto initiator = Handshake::Initiator(initiator_key, responder_key.GetPubKey());
    auto responder = Handshake::Responder(responder_key);
    const auto act_two = responder.ReadActOne(initiator.WriteActOne());
    REQUIRE(act_two);
    const auto act_three = initiator.ReadActTwo(*act_two);
    REQUIRE(act_three);
    REQUIRE_FALSE(responder.ReadActThree(*act_three));
    auto initiator_result = std::move(initiator).Finish();
    auto responder_result = std::move(responder).Finish();
    CHECK(initiator_result.remote_static == responder_key.GetPubKey());
    CHECK(responder_result.remote_static == initiator_key.GetPubKey());
    CheckPaired(initiator_result.cipher, responder_result.cipher);
}

TEST_CASE("handshake: wrong responder key fails act one; misuse is a logic error")
{
    const PrivKey responder_key = PrivKey::Generate();
    auto initiator = Handshake::Initiator(PrivKey::Generate(), PrivKey::Generate().GetPubKey());
    auto responder = Handshake::Responder(responder_key);
    const auto act_two = responder.ReadActOne(initiator.WriteActOne());
    REQUIRE_FALSE(act_two);
    CHECK(act_two.error() == HandshakeError::kBadTag);
    CHECK_THROWS_AS(responder.ReadActThree(Bytes(66, 0)), std::logic_error);
    CHECK_THROWS_AS(initiator.WriteActOne(), std::logic_error);
    CHECK_THROWS_AS(initiator.ReadActOne(Bytes(50, 0)), std::logic_error);
    CHECK(ToString(HandshakeError::kBadCiphertext) == "bad_ciphertext");
}

namespace {
//! Ciphers for both ends of a transport, keyed from the Appendix A message vector.
struct TransportPair {
    TransportCipher sender;
    TransportCipher receiver;
};

TransportPair MakeTransportPair()
{
    const auto v = test::ReadJsonVectors("net/bolt8_transport.json")["message_encryption"];
    return {TransportCipher(Key(v["sk"]), Key(v["rk"]), Key(v["ck"])), TransportCipher(Key(v["rk"]), Key(v["sk"]), Key(v["ck"]))};
}

//! Sizes around every boundary the reader handles (empty, a header's 18 bytes, the 65535 maximum)
//! over more than 1000 messages, so the receiving key rotates in the middle of the stream.
std::vector<Bytes> ReaderMessages()
{
    static constexpr size_t kSizes[] = {0, 1, 17, 18, 19, 34, 35, 100, 1000, 4000};
    std::vector<Bytes> messages;
    for (size_t i = 0; i < 1010; ++i) {
        const size_t size = i % 250 == 7 ? TransportCipher::kMaxMessageSize : kSizes[i % std::size(kSizes)];
        messages.emplace_back(size, static_cast<uint8_t>(i));
    }
    return messages;
}

//! Feeds `stream` to `reader` in reads of at most `read_size` bytes, taking the messages out
//! after each read as a connection does.
std::vector<Bytes> ReadInChunks(TransportReader& reader, TransportCipher& cipher, ByteSpan stream, size_t read_size)
{
    std::vector<Bytes> messages;
    Bytes message;
    while (!stream.empty()) {
        const MutableByteSpan space = reader.FreeSpace();
        REQUIRE_FALSE(space.empty());
        const size_t n = std::min({read_size, space.size(), stream.size()});
        std::copy_n(stream.begin(), n, space.begin());
        reader.Commit(n);
        stream = stream.subspan(n);
        TransportReader::Status status;
        while ((status = reader.Next(cipher, message)) == TransportReader::Status::kMessage) messages.push_back(message);
        REQUIRE(status == TransportReader::Status::kNeedMore);
    }
    return messages;
}
} // namespace

TEST_CASE("transport reader: messages come out whole however the stream is cut into reads")
{
    const std::vector<Bytes> messages = ReaderMessages();
    for (const size_t read_size : {size_t{1}, size_t{17}, size_t{18}, size_t{19}, size_t{1000}, size_t{65569},
                                   TransportReader::kBufferSize}) {
        CAPTURE(read_size);
        auto [sender, receiver] = MakeTransportPair();
        Bytes stream;
        for (const auto& message : messages) sender.Encrypt(message, stream);
        TransportReader reader;
        const auto received = ReadInChunks(reader, receiver, stream, read_size);
        REQUIRE(received.size() == messages.size());
        CHECK(received == messages);
    }
}

TEST_CASE("transport reader: a bad MAC or an oversized length ends the stream")
{
    const Bytes message(101, 0x42);
    auto [sender, receiver] = MakeTransportPair();
    Bytes plain;
    Bytes wire = sender.Encrypt(message);
    // Gives the reader the first `size` bytes of the frame, as one read.
    const auto receive = [&wire](TransportReader& reader, size_t size) {
        std::copy_n(wire.begin(), size, reader.FreeSpace().begin());
        reader.Commit(size);
    };
    SUBCASE("bad length MAC")
    {
        wire[3] ^= 0x01;
        TransportReader reader;
        receive(reader, wire.size());
        CHECK(reader.Next(receiver, plain) == TransportReader::Status::kBadLengthMac);
    }
    SUBCASE("bad message MAC")
    {
        wire.back() ^= 0x80;
        TransportReader reader;
        receive(reader, wire.size());
        CHECK(reader.Next(receiver, plain) == TransportReader::Status::kBadMessageMac);
        CHECK(plain.empty());
    }
    SUBCASE("length over the limit, refused before its body arrives")
    {
        TransportReader reader(100);
        receive(reader, TransportCipher::kLengthHeaderSize);
        CHECK(reader.Next(receiver, plain) == TransportReader::Status::kTooLarge);
    }
    SUBCASE("length at the limit")
    {
        TransportReader reader(101);
        receive(reader, TransportCipher::kLengthHeaderSize);
        CHECK(reader.Next(receiver, plain) == TransportReader::Status::kNeedMore);
        CHECK(ReadInChunks(reader, receiver, ByteSpan(wire).subspan(TransportCipher::kLengthHeaderSize), wire.size()) ==
              std::vector<Bytes>{message});
    }
}

TEST_CASE("transport reader: misuse is a logic error")
{
    auto [sender, receiver] = MakeTransportPair();
    TransportReader reader;
    const size_t free = reader.FreeSpace().size();
    CHECK(free == TransportReader::kBufferSize);
    CHECK_THROWS_AS(reader.Commit(free + 1), std::logic_error);
    // Reading on without taking the frames out would run out of room.
    Bytes stream;
    while (stream.size() < free) sender.Encrypt(Bytes(1000, 0), stream);
    std::copy_n(stream.begin(), free, reader.FreeSpace().begin());
    reader.Commit(free);
    CHECK_THROWS_AS(reader.FreeSpace(), std::logic_error);
}
