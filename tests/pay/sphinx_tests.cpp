// BOLT 4 Sphinx onion: the spec's packet vectors, construction/peel round trips and every reject.
#include "pay/failure_codes.h"
#include "pay/sphinx.h"
#include "primitives/hash.h"
#include "tests/test_util.h"
#include "util/hex.h"
#include "wire/bigsize.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <stdexcept>

using namespace sidebolt;

namespace {
Bytes Hex(const nlohmann::json& value) { return ParseHex(value.get<std::string>()); }
PrivKey KeyFromHex(const nlohmann::json& hex) { return PrivKey::FromBytes(Hex(hex)).value(); }
PubKey PubFromHex(const nlohmann::json& hex) { return PubKey::Parse(Hex(hex)).value(); }
Secret<32> SecretFromHex(const nlohmann::json& hex) { return Secret<32>(Hex(hex)); }

//! The vector payloads carry their BigSize length prefix; OnionHop::payload does not.
Bytes StripLengthPrefix(const Bytes& prefixed)
{
    ByteSpan rest(prefixed);
    const auto length = ReadBigSize(rest);
    REQUIRE(length);
    REQUIRE(*length == rest.size());
    return Bytes(rest.begin(), rest.end());
}

struct Vector {
    std::vector<OnionHop> hops;
    Secret<32> session_key;
    Bytes associated_data;
    Bytes onion;
    std::vector<PrivKey> node_keys;
};

Vector LoadVector(const std::string& file, bool prefixed_payloads)
{
    const auto json = test::ReadJsonVectors(file);
    Vector v{{}, SecretFromHex(json["generate"]["session_key"]), Hex(json["generate"]["associated_data"]), Hex(json["onion"]), {}};
    for (const auto& hop : json["generate"]["hops"]) {
        const Bytes payload = Hex(hop["payload"]);
        v.hops.push_back(OnionHop{PubFromHex(hop["pubkey"]), prefixed_payloads ? StripLengthPrefix(payload) : payload});
    }
    for (const auto& key : json["decode"]) v.node_keys.push_back(KeyFromHex(key));
    return v;
}

ByteArray<kOnionPacketSize> ToPacket(ByteSpan bytes)
{
    REQUIRE(bytes.size() == kOnionPacketSize);
    ByteArray<kOnionPacketSize> packet;
    std::copy(bytes.begin(), bytes.end(), packet.begin());
    return packet;
}

OnionError PeelError(const PrivKey& key, ByteSpan packet, ByteSpan associated_data)
{
    const auto peeled = PeelOnion(key, packet, associated_data);
    REQUIRE_FALSE(peeled.has_value());
    return peeled.error();
}

Bytes RandomBytes(std::mt19937_64& rng, size_t size)
{
    Bytes out(size);
    for (auto& b : out) b = static_cast<uint8_t>(rng());
    return out;
}

PrivKey RandomKey(std::mt19937_64& rng)
{
    while (true) {
        if (auto key = PrivKey::FromBytes(RandomBytes(rng, 32))) return *key;
    }
}

/**
 * Rewrites the plaintext start of a one-hop onion's hop_payloads and re-authenticates it, as a
 * malicious origin could. ChaCha20 is a stream cipher, so XORing (old ^ new) into the ciphertext
 * changes the plaintext from old to new; the HMAC is then recomputed with the mu key.
 */
ByteArray<kOnionPacketSize> WithPlainPrefix(ByteArray<kOnionPacketSize> packet, const Secret<32>& shared_secret,
                                            ByteSpan associated_data, ByteSpan old_plain, ByteSpan new_plain)
{
    REQUIRE(old_plain.size() == new_plain.size());
    const size_t payloads = 1 + PubKey::SIZE;
    for (size_t i = 0; i < new_plain.size(); ++i) packet[payloads + i] ^= old_plain[i] ^ new_plain[i];
    const std::string mu = "mu";
    const Hash256 mu_key = HmacSha256(ByteSpan(reinterpret_cast<const uint8_t*>(mu.data()), mu.size()), shared_secret.span());
    const ByteSpan hop_payloads = ByteSpan(packet).subspan(payloads, kOnionHopPayloadsSize);
    const Hash256 hmac = HmacSha256(mu_key, Concat({hop_payloads, associated_data}));
    std::copy(hmac.begin(), hmac.end(), packet.begin() + payloads + kOnionHopPayloadsSize);
    return packet;
}
} // namespace

TEST_CASE("sphinx: BOLT 4 onion-test.json builds byte for byte")
{
    const Vector v = LoadVector("bolt04/onion-test.json", true);
    REQUIRE(v.hops.size() == 5);
    const BuiltOnion built = CreateOnion(v.hops, v.session_key, v.associated_data);
    CHECK(ToHex(built.packet) == ToHex(v.onion));
    CHECK(built.shared_secrets.size() == v.hops.size());
}

