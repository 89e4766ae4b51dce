#include "wire/gossip_messages.h"

#include "wire/bigsize.h"
#include "wire/message.h"

// zlib's next_in then points to const bytes, as our input is.
#define ZLIB_CONST
#include <zlib.h>

#include <algorithm>
#include <array>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace sidebolt {
namespace {

constexpr size_t kShortChannelIdSize = 8;
//! channel_update_timestamps and channel_update_checksums: two u32 each.
constexpr size_t kPairSize = 8;

constexpr std::array<uint64_t, 1> kQueryShortChannelIdsTlvTypes{QueryShortChannelIdsMessage::kQueryFlagsType};
constexpr std::array<uint64_t, 1> kQueryChannelRangeTlvTypes{QueryChannelRangeMessage::kQueryOptionType};
constexpr std::array<uint64_t, 2> kReplyChannelRangeTlvTypes{ReplyChannelRangeMessage::kTimestampsType,
                                                             ReplyChannelRangeMessage::kChecksumsType};


Bytes ToBytes(ByteSpan bytes) { return Bytes(bytes.begin(), bytes.end()); }

Bytes ReadU16Prefixed(WireReader& reader) { return ToBytes(reader.ReadBytes(reader.ReadU16())); }

//! Moves a decoded value out, or records its error in `reader` and returns nullopt.
template <typename T>
std::optional<T> Take(Decoded<T> decoded, WireReader& reader)
{
    if (!decoded) {
        reader.Fail(decoded.error());
        return std::nullopt;
    }
    return std::move(*decoded);
}

/**
 * Inflates a zlib stream into at most kMaxInflated bytes. The output buffer is one byte larger
 * than the bound, so a stream that fills it is known to be too large without inflating further:
 * a small "zlib bomb" costs us kMaxInflated + 1 bytes, never what it would expand to.
 */
Decoded<Bytes> Inflate(ByteSpan compressed)
{
    if (compressed.size() > std::numeric_limits<uInt>::max()) return DecodeError::kBadLength;
    z_stream stream{};
    // Failing to set up is local (out of memory), not the peer's fault.
    if (inflateInit(&stream) != Z_OK) throw std::bad_alloc();
    const std::unique_ptr<z_stream, int (*)(z_streamp)> cleanup(&stream, inflateEnd);
    Bytes out(kMaxInflated + 1);
    stream.next_in = compressed.data();
    stream.avail_in = static_cast<uInt>(compressed.size());
    stream.next_out = out.data();
    stream.avail_out = static_cast<uInt>(out.size());
    // Anything but a complete stream (corrupt, cut short, or larger than the buffer) fails.
    if (inflate(&stream, Z_FINISH) != Z_STREAM_END) return DecodeError::kBadLength;
    if (stream.total_out > kMaxInflated) return DecodeError::kBadLength;
    // Bytes after the end of the zlib stream belong to no element.
    if (stream.avail_in != 0) return DecodeError::kBadLength;
    out.resize(stream.total_out);
    return out;
}

/**
 * The element bytes of an encoded array (encoding byte, then the elements). BOLT 7: "if the
 * first byte of `encoded_short_ids` is not a known encoding type" or it "does not decode into a
 * whole number of `short_channel_id`" the receiver may close the connection; we fail the decode.
 * `element_size` 0 means variable-size elements (bigsizes), checked by the caller.
 */
Decoded<Bytes> DecodeArrayElements(ByteSpan encoded, size_t element_size)
{
    // "MUST set the first byte of `encoded_short_ids` to the encoding type": none is truncated.
    if (encoded.empty()) return DecodeError::kTruncated;
    const ByteSpan body = encoded.subspan(1);
    Bytes elements;
    switch (static_cast<ArrayEncoding>(encoded[0])) {
    case ArrayEncoding::kUncompressed:
        elements = ToBytes(body);
        break;
    case ArrayEncoding::kZlib: {
        auto inflated = Inflate(body);
        if (!inflated) return inflated.error();
        elements = std::move(*inflated);
        break;
    }
    default:
        return DecodeError::kBadLength;
    }
    if (element_size != 0 && elements.size() % element_size != 0) return DecodeError::kBadLength;
    return elements;
}

//! Pairs of u32 (channel_update_timestamps or channel_update_checksums), in order.
template <typename Pair>
std::vector<Pair> ReadPairs(ByteSpan elements)
{
    WireReader reader(elements);
    std::vector<Pair> pairs;
    pairs.reserve(elements.size() / kPairSize);
    while (!reader.AtEnd()) {
        const uint32_t first = reader.ReadU32();
        const uint32_t second = reader.ReadU32();
        pairs.push_back(Pair{first, second});
    }
    return pairs;
}

Decoded<std::vector<uint64_t>> DecodeQueryFlags(ByteSpan encoded)
{
    auto elements = DecodeArrayElements(encoded, 0);
    if (!elements) return elements.error();
    // "Each query flag is a minimally-encoded bigsize": ReadBigSize rejects the others.
    ByteSpan rest(*elements);
    std::vector<uint64_t> flags;
    while (!rest.empty()) {
        const auto flag = ReadBigSize(rest);
        if (!flag) return flag.error();
        flags.push_back(*flag);
    }
    return flags;
}

Decoded<uint64_t> DecodeQueryOption(ByteSpan value)
{
    ByteSpan rest = value;
    const auto option = ReadBigSize(rest);
    if (!option) return option.error();
    // The record holds exactly one bigsize.
    if (!rest.empty()) return DecodeError::kBadLength;
    return *option;
}

//! BOLT 7: "MUST encode one query flag per `short_channel_id`" (likewise timestamps and
//! checksums, "for all `short_channel_id`s in `encoded_short_ids`").
template <typename T>
void CheckOnePerId(const std::optional<std::vector<T>>& values, size_t id_count, WireReader& reader)
{
    if (values && values->size() != id_count) reader.Fail(DecodeError::kBadLength);
}

template <typename T>
void RequireOnePerId(const std::optional<std::vector<T>>& values, size_t id_count, const char* what)
{
    if (values && values->size() != id_count) {
        throw std::invalid_argument(std::string(what) + " must have one entry per short_channel_id");
    }
}

template <typename Pair>
void AppendPairs(Bytes& out, const std::vector<Pair>& pairs)
{
    WireWriter writer(out);
    for (const auto& pair : pairs) {
        if constexpr (std::is_same_v<Pair, ChannelTimestamps>) {
            writer.WriteU32(pair.timestamp_node_id_1);
            writer.WriteU32(pair.timestamp_node_id_2);
        } else {
            writer.WriteU32(pair.checksum_node_id_1);
            writer.WriteU32(pair.checksum_node_id_2);
        }
    }
}

//! BOLT 7 DNS hostnames "MUST be ASCII characters"; we also refuse controls and spaces, which
//! no hostname has and which would garble logs and "host:port" strings.
bool IsHostname(ByteSpan hostname)
{
    return std::all_of(hostname.begin(), hostname.end(), [](uint8_t c) { return c > 0x20 && c < 0x7f; });
}

//! Address bytes of a fixed-size descriptor type; 0 for DNS (length-prefixed).
size_t AddressSize(NodeAddress::Type type)
{
    switch (type) {
    case NodeAddress::Type::kIpv4: return 4;
    case NodeAddress::Type::kIpv6: return 16;
    case NodeAddress::Type::kTorV3: return 35;
    case NodeAddress::Type::kDns: return 0;
    }
    return 0;
}

//! Throws on an address our own code built wrongly (never peer input: ParseAddresses checks).
void CheckAddress(const NodeAddress& address)
{
    if (address.type == NodeAddress::Type::kDns) {
        if (address.address.size() > 0xff || !IsHostname(address.address)) {
            throw std::invalid_argument("DNS address must be at most 255 printable ASCII characters");
        }
    } else if (address.address.size() != AddressSize(address.type) || AddressSize(address.type) == 0) {
        throw std::invalid_argument("address of the wrong size for its type");
    }
}

//! RFC 5952 text form: lowercase, no leading zeros, the longest run of two or more zero groups
//! (the first if tied) as "::".
std::string Ipv6ToString(ByteSpan address)
{
    std::array<uint16_t, 8> groups{};
    for (size_t i = 0; i < groups.size(); ++i) groups[i] = static_cast<uint16_t>(address[2 * i] << 8 | address[2 * i + 1]);
    size_t best_start = groups.size();
    size_t best_length = 1;
    for (size_t i = 0; i < groups.size();) {
        size_t end = i;
        while (end < groups.size() && groups[end] == 0) ++end;
        if (end - i > best_length) {
            best_start = i;
            best_length = end - i;
        }
        i = end == i ? i + 1 : end;
    }
    static constexpr char kHexDigits[] = "0123456789abcdef";
    const auto group_text = [](uint16_t group) {
        std::string text;
        for (int shift = 12; shift >= 0; shift -= 4) {
            const unsigned digit = group >> shift & 0xf;
            if (digit != 0 || !text.empty() || shift == 0) text.push_back(kHexDigits[digit]);
        }
        return text;
    };
    std::string out;
    for (size_t i = 0; i < groups.size(); ++i) {
        if (i == best_start) {
            out += "::";
            i += best_length - 1;
            continue;
        }
        if (!out.empty() && out.back() != ':') out.push_back(':');
        out += group_text(groups[i]);
    }
    return out;
}

//! RFC 4648 base32, lowercase and unpadded, as Tor writes onion addresses.
std::string Base32Lower(ByteSpan data)
{
    static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    std::string out;
    uint32_t buffer = 0;
    int bits = 0;
    for (const uint8_t byte : data) {
        buffer = (buffer << 8 | byte) & 0xfff;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out.push_back(kAlphabet[buffer >> bits & 0x1f]);
        }
    }
    if (bits > 0) out.push_back(kAlphabet[buffer << (5 - bits) & 0x1f]);
    return out;
}

