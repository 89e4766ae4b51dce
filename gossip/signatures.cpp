#include "gossip/signatures.h"

#include <utility>

namespace sidebolt {
namespace {
template <typename Message>
Bytes PayloadOf(const Message& message)
{
    Bytes payload;
    message.EncodePayload(payload);
    return payload;
}

/**
 * BOLT 7: "ECDSA signatures are malleable. So, an intermediate node ... can rebroadcast it just by
 * changing the s component of signature with -s". libsecp256k1 verifies low-S only, so the
 * signature is normalized first: a flipped s still proves the same signer.
 */
bool VerifyGossipSignature(const PubKey& key, const Hash256& digest, const EcdsaSignature& signature)
{
    secp256k1_ecdsa_signature normalized;
    secp256k1_ecdsa_signature_normalize(SecpContext(), &normalized, &signature.Secp());
    return VerifyEcdsa(key, digest, EcdsaSignature::FromSecp(normalized));
}

EcdsaSignature ZeroSignature()
{
    // r = s = 0 parses as a compact signature (nothing overflows) and never verifies.
    static const EcdsaSignature zero = *EcdsaSignature::FromCompact(ByteArray<64>{});
    return zero;
}
} // namespace

Hash256 GossipDigest(ByteSpan payload, size_t signed_offset)
{
    if (payload.size() < signed_offset) return Sha256d({});
    return Sha256d(payload.subspan(signed_offset));
}

std::string_view ToString(AnnouncementSigner signer)
{
    switch (signer) {
    case AnnouncementSigner::kNode1: return "node_signature_1";
    case AnnouncementSigner::kNode2: return "node_signature_2";
    case AnnouncementSigner::kBitcoin1: return "bitcoin_signature_1";
    case AnnouncementSigner::kBitcoin2: return "bitcoin_signature_2";
    }
    return "unknown";
}

std::optional<AnnouncementSigner> BadAnnouncementSignature(const ChannelAnnouncementMessage& announcement,
                                                           ByteSpan payload)
{
    const Hash256 digest = GossipDigest(payload, ChannelAnnouncementMessage::kSignedOffset);
    if (!VerifyGossipSignature(announcement.node_id_1, digest, announcement.node_signature_1)) return AnnouncementSigner::kNode1;
    if (!VerifyGossipSignature(announcement.node_id_2, digest, announcement.node_signature_2)) return AnnouncementSigner::kNode2;
    if (!VerifyGossipSignature(announcement.bitcoin_key_1, digest, announcement.bitcoin_signature_1)) {
        return AnnouncementSigner::kBitcoin1;
    }
    if (!VerifyGossipSignature(announcement.bitcoin_key_2, digest, announcement.bitcoin_signature_2)) {
        return AnnouncementSigner::kBitcoin2;
    }
    return std::nullopt;
}

bool VerifyChannelAnnouncement(const ChannelAnnouncementMessage& announcement, ByteSpan payload)
{
    return !BadAnnouncementSignature(announcement, payload).has_value();
}

bool VerifyNodeAnnouncement(const NodeAnnouncementMessage& announcement, ByteSpan payload)
{
    const Hash256 digest = GossipDigest(payload, NodeAnnouncementMessage::kSignedOffset);
    return VerifyGossipSignature(announcement.node_id, digest, announcement.signature);
}

bool VerifyChannelUpdate(const ChannelUpdateMessage& update, ByteSpan payload, const PubKey& signer)
{
    return VerifyGossipSignature(signer, GossipDigest(payload, ChannelUpdateMessage::kSignedOffset), update.signature);
}

ChannelUpdateMessage SignChannelUpdate(ChannelUpdateMessage update, const PrivKey& key)
{
    update.signature = key.Sign(GossipDigest(PayloadOf(update), ChannelUpdateMessage::kSignedOffset));
    return update;
}

NodeAnnouncementMessage SignNodeAnnouncement(NodeAnnouncementMessage announcement, const PrivKey& key)
{
    announcement.signature = key.Sign(GossipDigest(PayloadOf(announcement), NodeAnnouncementMessage::kSignedOffset));
    return announcement;
}

Hash256 AnnouncementDigest(const ChannelAnnouncementMessage& announcement)
{
    // The signatures lie before the signed offset, so their values do not change the digest.
    return GossipDigest(PayloadOf(announcement), ChannelAnnouncementMessage::kSignedOffset);
}

bool WeAreNode1(const PubKey& our_node_id, const PubKey& their_node_id) { return our_node_id < their_node_id; }

ChannelAnnouncementMessage UnsignedChannelAnnouncement(const Hash256& chain_hash, ShortChannelId short_channel_id,
                                                       const PubKey& our_node_id, const PubKey& their_node_id,
                                                       const PubKey& our_funding_key, const PubKey& their_funding_key,
                                                       Bytes features)
{
    const bool first = WeAreNode1(our_node_id, their_node_id);
    return ChannelAnnouncementMessage{
        .node_signature_1 = ZeroSignature(),
        .node_signature_2 = ZeroSignature(),
        .bitcoin_signature_1 = ZeroSignature(),
        .bitcoin_signature_2 = ZeroSignature(),
        .features = std::move(features),
        .chain_hash = chain_hash,
        .short_channel_id = short_channel_id,
        .node_id_1 = first ? our_node_id : their_node_id,
        .node_id_2 = first ? their_node_id : our_node_id,
        .bitcoin_key_1 = first ? our_funding_key : their_funding_key,
        .bitcoin_key_2 = first ? their_funding_key : our_funding_key,
        .trailing = {},
    };
}

ChannelAnnouncementMessage AssembleChannelAnnouncement(ChannelAnnouncementMessage announcement, bool we_are_node_1,
                                                       const EndpointSignatures& ours,
                                                       const EndpointSignatures& theirs)
{
    const EndpointSignatures& first = we_are_node_1 ? ours : theirs;
    const EndpointSignatures& second = we_are_node_1 ? theirs : ours;
    announcement.node_signature_1 = first.node_signature;
    announcement.node_signature_2 = second.node_signature;
    announcement.bitcoin_signature_1 = first.bitcoin_signature;
    announcement.bitcoin_signature_2 = second.bitcoin_signature;
    return announcement;
}

EndpointSignatures SignAnnouncement(const ChannelAnnouncementMessage& announcement, const PrivKey& node_key,
                                    const PrivKey& funding_key)
{
    const Hash256 digest = AnnouncementDigest(announcement);
    return EndpointSignatures{.node_signature = node_key.Sign(digest), .bitcoin_signature = funding_key.Sign(digest)};
}

} // namespace sidebolt