TEST_CASE("sphinx: an onion from a start made ahead is the onion of its session key")
{
    const Vector v = LoadVector("bolt04/onion-test.json", true);
    const OnionStart start = StartOnion(v.hops.front().node_id, v.session_key);
    CHECK(start.ephemeral_key == PrivKey::FromBytes(v.session_key.span())->GetPubKey());
    const BuiltOnion built = CreateOnion(v.hops, start, v.associated_data);
    CHECK(ToHex(built.packet) == ToHex(v.onion));
    REQUIRE(built.shared_secrets.size() == v.hops.size());
    CHECK(built.shared_secrets.front() == start.shared_secret);
    // One hop: the start holds all of its EC work.
    const std::vector<OnionHop> one{v.hops.front()};
    CHECK(ToHex(CreateOnion(one, start, v.associated_data).packet) == ToHex(CreateOnion(one, v.session_key, v.associated_data).packet));
    // Made for another first hop, it cannot serve.
    const std::vector<OnionHop> other{v.hops[1], v.hops[2]};
    CHECK_THROWS_AS(CreateOnion(other, start, v.associated_data), std::invalid_argument);
    CHECK_THROWS_AS(StartOnion(v.hops.front().node_id, Secret<32>()), std::invalid_argument);
}

TEST_CASE("sphinx: BOLT 4 onion-test.json peels hop by hop")
{
    const Vector v = LoadVector("bolt04/onion-test.json", true);
    const BuiltOnion built = CreateOnion(v.hops, v.session_key, v.associated_data);
    ByteArray<kOnionPacketSize> packet = ToPacket(v.onion);
    for (size_t i = 0; i < v.hops.size(); ++i) {
        CAPTURE(i);
        REQUIRE(v.node_keys[i].GetPubKey() == v.hops[i].node_id);
        const auto peeled = PeelOnion(v.node_keys[i], packet, v.associated_data);
        REQUIRE(peeled.has_value());
        CHECK(ToHex(peeled->payload) == ToHex(v.hops[i].payload));
        CHECK(peeled->shared_secret == built.shared_secrets[i]);
        if (i + 1 == v.hops.size()) {
            CHECK_FALSE(peeled->next_packet.has_value());
        } else {
            REQUIRE(peeled->next_packet.has_value());
            packet = *peeled->next_packet;
            // Every hop sees the same-looking packet: version 0 and a fresh ephemeral key.
            CHECK(packet[0] == 0);
            CHECK(PubKey::Parse(ByteSpan(packet).subspan(1, 33)).has_value());
        }
    }
}

TEST_CASE("sphinx: BOLT 4 onion-test-v0.json (legacy) shared secrets, and its hop_payload is refused")
{
    // The legacy vector's frames are not TLV, so only its key schedule and the packet's HMAC
    // (both format-independent) apply: the same session key and route give the same secrets.
    const auto json = test::ReadJsonVectors("bolt04/onion-test-v0.json");
    std::vector<OnionHop> hops;
    for (const auto& hop : json["generate"]["hops"]) hops.push_back(OnionHop{PubFromHex(hop["pubkey"]), Bytes(20, 0)});
    const Bytes ad = Hex(json["generate"]["associated_data"]);
    const BuiltOnion built = CreateOnion(hops, SecretFromHex(json["generate"]["session_key"]), ad);
    for (size_t i = 0; i < hops.size(); ++i) {
        CAPTURE(i);
        CHECK(ToHex(built.shared_secrets[i].span()) == json["generate"]["hops"][i]["hop_shared_secret"].get<std::string>());
    }
    // The packet authenticates (its HMAC is over hop_payloads and associated data alike), but its
    // first frame starts with realm 0: "0 indicated a legacy format no longer supported".
    const Bytes onion = Hex(json["onion"]);
    const PrivKey hop0 = KeyFromHex(json["decode"][0]);
    CHECK(PeelError(hop0, onion, ad) == OnionError::INVALID_PAYLOAD_LENGTH);
    Bytes tampered = onion;
    tampered[100] ^= 1;
    CHECK(PeelError(hop0, tampered, ad) == OnionError::INVALID_HMAC);
}