template <typename Msg>
Decoded<GossipMessage> DecodeAs(ByteSpan payload)
{
    auto decoded = Msg::DecodePayload(payload);
    if (!decoded) return decoded.error();
    return GossipMessage{std::move(*decoded)};
}

} // namespace

void ChannelAnnouncementMessage::EncodePayload(Bytes& out) const
{
    WireWriter writer(out);
    writer.WriteSignature(node_signature_1);
    writer.WriteSignature(node_signature_2);
    writer.WriteSignature(bitcoin_signature_1);
    writer.WriteSignature(bitcoin_signature_2);
    writer.WriteU16Prefixed(features);
    writer.WriteBytes(chain_hash);
    writer.WriteShortChannelId(short_channel_id);
    writer.WritePoint(node_id_1);
    writer.WritePoint(node_id_2);
    writer.WritePoint(bitcoin_key_1);
    writer.WritePoint(bitcoin_key_2);
    writer.WriteBytes(trailing);
}

Decoded<ChannelAnnouncementMessage> ChannelAnnouncementMessage::DecodePayload(ByteSpan payload)
{
    WireReader reader(payload);
    auto node_signature_1 = reader.ReadSignature();
    auto node_signature_2 = reader.ReadSignature();
    auto bitcoin_signature_1 = reader.ReadSignature();
    auto bitcoin_signature_2 = reader.ReadSignature();
    Bytes features = ReadU16Prefixed(reader);
    const Hash256 chain_hash = reader.ReadChainHash();
    const ShortChannelId short_channel_id = reader.ReadShortChannelId();
    auto node_id_1 = reader.ReadPoint();
    auto node_id_2 = reader.ReadPoint();
    auto bitcoin_key_1 = reader.ReadPoint();
    auto bitcoin_key_2 = reader.ReadPoint();
    // The hash covers "any future fields appended to the end": kept to re-encode them.
    Bytes trailing = ToBytes(reader.ReadRemaining());
    if (!reader.Ok()) return *reader.Error();
    return ChannelAnnouncementMessage{
        .node_signature_1 = *node_signature_1,
        .node_signature_2 = *node_signature_2,
        .bitcoin_signature_1 = *bitcoin_signature_1,
        .bitcoin_signature_2 = *bitcoin_signature_2,
        .features = std::move(features),
        .chain_hash = chain_hash,
        .short_channel_id = short_channel_id,
        .node_id_1 = *node_id_1,
        .node_id_2 = *node_id_2,
        .bitcoin_key_1 = *bitcoin_key_1,
        .bitcoin_key_2 = *bitcoin_key_2,
        .trailing = std::move(trailing),
    };
}

