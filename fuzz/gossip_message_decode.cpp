// BOLT 7 gossip message decoding: the input is a u16 type then the payload. A message that
// decodes must re-encode to a value that decodes equal, and to the same bytes unless one of its
// arrays came zlib-compressed (we re-encode plain). The whole input is also tried as an
// encoded_short_ids array and as node_announcement addresses.
#include "wire/gossip_messages.h"
#include "wire/message.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

using namespace sidebolt;

namespace {
bool StartsWithZlib(ByteSpan encoded) { return !encoded.empty() && encoded[0] == static_cast<uint8_t>(ArrayEncoding::kZlib); }

//! Whether the payload of a query that decoded carries a zlib array (encoded_short_ids, or
//! TLV 1, whose value starts with an encoding byte in both query_short_channel_ids and
//! reply_channel_range).
bool UsesZlib(uint16_t type, ByteSpan payload)
{
    size_t offset = 0;
    if (type == static_cast<uint16_t>(GossipMessageType::kQueryShortChannelIds)) {
        offset = 32;
    } else if (type == static_cast<uint16_t>(GossipMessageType::kReplyChannelRange)) {
        offset = 32 + 4 + 4 + 1;
    } else {
        return false;
    }
    WireReader reader(payload.subspan(offset));
    const ByteSpan encoded_short_ids = reader.ReadBytes(reader.ReadU16());
    const std::array<uint64_t, 2> known{1, 3};
    const auto tlvs = TlvStream::Decode(reader.ReadRemaining(), known);
    if (!reader.Ok() || !tlvs) std::abort(); // it decoded before
    const Bytes* tlv_array = tlvs->Find(1);
    return StartsWithZlib(encoded_short_ids) || (tlv_array && StartsWithZlib(*tlv_array));
}

void CheckShortChannelIds(ByteSpan input)
{
    const auto ids = DecodeShortChannelIds(input);
    if (!ids) return;
    if (ids->size() * 8 > kMaxInflated) std::abort();
    const Bytes encoded = EncodeShortChannelIds(*ids);
    if (!StartsWithZlib(input) && !std::equal(encoded.begin(), encoded.end(), input.begin(), input.end())) std::abort();
    const auto again = DecodeShortChannelIds(encoded);
    if (!again || *again != *ids) std::abort();
}

void CheckAddresses(ByteSpan input)
{
    static const NodeAnnouncementMessage kTemplate = [] {
        Bytes payload(64, 0x01);                           // signature
        payload.insert(payload.end(), {0, 0, 0, 0, 0, 0}); // flen 0, timestamp 0
        const Bytes generator{0x02, 0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0,
                              0x62, 0x95, 0xce, 0x87, 0x0b, 0x07, 0x02, 0x9b, 0xfc, 0xdb, 0x2d,
                              0xce, 0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b, 0x16, 0xf8, 0x17, 0x98};
        Append(payload, generator);                        // node_id: G
        payload.resize(payload.size() + 3 + 32 + 2);       // rgb_color, alias, addrlen 0
        return *NodeAnnouncementMessage::DecodePayload(payload);
    }();
    NodeAnnouncementMessage node = kTemplate;
    node.addresses.assign(input.begin(), input.end());
    const auto addresses = node.ParseAddresses();
    if (!addresses) return;
    for (const auto& address : *addresses) static_cast<void>(address.ToString());
    // Parsing stops at the first unknown type: what it read is a prefix of the input.
    const Bytes encoded = NodeAnnouncementMessage::EncodeAddresses(*addresses);
    if (encoded.size() > input.size() || !std::equal(encoded.begin(), encoded.end(), input.begin())) std::abort();
    node.addresses = encoded;
    const auto again = node.ParseAddresses();
    if (!again || *again != *addresses) std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    // The transport never delivers more than 65535 bytes, type included.
    if (size > kMaxMessageSize) return 0;
    const ByteSpan input(data, size);
    CheckShortChannelIds(input);
    CheckAddresses(input);
    if (size < 2) return 0;
    const uint16_t type = static_cast<uint16_t>(data[0] << 8 | data[1]);
    if (!IsGossipMessageKnown(type)) return 0;
    const ByteSpan payload = input.subspan(2);
    const auto message = DecodeGossipMessage(type, payload);
    if (!message) return 0;
    if (static_cast<uint16_t>(TypeOfGossipMessage(*message)) != type) std::abort();
    Bytes encoded;
    // Not EncodeGossipMessage: inflated arrays can re-encode beyond one message.
    std::visit([&](const auto& msg) { msg.EncodePayload(encoded); }, *message);
    const bool same_bytes = std::equal(encoded.begin(), encoded.end(), payload.begin(), payload.end());
    if (!same_bytes && !UsesZlib(type, payload)) std::abort();
    const auto again = DecodeGossipMessage(type, encoded);
    if (!again || !(*again == *message)) std::abort();
    std::visit(
        [&](const auto& msg) {
            using Msg = std::decay_t<decltype(msg)>;
            if constexpr (requires { Msg::kSignedOffset; }) {
                const ByteSpan signed_part = SignedPart(payload, Msg::kSignedOffset);
                if (signed_part.size() != payload.size() - Msg::kSignedOffset) std::abort();
            }
            if constexpr (std::is_same_v<Msg, NodeAnnouncementMessage>) {
                static_cast<void>(msg.AliasString());
                static_cast<void>(msg.ParseAddresses());
            }
        },
        *message);
    return 0;
}
