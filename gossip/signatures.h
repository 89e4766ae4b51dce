#ifndef SIDEBOLT_GOSSIP_SIGNATURES_H
#define SIDEBOLT_GOSSIP_SIGNATURES_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "util/bytes.h"
#include "wire/gossip_messages.h"

#include <cstddef>
#include <optional>
#include <string_view>

namespace sidebolt {

/**
 * BOLT 7 signs "the double-SHA256 of the entire remaining packet after" the signatures:
 * Sha256d of payload[signed_offset..], unknown trailing fields included. A payload shorter than
 * the offset digests the empty string (its signature then cannot verify for a real message).
 */
Hash256 GossipDigest(ByteSpan payload, size_t signed_offset);

//! The four channel_announcement signatures, named as in BOLT 7.
enum class AnnouncementSigner { kNode1, kNode2, kBitcoin1, kBitcoin2 };
std::string_view ToString(AnnouncementSigner signer);

/**
 * The first of node_signature_1 (by node_id_1), node_signature_2 (node_id_2),
 * bitcoin_signature_1 (bitcoin_key_1), bitcoin_signature_2 (bitcoin_key_2) that does not
 * verify over `payload` (the announcement as received), or nullopt when all four do.
 */
std::optional<AnnouncementSigner> BadAnnouncementSignature(const ChannelAnnouncementMessage& announcement,
                                                           ByteSpan payload);
bool VerifyChannelAnnouncement(const ChannelAnnouncementMessage& announcement, ByteSpan payload);
//! By announcement.node_id, over the received payload.
bool VerifyNodeAnnouncement(const NodeAnnouncementMessage& announcement, ByteSpan payload);
//! By `signer`: the caller looks up node_id_1 or node_id_2 by update.Direction().
bool VerifyChannelUpdate(const ChannelUpdateMessage& update, ByteSpan payload, const PubKey& signer);

//! The message with its signature made by `key` over its own encoding (trailing bytes included).
ChannelUpdateMessage SignChannelUpdate(ChannelUpdateMessage update, const PrivKey& key);
NodeAnnouncementMessage SignNodeAnnouncement(NodeAnnouncementMessage announcement, const PrivKey& key);

//! The digest both endpoints sign (twice: node key, funding key) for announcement_signatures.
Hash256 AnnouncementDigest(const ChannelAnnouncementMessage& announcement);

//! One endpoint's two signatures of AnnouncementDigest (announcement_signatures' fields).
struct EndpointSignatures {
    EcdsaSignature node_signature;
    EcdsaSignature bitcoin_signature;
    bool operator==(const EndpointSignatures&) const = default;
};

/**
 * The unsigned channel_announcement of a channel between us and a peer (all signatures zero).
 * BOLT 7: "node_id_1 is the lexicographically-lesser of the two compressed keys" and
 * "bitcoin_key_1 and bitcoin_key_2 to node_id_1 and node_id_2's respective funding_pubkeys".
 */
ChannelAnnouncementMessage UnsignedChannelAnnouncement(const Hash256& chain_hash, ShortChannelId short_channel_id,
                                                       const PubKey& our_node_id, const PubKey& their_node_id,
                                                       const PubKey& our_funding_key, const PubKey& their_funding_key,
                                                       Bytes features = {});
//! True when our_node_id sorts first, i.e. we are node_id_1.
bool WeAreNode1(const PubKey& our_node_id, const PubKey& their_node_id);
//! Our and their signatures placed in the slots of node 1 and node 2 per `we_are_node_1`.
ChannelAnnouncementMessage AssembleChannelAnnouncement(ChannelAnnouncementMessage announcement, bool we_are_node_1,
                                                       const EndpointSignatures& ours,
                                                       const EndpointSignatures& theirs);
//! Our two signatures of AnnouncementDigest(announcement).
EndpointSignatures SignAnnouncement(const ChannelAnnouncementMessage& announcement, const PrivKey& node_key,
                                    const PrivKey& funding_key);

} // namespace sidebolt

#endif