TEST_CASE("sphinx: construction and peel round trip for 1 to 27 hops")
{
    for (size_t hop_count = 1; hop_count <= 27; ++hop_count) {
        CAPTURE(hop_count);
        std::mt19937_64 rng(hop_count);
        std::vector<PrivKey> keys;
        std::vector<OnionHop> hops;
        size_t used = 0;
        for (size_t i = 0; i < hop_count; ++i) {
            // Leave room for the later hops' smallest frames (1 + 2 + 32 bytes each).
            const size_t budget = kOnionHopPayloadsSize - used - 35 * (hop_count - i - 1);
            // The largest payload whose frame (BigSize length, payload, HMAC) fits the budget.
            size_t largest = budget - 33;
            if (largest >= 253) largest = std::max<size_t>(252, budget - 35);
            const size_t size = 2 + rng() % (std::min<size_t>(largest, 600) - 1);
            keys.push_back(RandomKey(rng));
            hops.push_back(OnionHop{keys.back().GetPubKey(), RandomBytes(rng, size)});
            used += BigSizeLength(size) + size + 32;
        }
        const Bytes ad = RandomBytes(rng, 32);
        const BuiltOnion built = CreateOnion(hops, Secret<32>(RandomBytes(rng, 32)), ad);
        REQUIRE(built.shared_secrets.size() == hop_count);
        ByteArray<kOnionPacketSize> packet = built.packet;
        for (size_t i = 0; i < hop_count; ++i) {
            CAPTURE(i);
            const auto peeled = PeelOnion(keys[i], packet, ad);
            REQUIRE(peeled.has_value());
            CHECK(peeled->payload == hops[i].payload);
            CHECK(peeled->shared_secret == built.shared_secrets[i]);
            REQUIRE(peeled->next_packet.has_value() == (i + 1 < hop_count));
            if (peeled->next_packet) packet = *peeled->next_packet;
        }
    }
}

TEST_CASE("sphinx: payloads filling exactly 1300 bytes")
{
    std::mt19937_64 rng(99);
    const PrivKey a = RandomKey(rng);
    const PrivKey b = RandomKey(rng);
    const Secret<32> session(RandomBytes(rng, 32));
    // One hop: 3-byte BigSize + 1265 + 32 = 1300.
    const std::vector<OnionHop> one{{a.GetPubKey(), RandomBytes(rng, 1265)}};
    const auto peeled = PeelOnion(a, CreateOnion(one, session, {}).packet, {});
    REQUIRE(peeled.has_value());
    CHECK(peeled->payload == one[0].payload);
    CHECK_FALSE(peeled->next_packet.has_value());
    // Two hops: (1 + 200 + 32) + (3 + 1032 + 32) = 1300.
    const std::vector<OnionHop> two{{a.GetPubKey(), RandomBytes(rng, 200)}, {b.GetPubKey(), RandomBytes(rng, 1032)}};
    const auto first = PeelOnion(a, CreateOnion(two, session, {}).packet, {});
    REQUIRE(first.has_value());
    REQUIRE(first->next_packet.has_value());
    const auto second = PeelOnion(b, *first->next_packet, {});
    REQUIRE(second.has_value());
    CHECK(second->payload == two[1].payload);
    CHECK_FALSE(second->next_packet.has_value());
}

TEST_CASE("sphinx: CreateOnion rejects routes it cannot build")
{
    std::mt19937_64 rng(7);
    const PrivKey a = RandomKey(rng);
    const Secret<32> session(RandomBytes(rng, 32));
    CHECK_THROWS_AS(CreateOnion({}, session, {}), std::invalid_argument);
    const std::vector<OnionHop> too_long{{a.GetPubKey(), Bytes(1266, 1)}};
    CHECK_THROWS_AS(CreateOnion(too_long, session, {}), std::invalid_argument);
    const std::vector<OnionHop> too_long_together{{a.GetPubKey(), Bytes(600, 1)}, {a.GetPubKey(), Bytes(633, 1)}};
    CHECK_THROWS_AS(CreateOnion(too_long_together, session, {}), std::invalid_argument);
    for (const size_t reserved : {size_t{0}, size_t{1}}) {
        const std::vector<OnionHop> hops{{a.GetPubKey(), Bytes(reserved, 1)}};
        CHECK_THROWS_AS(CreateOnion(hops, session, {}), std::invalid_argument);
    }
    const std::vector<OnionHop> ok{{a.GetPubKey(), Bytes(10, 1)}};
    CHECK_THROWS_AS(CreateOnion(ok, Secret<32>(), {}), std::invalid_argument);
}

