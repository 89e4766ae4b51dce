#ifndef SIDEBOLT_WIRE_MESSAGE_H
#define SIDEBOLT_WIRE_MESSAGE_H

#include "primitives/hash.h"
#include "wire/decode_error.h"
#include "wire/features.h"
#include "wire/tlv.h"
#include "util/bytes.h"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace sidebolt {

//! BOLT 8: "The maximum size of any Lightning message MUST NOT exceed 65535 bytes."
constexpr size_t kMaxMessageSize = 65535;

//! The setup and control messages of BOLT 1, which this library decodes.
enum class MessageType : uint16_t {
    kWarning = 1,
    kInit = 16,
    kError = 17,
    kPing = 18,
    kPong = 19,
};

//! True for the BOLT 1 types DecodeMessage turns into typed structs.
bool IsKnownMessageType(uint16_t type);

//! BOLT 7 gossip: channel_announcement (256), node_announcement (257), channel_update (258),
//! announcement_signatures (259) and the queries (261 to 265). Peers send channel_update for
//! private channels as soon as they are ready.
constexpr bool IsGossipMessageType(uint16_t type) { return type >= 256 && type <= 265 && type != 260; }

//! What a node does with a message type nobody handles. BOLT 1: odd "MUST ignore the
//! received message", even "MUST close the connection".
enum class UnknownMessageAction { kIgnore, kDisconnect };
constexpr UnknownMessageAction ActionForUnknownType(uint16_t type)
{
    return IsOkToBeOdd(type) ? UnknownMessageAction::kIgnore : UnknownMessageAction::kDisconnect;
}

struct InitMessage {
    static constexpr MessageType kType = MessageType::kInit;
    static constexpr uint64_t kNetworksType = 1;
    static constexpr uint64_t kRemoteAddrType = 3;

    Bytes global_features;
    Bytes features;
    //! Chains the sender is interested in; absent means it did not say.
    std::optional<std::vector<Hash256>> networks;
    //! A BOLT 7 address descriptor, kept raw: interpreting it is the gossip layer's job.
    std::optional<Bytes> remote_addr;
    //! Unknown odd records (e.g. option_will_fund), kept so re-encoding is faithful.
    TlvStream other_tlvs;

    FeatureBits CombinedFeatures() const { return CombineInitFeatures(global_features, features); }
    void EncodePayload(Bytes& out) const;
    static Decoded<InitMessage> DecodePayload(ByteSpan payload);
    bool operator==(const InitMessage&) const = default;
};

//! The shared layout of `error` and `warning`.
struct ChannelNotice {
    //! All zero: the notice concerns every channel with the peer.
    Hash256 channel_id{};
    Bytes data;
    TlvStream extension;

    bool IsForAllChannels() const;
    void EncodePayload(Bytes& out) const;
    bool operator==(const ChannelNotice&) const = default;
};

struct ErrorMessage : ChannelNotice {
    static constexpr MessageType kType = MessageType::kError;
    static Decoded<ErrorMessage> DecodePayload(ByteSpan payload);
};

struct WarningMessage : ChannelNotice {
    static constexpr MessageType kType = MessageType::kWarning;
    static Decoded<WarningMessage> DecodePayload(ByteSpan payload);
};

struct PingMessage {
    static constexpr MessageType kType = MessageType::kPing;
    //! BOLT 1: a ping asking for this many pong bytes or more "MUST" be ignored.
    static constexpr uint16_t kNoPongThreshold = 65532;

    uint16_t num_pong_bytes{0};
    Bytes ignored;
    TlvStream extension;

    void EncodePayload(Bytes& out) const;
    static Decoded<PingMessage> DecodePayload(ByteSpan payload);
    bool operator==(const PingMessage&) const = default;
};

struct PongMessage {
    static constexpr MessageType kType = MessageType::kPong;

    Bytes ignored;
    TlvStream extension;

    void EncodePayload(Bytes& out) const;
    static Decoded<PongMessage> DecodePayload(ByteSpan payload);
    bool operator==(const PongMessage&) const = default;
};

//! Any message this library does not decode (channel, gossip or unknown types), left to the
//! layer that handles it, or to ActionForUnknownType when nothing does.
struct OtherMessage {
    uint16_t type{0};
    Bytes payload;
    bool operator==(const OtherMessage&) const = default;
};

using Message = std::variant<InitMessage, ErrorMessage, WarningMessage, PingMessage, PongMessage, OtherMessage>;

//! Throws std::length_error above kMaxMessageSize: only a local bug can build such a message.
void CheckMessageSize(size_t size);

//! Frames a typed message: u16 type then payload.
template <typename Msg>
Bytes EncodeMessage(const Msg& message)
{
    Bytes out{static_cast<uint8_t>(static_cast<uint16_t>(Msg::kType) >> 8), static_cast<uint8_t>(Msg::kType)};
    message.EncodePayload(out);
    CheckMessageSize(out.size());
    return out;
}
Bytes EncodeMessage(const Message& message);

//! Decodes a decrypted message. BOLT 1: a known message "with insufficient length for the
//! contents" and an invalid extension both fail the decode (and so close the connection).
Decoded<Message> DecodeMessage(ByteSpan bytes);
uint16_t TypeOf(const Message& message);

//! BOLT 1: a pong with `num_pong_bytes` zero bytes, or nothing when the ping asks for 65532 or more.
std::optional<PongMessage> PongFor(const PingMessage& ping);

//! `data` of an error or warning in a form safe to log. BOLT 1: if it "is not composed solely
//! of printable ASCII characters ... SHOULD NOT print out data verbatim" (we print hex then).
std::string PrintableNoticeData(ByteSpan data);

} // namespace sidebolt

#endif