std::string NodeAddress::ToString() const
{
    CheckAddress(*this);
    // Appended piece by piece: gcc 12 warns (-Wrestrict, wrongly) on "[" + std::string at -O3.
    std::string out;
    switch (type) {
    case Type::kIpv4:
        for (size_t i = 0; i < 4; ++i) {
            if (i > 0) out += '.';
            out += std::to_string(address[i]);
        }
        break;
    case Type::kIpv6:
        out += '[';
        out += Ipv6ToString(address);
        out += ']';
        break;
    case Type::kTorV3:
        out += Base32Lower(address);
        out += ".onion";
        break;
    case Type::kDns: out.append(address.begin(), address.end()); break;
    default: throw std::invalid_argument("unknown address type");
    }
    out += ':';
    out += std::to_string(port);
    return out;
}

Decoded<std::vector<NodeAddress>> NodeAnnouncementMessage::ParseAddresses() const
{
    WireReader reader(addresses);
    std::vector<NodeAddress> parsed;
    while (!reader.AtEnd()) {
        const auto type = static_cast<NodeAddress::Type>(reader.ReadU8());
        size_t size = 0;
        switch (type) {
        case NodeAddress::Type::kIpv4:
        case NodeAddress::Type::kIpv6:
        case NodeAddress::Type::kTorV3:
            size = AddressSize(type);
            break;
        case NodeAddress::Type::kDns:
            size = reader.ReadU8();
            break;
        default:
            // "SHOULD ignore the first address descriptor that does NOT match the types defined
            // above" (Tor v2, type 3, included): its length is unknown, so is where the next one starts.
            return parsed;
        }
        const ByteSpan address = reader.ReadBytes(size);
        const uint16_t port = reader.ReadU16();
        // "if `addrlen` is insufficient to hold the address descriptors of the known types".
        if (!reader.Ok()) return *reader.Error();
        if (type == NodeAddress::Type::kDns && !IsHostname(address)) return DecodeError::kBadLength;
        parsed.push_back(NodeAddress{.type = type, .address = ToBytes(address), .port = port});
    }
    return parsed;
}

