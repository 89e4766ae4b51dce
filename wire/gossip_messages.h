#ifndef SIDEBOLT_WIRE_GOSSIP_MESSAGES_H
#define SIDEBOLT_WIRE_GOSSIP_MESSAGES_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "util/amount.h"
#include "util/bytes.h"
#include "wire/decode_error.h"
#include "wire/tlv.h"
#include "wire/wire.h"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace sidebolt {

//! The BOLT 7 messages.
enum class GossipMessageType : uint16_t {
    kChannelAnnouncement = 256,
    kNodeAnnouncement = 257,
    kChannelUpdate = 258,
    kAnnouncementSignatures = 259,
    kQueryShortChannelIds = 261,
    kReplyShortChannelIdsEnd = 262,
    kQueryChannelRange = 263,
    kReplyChannelRange = 264,
    kGossipTimestampFilter = 265,
};

/*
 * Signed gossip keeps every byte it was received with: BOLT 7 signs "the entire remaining
 * packet after" the signatures, and BOLT 1 lets a newer sender append fields we do not know.
 * `trailing` holds the bytes after the fields we know, so EncodePayload reproduces the received
 * payload exactly and a signature checks over what was really signed.
 */

struct ChannelAnnouncementMessage {
    static constexpr GossipMessageType kType = GossipMessageType::kChannelAnnouncement;
    //! BOLT 7: the signatures cover the payload from here ("starting at offset 256").
    static constexpr size_t kSignedOffset = 4 * 64;

    EcdsaSignature node_signature_1;
    EcdsaSignature node_signature_2;
    EcdsaSignature bitcoin_signature_1;
    EcdsaSignature bitcoin_signature_2;
    Bytes features;
    Hash256 chain_hash;
    ShortChannelId short_channel_id;
    PubKey node_id_1;
    PubKey node_id_2;
    PubKey bitcoin_key_1;
    PubKey bitcoin_key_2;
    Bytes trailing;

    void EncodePayload(Bytes& out) const;
    static Decoded<ChannelAnnouncementMessage> DecodePayload(ByteSpan payload);
    bool operator==(const ChannelAnnouncementMessage&) const = default;
};

//! BOLT 7 address descriptor of node_announcement. Unknown types end the list (their length is
//! unknown), and are kept raw in NodeAnnouncementMessage::addresses.
struct NodeAddress {
    enum class Type : uint8_t { kIpv4 = 1, kIpv6 = 2, kTorV3 = 4, kDns = 5 };
    Type type;
    //! 4 bytes (IPv4), 16 (IPv6), 35 (Tor v3 ed25519 key, checksum, version), or the hostname.
    Bytes address;
    uint16_t port{0};

    //! "1.2.3.4:9735", "[::1]:9735", "<base32>.onion:9735", "host:9735". Throws
    //! std::invalid_argument if `address` has the wrong size for `type` (a local bug).
    std::string ToString() const;
    bool operator==(const NodeAddress&) const = default;
};

struct NodeAnnouncementMessage {
    static constexpr GossipMessageType kType = GossipMessageType::kNodeAnnouncement;
    static constexpr size_t kSignedOffset = 64;

    EcdsaSignature signature;
    Bytes features;
    uint32_t timestamp{0};
    PubKey node_id;
    ByteArray<3> rgb_color{};
    ByteArray<32> alias{};
    //! The raw `addresses` field (u16 length-prefixed on the wire); ParseAddresses reads it.
    Bytes addresses;
    //! node_announcement_tlvs (option_will_fund) and anything after, raw.
    Bytes trailing;

    /**
     * The descriptors of `addresses`, in order. BOLT 7: "SHOULD ignore the first address
     * descriptor that does NOT match the types defined above" and anything after it; a known
     * descriptor cut short is kTruncated, a DNS hostname that is not printable ASCII (space
     * excluded) kBadLength. Descriptors with port 0 are returned: ignoring them is policy.
     */
    Decoded<std::vector<NodeAddress>> ParseAddresses() const;
    //! Throws std::invalid_argument on a malformed address (a local bug).
    static Bytes EncodeAddresses(const std::vector<NodeAddress>& addresses);
    //! The alias up to its first zero byte (BOLT 7 pads it with zeros).
    std::string AliasString() const;

    void EncodePayload(Bytes& out) const;
    static Decoded<NodeAnnouncementMessage> DecodePayload(ByteSpan payload);
    bool operator==(const NodeAnnouncementMessage&) const = default;
};