TEST_CASE("sphinx: PeelOnion rejects damaged packets")
{
    const Vector v = LoadVector("bolt04/onion-test.json", true);
    const PrivKey& key = v.node_keys[0];
    const ByteArray<kOnionPacketSize> good = ToPacket(v.onion);
    REQUIRE(PeelOnion(key, good, v.associated_data).has_value());

    SUBCASE("version")
    {
        auto packet = good;
        packet[0] = 1;
        CHECK(PeelError(key, packet, v.associated_data) == OnionError::INVALID_VERSION);
        CHECK(PeelError(key, {}, v.associated_data) == OnionError::INVALID_VERSION);
    }
    SUBCASE("ephemeral key")
    {
        auto packet = good;
        packet[1] = 0x04; // no compressed point has this prefix
        CHECK(PeelError(key, packet, v.associated_data) == OnionError::INVALID_KEY);
        std::fill(packet.begin() + 1, packet.begin() + 34, 0xff);
        packet[1] = 0x02; // x beyond the field size
        CHECK(PeelError(key, packet, v.associated_data) == OnionError::INVALID_KEY);
    }
    SUBCASE("hmac")
    {
        for (const size_t index : {size_t{34}, size_t{700}, kOnionPacketSize - 33, kOnionPacketSize - 1}) {
            CAPTURE(index);
            auto packet = good;
            packet[index] ^= 0x80;
            CHECK(PeelError(key, packet, v.associated_data) == OnionError::INVALID_HMAC);
        }
        Bytes other_ad = v.associated_data;
        other_ad[0] ^= 1;
        CHECK(PeelError(key, good, other_ad) == OnionError::INVALID_HMAC);
        CHECK(PeelError(key, good, {}) == OnionError::INVALID_HMAC);
        CHECK(PeelError(v.node_keys[1], good, v.associated_data) == OnionError::INVALID_HMAC);
    }
    SUBCASE("size")
    {
        CHECK(PeelError(key, ByteSpan(good).first(kOnionPacketSize - 1), v.associated_data) == OnionError::INVALID_HMAC);
        CHECK(PeelError(key, ByteSpan(good).first(34), v.associated_data) == OnionError::INVALID_HMAC);
        Bytes longer(good.begin(), good.end());
        longer.push_back(0);
        CHECK(PeelError(key, longer, v.associated_data) == OnionError::INVALID_HMAC);
    }
}

TEST_CASE("sphinx: PeelOnion rejects authenticated but malformed hop_payload lengths")
{
    std::mt19937_64 rng(5);
    const PrivKey key = RandomKey(rng);
    const Bytes ad = RandomBytes(rng, 32);
    const std::vector<OnionHop> hops{{key.GetPubKey(), RandomBytes(rng, 20)}};
    const BuiltOnion built = CreateOnion(hops, Secret<32>(RandomBytes(rng, 32)), ad);
    // The plaintext starts with the length byte 0x14 and the payload's first two bytes.
    const Bytes old_plain{0x14, hops[0].payload[0], hops[0].payload[1]};
    const auto rewritten = [&](const Bytes& new_plain) {
        return WithPlainPrefix(built.packet, built.shared_secrets[0], ad, old_plain, new_plain);
    };
    // The helper itself: rewriting to the same prefix keeps the packet valid.
    REQUIRE(PeelOnion(key, rewritten(old_plain), ad).has_value());

    const Bytes reserved_zero{0x00, old_plain[1], old_plain[2]}; // the legacy realm-0 format
    const Bytes reserved_one{0x01, old_plain[1], old_plain[2]};
    const Bytes past_end{0xfd, 0x04, 0xf2};                      // 1266: 3 + 1266 + 32 > 1300
    const Bytes non_minimal{0xfd, 0x00, 0x14};                   // 20 in three bytes
    for (const Bytes& plain : {reserved_zero, reserved_one, past_end, non_minimal}) {
        CAPTURE(ToHex(plain));
        CHECK(PeelError(key, rewritten(plain), ad) == OnionError::INVALID_PAYLOAD_LENGTH);
    }
    // The largest length that still leaves room for the next HMAC is accepted.
    const auto largest = PeelOnion(key, rewritten(Bytes{0xfd, 0x04, 0xf1}), ad);
    REQUIRE(largest.has_value());
    CHECK(largest->payload.size() == 1265);
}

TEST_CASE("sphinx: failure codes for peel errors")
{
    CHECK(FailureCodeFor(OnionError::INVALID_VERSION) == static_cast<uint16_t>(FailureCode::INVALID_ONION_VERSION));
    CHECK(FailureCodeFor(OnionError::INVALID_KEY) == static_cast<uint16_t>(FailureCode::INVALID_ONION_KEY));
    CHECK(FailureCodeFor(OnionError::INVALID_HMAC) == static_cast<uint16_t>(FailureCode::INVALID_ONION_HMAC));
    CHECK(FailureCodeFor(OnionError::INVALID_PAYLOAD_LENGTH) == static_cast<uint16_t>(FailureCode::INVALID_ONION_PAYLOAD));
    // BADONION errors are the ones the previous hop reports in update_fail_malformed_htlc.
    CHECK(HasFlag(FailureCodeFor(OnionError::INVALID_HMAC), failure_flag::BADONION));
    CHECK_FALSE(HasFlag(FailureCodeFor(OnionError::INVALID_PAYLOAD_LENGTH), failure_flag::BADONION));
}