Bytes NodeAnnouncementMessage::EncodeAddresses(const std::vector<NodeAddress>& addresses)
{
    Bytes out;
    WireWriter writer(out);
    for (const auto& address : addresses) {
        CheckAddress(address);
        writer.WriteU8(static_cast<uint8_t>(address.type));
        if (address.type == NodeAddress::Type::kDns) writer.WriteU8(static_cast<uint8_t>(address.address.size()));
        writer.WriteBytes(address.address);
        writer.WriteU16(address.port);
    }
    return out;
}

std::string NodeAnnouncementMessage::AliasString() const
{
    const auto end = std::find(alias.begin(), alias.end(), uint8_t{0});
    return std::string(alias.begin(), end);
}

void NodeAnnouncementMessage::EncodePayload(Bytes& out) const
{
    WireWriter writer(out);
    writer.WriteSignature(signature);
    writer.WriteU16Prefixed(features);
    writer.WriteU32(timestamp);
    writer.WritePoint(node_id);
    writer.WriteBytes(rgb_color);
    writer.WriteBytes(alias);
    writer.WriteU16Prefixed(addresses);
    writer.WriteBytes(trailing);
}

Decoded<NodeAnnouncementMessage> NodeAnnouncementMessage::DecodePayload(ByteSpan payload)
{
    WireReader reader(payload);
    auto signature = reader.ReadSignature();
    Bytes features = ReadU16Prefixed(reader);
    const uint32_t timestamp = reader.ReadU32();
    auto node_id = reader.ReadPoint();
    const auto rgb_color = reader.ReadArray<3>();
    const auto alias = reader.ReadArray<32>();
    Bytes addresses = ReadU16Prefixed(reader);
    // node_announcement_tlvs (option_will_fund) and any later fields: signed, kept raw.
    Bytes trailing = ToBytes(reader.ReadRemaining());
    if (!reader.Ok()) return *reader.Error();
    return NodeAnnouncementMessage{
        .signature = *signature,
        .features = std::move(features),
        .timestamp = timestamp,
        .node_id = *node_id,
        .rgb_color = rgb_color,
        .alias = alias,
        .addresses = std::move(addresses),
        .trailing = std::move(trailing),
    };
}