struct ChannelUpdateMessage {
    static constexpr GossipMessageType kType = GossipMessageType::kChannelUpdate;
    static constexpr size_t kSignedOffset = 64;
    //! message_flags bit 0: "must_be_one" (htlc_maximum_msat is always present).
    static constexpr uint8_t kMustBeOneFlag = 0x01;
    //! message_flags bit 1: "dont_forward", set on updates for a channel not announced.
    static constexpr uint8_t kDontForwardFlag = 0x02;
    //! channel_flags bit 0: the direction (0: node_id_1 is the origin); bit 1: disabled.
    static constexpr uint8_t kDirectionFlag = 0x01;
    static constexpr uint8_t kDisableFlag = 0x02;

    EcdsaSignature signature;
    Hash256 chain_hash;
    ShortChannelId short_channel_id;
    uint32_t timestamp{0};
    uint8_t message_flags{kMustBeOneFlag};
    uint8_t channel_flags{0};
    uint16_t cltv_expiry_delta{0};
    Msat htlc_minimum_msat{0};
    uint32_t fee_base_msat{0};
    uint32_t fee_proportional_millionths{0};
    Msat htlc_maximum_msat{0};
    Bytes trailing;

    int Direction() const { return channel_flags & kDirectionFlag; }
    bool Disabled() const { return (channel_flags & kDisableFlag) != 0; }

    void EncodePayload(Bytes& out) const;
    static Decoded<ChannelUpdateMessage> DecodePayload(ByteSpan payload);
    bool operator==(const ChannelUpdateMessage&) const = default;
};

struct AnnouncementSignaturesMessage {
    static constexpr GossipMessageType kType = GossipMessageType::kAnnouncementSignatures;

    Hash256 channel_id;
    ShortChannelId short_channel_id;
    EcdsaSignature node_signature;
    EcdsaSignature bitcoin_signature;
    TlvStream extension;

    void EncodePayload(Bytes& out) const;
    static Decoded<AnnouncementSignaturesMessage> DecodePayload(ByteSpan payload);
    bool operator==(const AnnouncementSignaturesMessage&) const = default;
};

/**
 * BOLT 7 encoded_short_ids and the arrays of the query TLVs: a leading encoding byte, then
 * the elements. 0 is the plain array, the only one we send. 1 was zlib deflate: BOLT 7 now says
 * "MUST NOT" send it, but older peers do, so it is decoded (inflated with a bound: the result
 * never exceeds kMaxInflated bytes, whatever a peer compresses). checksums_tlv alone has no
 * encoding byte (a bare array). Errors: no encoding byte is kTruncated; an unknown encoding,
 * zlib data that does not inflate to a complete stream within kMaxInflated, a length that is
 * not a whole number of elements, or a count that differs from the short_channel_ids' is
 * kBadLength.
 */
enum class ArrayEncoding : uint8_t { kUncompressed = 0, kZlib = 1 };
inline constexpr size_t kMaxInflated = 65535;

//! short_channel_ids in ascending order ("MUST encode ... in ascending order" on the sender;
//! the decoder does not require it, the caller decides).
Bytes EncodeShortChannelIds(const std::vector<ShortChannelId>& ids);
Decoded<std::vector<ShortChannelId>> DecodeShortChannelIds(ByteSpan encoded);

//! query_flags (bigsize per id) of query_short_channel_ids' encoded_query_flags.
namespace query_flag {
inline constexpr uint64_t kChannelAnnouncement = 1;
inline constexpr uint64_t kChannelUpdate1 = 2;
inline constexpr uint64_t kChannelUpdate2 = 4;
inline constexpr uint64_t kNodeAnnouncement1 = 8;
inline constexpr uint64_t kNodeAnnouncement2 = 16;
} // namespace query_flag

struct QueryShortChannelIdsMessage {
    static constexpr GossipMessageType kType = GossipMessageType::kQueryShortChannelIds;
    static constexpr uint64_t kQueryFlagsType = 1;

    Hash256 chain_hash;
    std::vector<ShortChannelId> short_channel_ids;
    //! TLV 1 encoded_query_flags: one bigsize per id.
    std::optional<std::vector<uint64_t>> query_flags;
    TlvStream extension;

    void EncodePayload(Bytes& out) const;
    static Decoded<QueryShortChannelIdsMessage> DecodePayload(ByteSpan payload);
    bool operator==(const QueryShortChannelIdsMessage&) const = default;
};

