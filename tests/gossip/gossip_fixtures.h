// Gossip messages signed with keys made here, for the gossip/ tests.
#ifndef SIDEBOLT_TESTS_GOSSIP_GOSSIP_FIXTURES_H
#define SIDEBOLT_TESTS_GOSSIP_GOSSIP_FIXTURES_H

#include "gossip/network_view.h"
#include "gossip/signatures.h"
#include "primitives/key.h"
#include "primitives/network.h"
#include "util/amount.h"
#include "wire/gossip_messages.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace sidebolt::test {

inline PrivKey KeyOf(uint32_t seed)
{
    Bytes secret(32, 0);
    secret[0] = 0x42;
    for (int i = 0; i < 4; ++i) secret[28 + i] = static_cast<uint8_t>(seed >> (24 - 8 * i));
    return *PrivKey::FromBytes(secret);
}

//! A node: its node key and the funding key it uses for every channel here.
struct TestNode {
    PrivKey node_key;
    PrivKey funding_key;
    PubKey Id() const { return node_key.GetPubKey(); }
};

inline TestNode NodeOf(uint32_t seed) { return TestNode{KeyOf(2 * seed + 1), KeyOf(2 * seed + 2)}; }

inline const Hash256& TestChain()
{
    static const Hash256 chain = ChainHash(Network::Regtest);
    return chain;
}

template <typename Message>
Bytes PayloadOf(const Message& message)
{
    Bytes payload;
    message.EncodePayload(payload);
    return payload;
}

//! A message and the payload it was "received" as.
template <typename Message>
struct Received {
    Message message;
    Bytes payload;
};

template <typename Message>
Received<Message> Receive(Message message)
{
    Bytes payload = PayloadOf(message);
    return Received<Message>{std::move(message), std::move(payload)};
}

//! node_id_1 of a channel between a and b.
inline const TestNode& First(const TestNode& a, const TestNode& b) { return a.Id() < b.Id() ? a : b; }
inline const TestNode& Second(const TestNode& a, const TestNode& b) { return a.Id() < b.Id() ? b : a; }

inline ChannelAnnouncementMessage SignedAnnouncement(const TestNode& a, const TestNode& b, ShortChannelId scid,
                                                     Bytes features = {}, Bytes trailing = {},
                                                     const Hash256& chain = TestChain())
{
    ChannelAnnouncementMessage announcement = UnsignedChannelAnnouncement(
        chain, scid, a.Id(), b.Id(), a.funding_key.GetPubKey(), b.funding_key.GetPubKey(), std::move(features));
    announcement.trailing = std::move(trailing);
    const EndpointSignatures ours = SignAnnouncement(announcement, a.node_key, a.funding_key);
    const EndpointSignatures theirs = SignAnnouncement(announcement, b.node_key, b.funding_key);
    return AssembleChannelAnnouncement(std::move(announcement), WeAreNode1(a.Id(), b.Id()), ours, theirs);
}

struct UpdateTerms {
    uint32_t timestamp{1'700'000'000};
    uint32_t fee_base_msat{1000};
    uint32_t fee_proportional_millionths{100};
    Msat htlc_minimum_msat{1};
    Msat htlc_maximum_msat{1'000'000};
    uint8_t message_flags{ChannelUpdateMessage::kMustBeOneFlag};
    bool disabled{false};
    Bytes trailing{};
};

//! The update of `direction` (0: from node_id_1), signed with `signer`'s node key.
inline ChannelUpdateMessage SignedUpdate(const PrivKey& signer, ShortChannelId scid, int direction,
                                         const UpdateTerms& terms = {}, const Hash256& chain = TestChain())
{
    ChannelUpdateMessage update{
        .signature = *EcdsaSignature::FromCompact(ByteArray<64>{}),
        .chain_hash = chain,
        .short_channel_id = scid,
        .timestamp = terms.timestamp,
        .message_flags = terms.message_flags,
        .channel_flags = static_cast<uint8_t>(direction | (terms.disabled ? ChannelUpdateMessage::kDisableFlag : 0)),
        .cltv_expiry_delta = 40,
        .htlc_minimum_msat = terms.htlc_minimum_msat,
        .fee_base_msat = terms.fee_base_msat,
        .fee_proportional_millionths = terms.fee_proportional_millionths,
        .htlc_maximum_msat = terms.htlc_maximum_msat,
        .trailing = terms.trailing,
    };
    return SignChannelUpdate(std::move(update), signer);
}

//! The update a node of the channel a-b signs for its own direction.
inline ChannelUpdateMessage UpdateFrom(const TestNode& from, const TestNode& other, ShortChannelId scid,
                                       const UpdateTerms& terms = {})
{
    return SignedUpdate(from.node_key, scid, from.Id() < other.Id() ? 0 : 1, terms);
}

inline NodeAnnouncementMessage SignedNodeAnnouncement(const TestNode& node, uint32_t timestamp, Bytes features = {},
                                                      Bytes addresses = {}, const std::string& alias = "node")
{
    NodeAnnouncementMessage announcement{
        .signature = *EcdsaSignature::FromCompact(ByteArray<64>{}),
        .features = std::move(features),
        .timestamp = timestamp,
        .node_id = node.Id(),
        .rgb_color = {1, 2, 3},
        .alias = {},
        .addresses = std::move(addresses),
        .trailing = {},
    };
    std::copy(alias.begin(), alias.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(alias.size(), 32)),
              announcement.alias.begin());
    return SignNodeAnnouncement(std::move(announcement), node.node_key);
}

//! The same signature with s replaced by n - s: ECDSA's malleability, which any relay can apply.
inline EcdsaSignature Malleate(const EcdsaSignature& signature)
{
    static constexpr ByteArray<32> kOrder{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                          0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48,
                                          0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41};
    ByteArray<64> compact = signature.Compact();
    int borrow = 0;
    for (int i = 31; i >= 0; --i) {
        const int difference = kOrder[i] - compact[32 + i] - borrow;
        borrow = difference < 0 ? 1 : 0;
        compact[32 + i] = static_cast<uint8_t>(difference + 256 * borrow);
    }
    return *EcdsaSignature::FromCompact(compact);
}

inline constexpr uint32_t kNow = 1'700'000'000;

//! Feeds one encoded gossip message (u16 type then payload) into `view`, as the node would: a
//! channel_announcement that passes the checks is added with `capacity` (its funding "found").
inline GossipResult ApplyEncoded(NetworkView& view, ByteSpan message, Sat capacity, uint32_t now = kNow)
{
    const auto type = static_cast<uint16_t>(message[0] << 8 | message[1]);
    const ByteSpan payload = message.subspan(2);
    const auto decoded = DecodeGossipMessage(type, payload);
    if (!decoded) return GossipResult{GossipOutcome::kRejected, "malformed"};
    if (const auto* announcement = std::get_if<ChannelAnnouncementMessage>(&*decoded)) {
        GossipResult result = view.CheckChannelAnnouncement(*announcement, payload);
        if (result.outcome == GossipOutcome::kAccepted) view.AddChannel(*announcement, payload, capacity, now);
        return result;
    }
    if (const auto* update = std::get_if<ChannelUpdateMessage>(&*decoded)) return view.ApplyChannelUpdate(*update, payload, now);
    if (const auto* node = std::get_if<NodeAnnouncementMessage>(&*decoded)) return view.ApplyNodeAnnouncement(*node, payload);
    return GossipResult{GossipOutcome::kIgnored, "not a gossip message the view stores"};
}

template <typename Message>
Bytes Encoded(const Message& message)
{
    return EncodeGossipMessage(GossipMessage{message});
}

} // namespace sidebolt::test

#endif