void ChannelUpdateMessage::EncodePayload(Bytes& out) const
{
    WireWriter writer(out);
    writer.WriteSignature(signature);
    writer.WriteBytes(chain_hash);
    writer.WriteShortChannelId(short_channel_id);
    writer.WriteU32(timestamp);
    writer.WriteU8(message_flags);
    writer.WriteU8(channel_flags);
    writer.WriteU16(cltv_expiry_delta);
    writer.WriteU64(htlc_minimum_msat.value());
    writer.WriteU32(fee_base_msat);
    writer.WriteU32(fee_proportional_millionths);
    writer.WriteU64(htlc_maximum_msat.value());
    writer.WriteBytes(trailing);
}

Decoded<ChannelUpdateMessage> ChannelUpdateMessage::DecodePayload(ByteSpan payload)
{
    WireReader reader(payload);
    auto signature = reader.ReadSignature();
    const Hash256 chain_hash = reader.ReadChainHash();
    const ShortChannelId short_channel_id = reader.ReadShortChannelId();
    const uint32_t timestamp = reader.ReadU32();
    const uint8_t message_flags = reader.ReadU8();
    const uint8_t channel_flags = reader.ReadU8();
    const uint16_t cltv_expiry_delta = reader.ReadU16();
    const Msat htlc_minimum_msat{reader.ReadU64()};
    const uint32_t fee_base_msat = reader.ReadU32();
    const uint32_t fee_proportional_millionths = reader.ReadU32();
    // "This field must now always be present, so `must_be_one` is a constant value, and
    // ignored by receivers": read whatever message_flags says.
    const Msat htlc_maximum_msat{reader.ReadU64()};
    // Signed "including unknown fields following" the known ones.
    Bytes trailing = ToBytes(reader.ReadRemaining());
    if (!reader.Ok()) return *reader.Error();
    return ChannelUpdateMessage{
        .signature = *signature,
        .chain_hash = chain_hash,
        .short_channel_id = short_channel_id,
        .timestamp = timestamp,
        .message_flags = message_flags,
        .channel_flags = channel_flags,
        .cltv_expiry_delta = cltv_expiry_delta,
        .htlc_minimum_msat = htlc_minimum_msat,
        .fee_base_msat = fee_base_msat,
        .fee_proportional_millionths = fee_proportional_millionths,
        .htlc_maximum_msat = htlc_maximum_msat,
        .trailing = std::move(trailing),
    };
}

void AnnouncementSignaturesMessage::EncodePayload(Bytes& out) const
{
    WireWriter writer(out);
    writer.WriteBytes(channel_id);
    writer.WriteShortChannelId(short_channel_id);
    writer.WriteSignature(node_signature);
    writer.WriteSignature(bitcoin_signature);
    extension.AppendTo(out);
}

Decoded<AnnouncementSignaturesMessage> AnnouncementSignaturesMessage::DecodePayload(ByteSpan payload)
{
    WireReader reader(payload);
    const Hash256 channel_id = reader.ReadArray<32>();
    const ShortChannelId short_channel_id = reader.ReadShortChannelId();
    auto node_signature = reader.ReadSignature();
    auto bitcoin_signature = reader.ReadSignature();
    TlvStream extension = ReadTlvStream(reader, {});
    if (!reader.Ok()) return *reader.Error();
    return AnnouncementSignaturesMessage{
        .channel_id = channel_id,
        .short_channel_id = short_channel_id,
        .node_signature = *node_signature,
        .bitcoin_signature = *bitcoin_signature,
        .extension = std::move(extension),
    };
}

