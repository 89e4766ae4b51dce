#include "wire/message.h"

#include "wire/wire.h"
#include "util/hex.h"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace sidebolt {
namespace {
constexpr std::array<uint64_t, 2> kInitTlvTypes{InitMessage::kNetworksType, InitMessage::kRemoteAddrType};

//! The optional extension that may follow any payload: BOLT 1 says a receiver MAY ignore it,
//! but we always validate it so that malformed extensions are never silently accepted.
TlvStream ReadExtension(WireReader& reader, std::span<const uint64_t> known_types)
{
    return ReadTlvStream(reader, known_types);
}

template <typename Notice>
Decoded<Notice> DecodeNotice(ByteSpan payload)
{
    WireReader reader(payload);
    Notice notice;
    notice.channel_id = reader.ReadArray<32>();
    const ByteSpan data = reader.ReadBytes(reader.ReadU16());
    notice.data.assign(data.begin(), data.end());
    notice.extension = ReadExtension(reader, {});
    if (!reader.Ok()) return *reader.Error();
    return notice;
}

Bytes ReadU16PrefixedBytes(WireReader& reader)
{
    const ByteSpan bytes = reader.ReadBytes(reader.ReadU16());
    return Bytes(bytes.begin(), bytes.end());
}

std::vector<Hash256> DecodeNetworks(ByteSpan value, WireReader& outer)
{
    if (value.size() % 32 != 0) {
        outer.Fail(DecodeError::kBadLength);
        return {};
    }
    WireReader reader(value);
    std::vector<Hash256> chains;
    while (!reader.AtEnd()) chains.push_back(reader.ReadChainHash());
    return chains;
}

template <typename Msg>
Decoded<Message> DecodeAs(ByteSpan payload)
{
    auto decoded = Msg::DecodePayload(payload);
    if (!decoded) return decoded.error();
    return Message{std::move(*decoded)};
}
} // namespace

bool IsKnownMessageType(uint16_t type)
{
    switch (static_cast<MessageType>(type)) {
    case MessageType::kWarning:
    case MessageType::kInit:
    case MessageType::kError:
    case MessageType::kPing:
    case MessageType::kPong:
        return true;
    }
    return false;
}

void InitMessage::EncodePayload(Bytes& out) const
{
    WireWriter writer(out);
    writer.WriteU16Prefixed(global_features);
    writer.WriteU16Prefixed(features);
    TlvStream tlvs = other_tlvs;
    if (networks) {
        Bytes value;
        for (const auto& chain : *networks) Append(value, chain);
        tlvs.Set(kNetworksType, std::move(value));
    }
    if (remote_addr) tlvs.Set(kRemoteAddrType, *remote_addr);
    tlvs.AppendTo(out);
}

Decoded<InitMessage> InitMessage::DecodePayload(ByteSpan payload)
{
    WireReader reader(payload);
    InitMessage init;
    init.global_features = ReadU16PrefixedBytes(reader);
    init.features = ReadU16PrefixedBytes(reader);
    const TlvStream tlvs = ReadExtension(reader, kInitTlvTypes);
    if (const Bytes* value = tlvs.Find(kNetworksType)) init.networks = DecodeNetworks(*value, reader);
    if (const Bytes* value = tlvs.Find(kRemoteAddrType)) init.remote_addr = *value;
    init.other_tlvs = tlvs.Without(kInitTlvTypes);
    if (!reader.Ok()) return *reader.Error();
    return init;
}

bool ChannelNotice::IsForAllChannels() const
{
    return std::all_of(channel_id.begin(), channel_id.end(), [](uint8_t b) { return b == 0; });
}

void ChannelNotice::EncodePayload(Bytes& out) const
{
    WireWriter writer(out);
    writer.WriteBytes(channel_id);
    writer.WriteU16Prefixed(data);
    extension.AppendTo(out);
}

Decoded<ErrorMessage> ErrorMessage::DecodePayload(ByteSpan payload) { return DecodeNotice<ErrorMessage>(payload); }

Decoded<WarningMessage> WarningMessage::DecodePayload(ByteSpan payload) { return DecodeNotice<WarningMessage>(payload); }

void PingMessage::EncodePayload(Bytes& out) const
{
    WireWriter writer(out);
    writer.WriteU16(num_pong_bytes);
    writer.WriteU16Prefixed(ignored);
    extension.AppendTo(out);
}

Decoded<PingMessage> PingMessage::DecodePayload(ByteSpan payload)
{
    WireReader reader(payload);
    PingMessage ping;
    ping.num_pong_bytes = reader.ReadU16();
    ping.ignored = ReadU16PrefixedBytes(reader);
    ping.extension = ReadExtension(reader, {});
    if (!reader.Ok()) return *reader.Error();
    return ping;
}

void PongMessage::EncodePayload(Bytes& out) const
{
    WireWriter(out).WriteU16Prefixed(ignored);
    extension.AppendTo(out);
}

Decoded<PongMessage> PongMessage::DecodePayload(ByteSpan payload)
{
    WireReader reader(payload);
    PongMessage pong;
    pong.ignored = ReadU16PrefixedBytes(reader);
    pong.extension = ReadExtension(reader, {});
    if (!reader.Ok()) return *reader.Error();
    return pong;
}

void CheckMessageSize(size_t size)
{
    if (size > kMaxMessageSize) throw std::length_error("lightning message larger than 65535 bytes");
}

Bytes EncodeMessage(const Message& message)
{
    return std::visit(
        [](const auto& msg) -> Bytes {
            if constexpr (std::is_same_v<std::decay_t<decltype(msg)>, OtherMessage>) {
                Bytes out;
                WireWriter(out).WriteU16(msg.type);
                Append(out, msg.payload);
                CheckMessageSize(out.size());
                return out;
            } else {
                return EncodeMessage(msg);
            }
        },
        message);
}

Decoded<Message> DecodeMessage(ByteSpan bytes)
{
    WireReader reader(bytes);
    const uint16_t type = reader.ReadU16();
    if (!reader.Ok()) return *reader.Error();
    const ByteSpan payload = reader.ReadRemaining();
    switch (static_cast<MessageType>(type)) {
    case MessageType::kInit: return DecodeAs<InitMessage>(payload);
    case MessageType::kError: return DecodeAs<ErrorMessage>(payload);
    case MessageType::kWarning: return DecodeAs<WarningMessage>(payload);
    case MessageType::kPing: return DecodeAs<PingMessage>(payload);
    case MessageType::kPong: return DecodeAs<PongMessage>(payload);
    }
    return Message{OtherMessage{type, Bytes(payload.begin(), payload.end())}};
}

uint16_t TypeOf(const Message& message)
{
    return std::visit(
        [](const auto& msg) -> uint16_t {
            if constexpr (std::is_same_v<std::decay_t<decltype(msg)>, OtherMessage>) {
                return msg.type;
            } else {
                return static_cast<uint16_t>(std::decay_t<decltype(msg)>::kType);
            }
        },
        message);
}

std::optional<PongMessage> PongFor(const PingMessage& ping)
{
    if (ping.num_pong_bytes >= PingMessage::kNoPongThreshold) return std::nullopt;
    return PongMessage{.ignored = Bytes(ping.num_pong_bytes, 0), .extension = {}};
}

std::string PrintableNoticeData(ByteSpan data)
{
    const bool printable = std::all_of(data.begin(), data.end(), [](uint8_t c) { return c >= 32 && c <= 126; });
    if (printable) return std::string(data.begin(), data.end());
    return "hex:" + ToHex(data);
}

} // namespace sidebolt