struct ReplyShortChannelIdsEndMessage {
    static constexpr GossipMessageType kType = GossipMessageType::kReplyShortChannelIdsEnd;

    Hash256 chain_hash;
    uint8_t full_information{1};
    TlvStream extension;

    void EncodePayload(Bytes& out) const;
    static Decoded<ReplyShortChannelIdsEndMessage> DecodePayload(ByteSpan payload);
    bool operator==(const ReplyShortChannelIdsEndMessage&) const = default;
};

struct QueryChannelRangeMessage {
    static constexpr GossipMessageType kType = GossipMessageType::kQueryChannelRange;
    static constexpr uint64_t kQueryOptionType = 1;
    static constexpr uint64_t kWantTimestamps = 1;
    static constexpr uint64_t kWantChecksums = 2;

    Hash256 chain_hash;
    uint32_t first_blocknum{0};
    uint32_t number_of_blocks{0};
    //! TLV 1 query_option (bigsize bit field).
    std::optional<uint64_t> query_option;
    TlvStream extension;

    void EncodePayload(Bytes& out) const;
    static Decoded<QueryChannelRangeMessage> DecodePayload(ByteSpan payload);
    bool operator==(const QueryChannelRangeMessage&) const = default;
};

struct ChannelTimestamps {
    uint32_t timestamp_node_id_1{0};
    uint32_t timestamp_node_id_2{0};
    bool operator==(const ChannelTimestamps&) const = default;
};

struct ChannelChecksums {
    uint32_t checksum_node_id_1{0};
    uint32_t checksum_node_id_2{0};
    bool operator==(const ChannelChecksums&) const = default;
};

struct ReplyChannelRangeMessage {
    static constexpr GossipMessageType kType = GossipMessageType::kReplyChannelRange;
    static constexpr uint64_t kTimestampsType = 1;
    static constexpr uint64_t kChecksumsType = 3;

    Hash256 chain_hash;
    uint32_t first_blocknum{0};
    uint32_t number_of_blocks{0};
    uint8_t sync_complete{1};
    std::vector<ShortChannelId> short_channel_ids;
    //! TLV 1 timestamps_tlv (an encoding byte then the pairs), one per id.
    std::optional<std::vector<ChannelTimestamps>> timestamps;
    //! TLV 3 checksums_tlv (no encoding byte), one per id.
    std::optional<std::vector<ChannelChecksums>> checksums;
    TlvStream extension;

    void EncodePayload(Bytes& out) const;
    static Decoded<ReplyChannelRangeMessage> DecodePayload(ByteSpan payload);
    bool operator==(const ReplyChannelRangeMessage&) const = default;
};

struct GossipTimestampFilterMessage {
    static constexpr GossipMessageType kType = GossipMessageType::kGossipTimestampFilter;

    Hash256 chain_hash;
    uint32_t first_timestamp{0};
    uint32_t timestamp_range{0};
    TlvStream extension;

    void EncodePayload(Bytes& out) const;
    static Decoded<GossipTimestampFilterMessage> DecodePayload(ByteSpan payload);
    bool operator==(const GossipTimestampFilterMessage&) const = default;
};

using GossipMessage =
    std::variant<ChannelAnnouncementMessage, NodeAnnouncementMessage, ChannelUpdateMessage,
                 AnnouncementSignaturesMessage, QueryShortChannelIdsMessage, ReplyShortChannelIdsEndMessage,
                 QueryChannelRangeMessage, ReplyChannelRangeMessage, GossipTimestampFilterMessage>;

//! True for the 9 types DecodeGossipMessage knows.
bool IsGossipMessageKnown(uint16_t type);
//! Decodes a gossip payload. Throws std::invalid_argument unless IsGossipMessageKnown(type).
Decoded<GossipMessage> DecodeGossipMessage(uint16_t type, ByteSpan payload);
//! u16 type then payload, ready for the transport. Throws std::length_error above
//! kMaxMessageSize, std::invalid_argument when a TLV array is not one per short_channel_id.
Bytes EncodeGossipMessage(const GossipMessage& message);
GossipMessageType TypeOfGossipMessage(const GossipMessage& message);

//! The payload bytes a signature covers (from kSignedOffset), of an encoded payload.
//! An empty span when the payload is shorter than the offset.
ByteSpan SignedPart(ByteSpan payload, size_t signed_offset);

} // namespace sidebolt

#endif