Bytes EncodeShortChannelIds(const std::vector<ShortChannelId>& ids)
{
    Bytes out{static_cast<uint8_t>(ArrayEncoding::kUncompressed)};
    out.reserve(1 + ids.size() * kShortChannelIdSize);
    WireWriter writer(out);
    for (const auto& id : ids) writer.WriteShortChannelId(id);
    return out;
}

Decoded<std::vector<ShortChannelId>> DecodeShortChannelIds(ByteSpan encoded)
{
    auto elements = DecodeArrayElements(encoded, kShortChannelIdSize);
    if (!elements) return elements.error();
    WireReader reader(*elements);
    std::vector<ShortChannelId> ids;
    ids.reserve(elements->size() / kShortChannelIdSize);
    while (!reader.AtEnd()) ids.push_back(reader.ReadShortChannelId());
    return ids;
}

void QueryShortChannelIdsMessage::EncodePayload(Bytes& out) const
{
    RequireOnePerId(query_flags, short_channel_ids.size(), "query_flags");
    WireWriter writer(out);
    writer.WriteBytes(chain_hash);
    writer.WriteU16Prefixed(EncodeShortChannelIds(short_channel_ids));
    TlvStream tlvs = extension;
    if (query_flags) {
        Bytes value{static_cast<uint8_t>(ArrayEncoding::kUncompressed)};
        for (const uint64_t flag : *query_flags) AppendBigSize(value, flag);
        tlvs.Set(kQueryFlagsType, std::move(value));
    }
    tlvs.AppendTo(out);
}

Decoded<QueryShortChannelIdsMessage> QueryShortChannelIdsMessage::DecodePayload(ByteSpan payload)
{
    WireReader reader(payload);
    const Hash256 chain_hash = reader.ReadChainHash();
    const ByteSpan encoded_short_ids = reader.ReadBytes(reader.ReadU16());
    auto ids = reader.Ok() ? Take(DecodeShortChannelIds(encoded_short_ids), reader) : std::nullopt;
    const TlvStream tlvs = ReadTlvStream(reader, kQueryShortChannelIdsTlvTypes);
    std::optional<std::vector<uint64_t>> query_flags;
    if (const Bytes* value = tlvs.Find(kQueryFlagsType)) query_flags = Take(DecodeQueryFlags(*value), reader);
    if (!reader.Ok()) return *reader.Error();
    // "if `encoded_query_flags` does not decode to exactly one flag per `short_channel_id`".
    CheckOnePerId(query_flags, ids->size(), reader);
    if (!reader.Ok()) return *reader.Error();
    return QueryShortChannelIdsMessage{
        .chain_hash = chain_hash,
        .short_channel_ids = std::move(*ids),
        .query_flags = std::move(query_flags),
        .extension = tlvs.Without(kQueryShortChannelIdsTlvTypes),
    };
}

void ReplyShortChannelIdsEndMessage::EncodePayload(Bytes& out) const
{
    WireWriter writer(out);
    writer.WriteBytes(chain_hash);
    writer.WriteU8(full_information);
    extension.AppendTo(out);
}

Decoded<ReplyShortChannelIdsEndMessage> ReplyShortChannelIdsEndMessage::DecodePayload(ByteSpan payload)
{
    WireReader reader(payload);
    const Hash256 chain_hash = reader.ReadChainHash();
    const uint8_t full_information = reader.ReadU8();
    TlvStream extension = ReadTlvStream(reader, {});
    if (!reader.Ok()) return *reader.Error();
    return ReplyShortChannelIdsEndMessage{
        .chain_hash = chain_hash,
        .full_information = full_information,
        .extension = std::move(extension),
    };
}

void QueryChannelRangeMessage::EncodePayload(Bytes& out) const
{
    WireWriter writer(out);
    writer.WriteBytes(chain_hash);
    writer.WriteU32(first_blocknum);
    writer.WriteU32(number_of_blocks);
    TlvStream tlvs = extension;
    if (query_option) {
        Bytes value;
        AppendBigSize(value, *query_option);
        tlvs.Set(kQueryOptionType, std::move(value));
    }
    tlvs.AppendTo(out);
}

Decoded<QueryChannelRangeMessage> QueryChannelRangeMessage::DecodePayload(ByteSpan payload)
{
    WireReader reader(payload);
    const Hash256 chain_hash = reader.ReadChainHash();
    const uint32_t first_blocknum = reader.ReadU32();
    const uint32_t number_of_blocks = reader.ReadU32();
    const TlvStream tlvs = ReadTlvStream(reader, kQueryChannelRangeTlvTypes);
    std::optional<uint64_t> query_option;
    if (const Bytes* value = tlvs.Find(kQueryOptionType)) query_option = Take(DecodeQueryOption(*value), reader);
    if (!reader.Ok()) return *reader.Error();
    return QueryChannelRangeMessage{
        .chain_hash = chain_hash,
        .first_blocknum = first_blocknum,
        .number_of_blocks = number_of_blocks,
        .query_option = query_option,
        .extension = tlvs.Without(kQueryChannelRangeTlvTypes),
    };
}

void ReplyChannelRangeMessage::EncodePayload(Bytes& out) const
{
    RequireOnePerId(timestamps, short_channel_ids.size(), "timestamps");
    RequireOnePerId(checksums, short_channel_ids.size(), "checksums");
    WireWriter writer(out);
    writer.WriteBytes(chain_hash);
    writer.WriteU32(first_blocknum);
    writer.WriteU32(number_of_blocks);
    writer.WriteU8(sync_complete);
    writer.WriteU16Prefixed(EncodeShortChannelIds(short_channel_ids));
    TlvStream tlvs = extension;
    if (timestamps) {
        Bytes value{static_cast<uint8_t>(ArrayEncoding::kUncompressed)};
        AppendPairs(value, *timestamps);
        tlvs.Set(kTimestampsType, std::move(value));
    }
    if (checksums) {
        // checksums_tlv is a bare array: BOLT 7 gives it no encoding byte.
        Bytes value;
        AppendPairs(value, *checksums);
        tlvs.Set(kChecksumsType, std::move(value));
    }
    tlvs.AppendTo(out);
}

Decoded<ReplyChannelRangeMessage> ReplyChannelRangeMessage::DecodePayload(ByteSpan payload)
{
    WireReader reader(payload);
    const Hash256 chain_hash = reader.ReadChainHash();
    const uint32_t first_blocknum = reader.ReadU32();
    const uint32_t number_of_blocks = reader.ReadU32();
    const uint8_t sync_complete = reader.ReadU8();
    const ByteSpan encoded_short_ids = reader.ReadBytes(reader.ReadU16());
    auto ids = reader.Ok() ? Take(DecodeShortChannelIds(encoded_short_ids), reader) : std::nullopt;
    const TlvStream tlvs = ReadTlvStream(reader, kReplyChannelRangeTlvTypes);
    std::optional<std::vector<ChannelTimestamps>> timestamps;
    if (const Bytes* value = tlvs.Find(kTimestampsType)) {
        if (auto elements = Take(DecodeArrayElements(*value, kPairSize), reader)) {
            timestamps = ReadPairs<ChannelTimestamps>(*elements);
        }
    }
    std::optional<std::vector<ChannelChecksums>> checksums;
    if (const Bytes* value = tlvs.Find(kChecksumsType)) {
        if (value->size() % kPairSize != 0) reader.Fail(DecodeError::kBadLength);
        if (reader.Ok()) checksums = ReadPairs<ChannelChecksums>(*value);
    }
    if (!reader.Ok()) return *reader.Error();
    CheckOnePerId(timestamps, ids->size(), reader);
    CheckOnePerId(checksums, ids->size(), reader);
    if (!reader.Ok()) return *reader.Error();
    return ReplyChannelRangeMessage{
        .chain_hash = chain_hash,
        .first_blocknum = first_blocknum,
        .number_of_blocks = number_of_blocks,
        .sync_complete = sync_complete,
        .short_channel_ids = std::move(*ids),
        .timestamps = std::move(timestamps),
        .checksums = std::move(checksums),
        .extension = tlvs.Without(kReplyChannelRangeTlvTypes),
    };
}

void GossipTimestampFilterMessage::EncodePayload(Bytes& out) const
{
    WireWriter writer(out);
    writer.WriteBytes(chain_hash);
    writer.WriteU32(first_timestamp);
    writer.WriteU32(timestamp_range);
    extension.AppendTo(out);
}

Decoded<GossipTimestampFilterMessage> GossipTimestampFilterMessage::DecodePayload(ByteSpan payload)
{
    WireReader reader(payload);
    const Hash256 chain_hash = reader.ReadChainHash();
    const uint32_t first_timestamp = reader.ReadU32();
    const uint32_t timestamp_range = reader.ReadU32();
    TlvStream extension = ReadTlvStream(reader, {});
    if (!reader.Ok()) return *reader.Error();
    return GossipTimestampFilterMessage{
        .chain_hash = chain_hash,
        .first_timestamp = first_timestamp,
        .timestamp_range = timestamp_range,
        .extension = std::move(extension),
    };
}

bool IsGossipMessageKnown(uint16_t type)
{
    switch (static_cast<GossipMessageType>(type)) {
    case GossipMessageType::kChannelAnnouncement:
    case GossipMessageType::kNodeAnnouncement:
    case GossipMessageType::kChannelUpdate:
    case GossipMessageType::kAnnouncementSignatures:
    case GossipMessageType::kQueryShortChannelIds:
    case GossipMessageType::kReplyShortChannelIdsEnd:
    case GossipMessageType::kQueryChannelRange:
    case GossipMessageType::kReplyChannelRange:
    case GossipMessageType::kGossipTimestampFilter:
        return true;
    }
    return false;
}

Decoded<GossipMessage> DecodeGossipMessage(uint16_t type, ByteSpan payload)
{
    switch (static_cast<GossipMessageType>(type)) {
    case GossipMessageType::kChannelAnnouncement: return DecodeAs<ChannelAnnouncementMessage>(payload);
    case GossipMessageType::kNodeAnnouncement: return DecodeAs<NodeAnnouncementMessage>(payload);
    case GossipMessageType::kChannelUpdate: return DecodeAs<ChannelUpdateMessage>(payload);
    case GossipMessageType::kAnnouncementSignatures: return DecodeAs<AnnouncementSignaturesMessage>(payload);
    case GossipMessageType::kQueryShortChannelIds: return DecodeAs<QueryShortChannelIdsMessage>(payload);
    case GossipMessageType::kReplyShortChannelIdsEnd: return DecodeAs<ReplyShortChannelIdsEndMessage>(payload);
    case GossipMessageType::kQueryChannelRange: return DecodeAs<QueryChannelRangeMessage>(payload);
    case GossipMessageType::kReplyChannelRange: return DecodeAs<ReplyChannelRangeMessage>(payload);
    case GossipMessageType::kGossipTimestampFilter: return DecodeAs<GossipTimestampFilterMessage>(payload);
    }
    throw std::invalid_argument("not a gossip message type: " + std::to_string(type));
}

Bytes EncodeGossipMessage(const GossipMessage& message)
{
    return std::visit([](const auto& msg) { return EncodeMessage(msg); }, message);
}

GossipMessageType TypeOfGossipMessage(const GossipMessage& message)
{
    return std::visit([](const auto& msg) { return std::decay_t<decltype(msg)>::kType; }, message);
}

ByteSpan SignedPart(ByteSpan payload, size_t signed_offset)
{
    if (payload.size() < signed_offset) return {};
    return payload.subspan(signed_offset);
}

} // namespace sidebolt
