#include "wire/channel_messages.h"

#include "wire/message.h"

#include <array>
#include <concepts>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace sidebolt {
namespace {

/*
 * FieldCodec<T>: how one fixed field of member type T goes on the wire. Read returns nullopt
 * only after recording a failure in the reader, so once the reader is Ok() every value is set.
 */
template <typename T>
struct FieldCodec;

//! Structs declared with Fields() (e.g. FeeRange) nest: their fields in order.
template <typename T>
concept HasFields = requires { T::Fields(); };

template <typename MemberPtr>
struct MemberTypeOf;
template <typename Class, typename T>
struct MemberTypeOf<T Class::*> {
    using type = T;
};
//! The type of the member a member pointer names: FieldType<decltype(&FeeRange::min_fee_satoshis)> is Sat.
template <typename MemberPtr>
using FieldType = typename MemberTypeOf<MemberPtr>::type;

template <std::unsigned_integral T>
struct FieldCodec<T> {
    static void Write(WireWriter& writer, T value)
    {
        if constexpr (sizeof(T) == 1) writer.WriteU8(value);
        if constexpr (sizeof(T) == 2) writer.WriteU16(value);
        if constexpr (sizeof(T) == 4) writer.WriteU32(value);
        if constexpr (sizeof(T) == 8) writer.WriteU64(value);
    }
    static std::optional<T> Read(WireReader& reader)
    {
        if constexpr (sizeof(T) == 1) return reader.ReadU8();
        if constexpr (sizeof(T) == 2) return reader.ReadU16();
        if constexpr (sizeof(T) == 4) return reader.ReadU32();
        if constexpr (sizeof(T) == 8) return reader.ReadU64();
    }
};

template <typename Tag>
struct FieldCodec<Amount<Tag>> {
    static void Write(WireWriter& writer, Amount<Tag> value) { writer.WriteU64(value.value()); }
    static std::optional<Amount<Tag>> Read(WireReader& reader) { return Amount<Tag>{reader.ReadU64()}; }
};

template <size_t N>
struct FieldCodec<ByteArray<N>> {
    static void Write(WireWriter& writer, const ByteArray<N>& value) { writer.WriteBytes(value); }
    static std::optional<ByteArray<N>> Read(WireReader& reader) { return reader.ReadArray<N>(); }
};

template <>
struct FieldCodec<PubKey> {
    static void Write(WireWriter& writer, const PubKey& value) { writer.WritePoint(value); }
    static std::optional<PubKey> Read(WireReader& reader) { return reader.ReadPoint(); }
};

template <>
struct FieldCodec<EcdsaSignature> {
    static void Write(WireWriter& writer, const EcdsaSignature& value) { writer.WriteSignature(value); }
    static std::optional<EcdsaSignature> Read(WireReader& reader) { return reader.ReadSignature(); }
};

template <>
struct FieldCodec<Bytes> {
    static void Write(WireWriter& writer, const Bytes& value) { writer.WriteU16Prefixed(value); }
    static std::optional<Bytes> Read(WireReader& reader)
    {
        const ByteSpan bytes = reader.ReadBytes(reader.ReadU16());
        return Bytes(bytes.begin(), bytes.end());
    }
};

template <>
struct FieldCodec<std::vector<EcdsaSignature>> {
    static void Write(WireWriter& writer, const std::vector<EcdsaSignature>& values)
    {
        if (values.size() > 0xffff) throw std::length_error("more signatures than a u16 count allows");
        writer.WriteU16(static_cast<uint16_t>(values.size()));
        for (const auto& value : values) FieldCodec<EcdsaSignature>::Write(writer, value);
    }
    static std::optional<std::vector<EcdsaSignature>> Read(WireReader& reader)
    {
        const uint16_t count = reader.ReadU16();
        // Checked before reserving so a lying count cannot make us allocate.
        const size_t size = size_t{count} * kSignatureSize;
        if (reader.Remaining() < size) reader.Fail(DecodeError::kTruncated);
        std::vector<EcdsaSignature> values;
        if (!reader.Ok()) return values;
        values.reserve(count);
        for (uint16_t i = 0; i < count; ++i) {
            auto value = FieldCodec<EcdsaSignature>::Read(reader);
            if (!value) return std::nullopt;
            values.push_back(*value);
        }
        return values;
    }
};

template <>
struct FieldCodec<ShortChannelId> {
    static void Write(WireWriter& writer, const ShortChannelId& value) { writer.WriteShortChannelId(value); }
    static std::optional<ShortChannelId> Read(WireReader& reader) { return reader.ReadShortChannelId(); }
};

template <HasFields S>
void WriteFixedFields(WireWriter& writer, const S& value)
{
    std::apply([&](auto... member) { (FieldCodec<FieldType<decltype(member)>>::Write(writer, value.*member), ...); },
               S::Fields());
}

//! S's fixed fields in order, or nullopt once the reader has failed.
template <HasFields S>
auto ReadFixedFields(WireReader& reader)
{
    return std::apply(
        [&](auto... member) {
            using Values = std::tuple<FieldType<decltype(member)>...>;
            // A braced list evaluates left to right, so the fields are read in wire order.
            std::tuple<std::optional<FieldType<decltype(member)>>...> read{
                FieldCodec<FieldType<decltype(member)>>::Read(reader)...};
            std::optional<Values> values;
            if (reader.Ok()) values = std::apply([](auto&... value) { return Values{std::move(*value)...}; }, read);
            return values;
        },
        S::Fields());
}

template <HasFields T>
struct FieldCodec<T> {
    static void Write(WireWriter& writer, const T& value) { WriteFixedFields(writer, value); }
    static std::optional<T> Read(WireReader& reader)
    {
        auto values = ReadFixedFields<T>(reader);
        if (!values) return std::nullopt;
        return std::apply([](auto&... value) { return T{std::move(value)...}; }, *values);
    }
};

/*
 * TLV values take the whole record, so a byte string has no length prefix, a feature vector is
 * its bytes, and a fixed-size value must fill the record exactly (BOLT 1: a known type with a
 * wrong length fails the stream).
 */
template <typename T>
Bytes EncodeTlvValue(const T& value)
{
    if constexpr (std::is_same_v<T, Bytes>) {
        return value;
    } else if constexpr (std::is_same_v<T, FeatureBits>) {
        return value.ToWire();
    } else {
        Bytes out;
        WireWriter writer(out);
        FieldCodec<T>::Write(writer, value);
        return out;
    }
}

template <typename T>
std::optional<T> DecodeTlvValue(ByteSpan value, WireReader& outer)
{
    if constexpr (std::is_same_v<T, Bytes>) {
        return Bytes(value.begin(), value.end());
    } else if constexpr (std::is_same_v<T, FeatureBits>) {
        return FeatureBits::FromWire(value);
    } else {
        WireReader reader(value);
        auto decoded = FieldCodec<T>::Read(reader);
        reader.ExpectEnd();
        if (!reader.Ok()) {
            outer.Fail(*reader.Error());
            return std::nullopt;
        }
        return decoded;
    }
}

//! The record's value, nullopt when it is absent or after a failure (recorded in `reader`).
template <typename Msg, typename T>
std::optional<T> ReadTlvField(const TlvStream& stream, TlvField<Msg, T> field, WireReader& reader)
{
    const Bytes* value = stream.Find(field.type);
    if (!value) return std::nullopt;
    return DecodeTlvValue<T>(*value, reader);
}

template <typename Msg, typename T>
void WriteTlvField(TlvStream& stream, const Msg& message, TlvField<Msg, T> field)
{
    if (const auto& value = message.*field.member) stream.Set(field.type, EncodeTlvValue(*value));
}

template <typename Msg>
constexpr auto TlvsOf()
{
    if constexpr (requires { Msg::Tlvs(); }) {
        return Msg::Tlvs();
    } else {
        return std::tuple<>{};
    }
}

template <typename Msg>
constexpr auto KnownTlvTypes()
{
    return std::apply([](auto... field) { return std::array<uint64_t, sizeof...(field)>{field.type...}; },
                      TlvsOf<Msg>());
}

template <typename Msg>
void EncodeFields(const Msg& message, Bytes& out)
{
    WireWriter writer(out);
    WriteFixedFields(writer, message);
    TlvStream tlvs = message.extension;
    std::apply([&](auto... field) { (WriteTlvField(tlvs, message, field), ...); }, TlvsOf<Msg>());
    tlvs.AppendTo(out);
}

template <typename Msg>
Decoded<Msg> DecodeFields(ByteSpan payload)
{
    static constexpr auto kKnownTypes = KnownTlvTypes<Msg>();
    WireReader reader(payload);
    auto fixed = ReadFixedFields<Msg>(reader);
    const TlvStream stream = ReadTlvStream(reader, kKnownTypes);
    auto known = std::apply(
        [&](auto... field) { return std::tuple{ReadTlvField(stream, field, reader)...}; }, TlvsOf<Msg>());
    if (!reader.Ok()) return *reader.Error();
    auto extension = std::tuple<TlvStream>{stream.Without(kKnownTypes)};
    auto members = std::tuple_cat(std::move(*fixed), std::move(known), std::move(extension));
    return std::apply([](auto&&... value) { return Msg{std::move(value)...}; }, std::move(members));
}

template <typename Msg>
Decoded<ChannelMessage> DecodeAs(ByteSpan payload)
{
    auto decoded = Msg::DecodePayload(payload);
    if (!decoded) return decoded.error();
    return ChannelMessage{std::move(*decoded)};
}

//! Finds the alternative of ChannelMessage whose kType is `type`.
template <size_t I = 0>
Decoded<ChannelMessage> DecodeAlternative(uint16_t type, ByteSpan payload)
{
    if constexpr (I == std::variant_size_v<ChannelMessage>) {
        throw std::invalid_argument("not a channel message type: " + std::to_string(type));
    } else {
        using Msg = std::variant_alternative_t<I, ChannelMessage>;
        if (type == static_cast<uint16_t>(Msg::kType)) return DecodeAs<Msg>(payload);
        return DecodeAlternative<I + 1>(type, payload);
    }
}

template <size_t... I>
bool IsAlternativeType(uint16_t type, std::index_sequence<I...>)
{
    return ((type == static_cast<uint16_t>(std::variant_alternative_t<I, ChannelMessage>::kType)) || ...);
}
} // namespace

#define SIDEBOLT_CHANNEL_MESSAGE_CODEC(Msg)                                                    \
    void Msg::EncodePayload(Bytes& out) const { EncodeFields(*this, out); }                    \
    Decoded<Msg> Msg::DecodePayload(ByteSpan payload) { return DecodeFields<Msg>(payload); }

SIDEBOLT_CHANNEL_MESSAGE_CODEC(OpenChannelMessage)
SIDEBOLT_CHANNEL_MESSAGE_CODEC(AcceptChannelMessage)
SIDEBOLT_CHANNEL_MESSAGE_CODEC(FundingCreatedMessage)
SIDEBOLT_CHANNEL_MESSAGE_CODEC(FundingSignedMessage)
SIDEBOLT_CHANNEL_MESSAGE_CODEC(ChannelReadyMessage)
SIDEBOLT_CHANNEL_MESSAGE_CODEC(ShutdownMessage)
SIDEBOLT_CHANNEL_MESSAGE_CODEC(ClosingSignedMessage)
SIDEBOLT_CHANNEL_MESSAGE_CODEC(UpdateAddHtlcMessage)
SIDEBOLT_CHANNEL_MESSAGE_CODEC(UpdateFulfillHtlcMessage)
SIDEBOLT_CHANNEL_MESSAGE_CODEC(UpdateFailHtlcMessage)
SIDEBOLT_CHANNEL_MESSAGE_CODEC(CommitmentSignedMessage)
SIDEBOLT_CHANNEL_MESSAGE_CODEC(RevokeAndAckMessage)
SIDEBOLT_CHANNEL_MESSAGE_CODEC(UpdateFeeMessage)
SIDEBOLT_CHANNEL_MESSAGE_CODEC(UpdateFailMalformedHtlcMessage)
SIDEBOLT_CHANNEL_MESSAGE_CODEC(ChannelReestablishMessage)

#undef SIDEBOLT_CHANNEL_MESSAGE_CODEC

bool IsChannelMessageType(uint16_t type)
{
    return IsAlternativeType(type, std::make_index_sequence<std::variant_size_v<ChannelMessage>>{});
}

Decoded<ChannelMessage> DecodeChannelMessage(uint16_t type, ByteSpan payload)
{
    return DecodeAlternative(type, payload);
}

Bytes EncodeChannelMessage(const ChannelMessage& message)
{
    return std::visit([](const auto& msg) { return EncodeMessage(msg); }, message);
}

ChannelMessageType TypeOfChannelMessage(const ChannelMessage& message)
{
    return std::visit([](const auto& msg) { return std::decay_t<decltype(msg)>::kType; }, message);
}

std::string_view ChannelMessageName(ChannelMessageType type)
{
    switch (type) {
    case ChannelMessageType::kOpenChannel: return "open_channel";
    case ChannelMessageType::kAcceptChannel: return "accept_channel";
    case ChannelMessageType::kFundingCreated: return "funding_created";
    case ChannelMessageType::kFundingSigned: return "funding_signed";
    case ChannelMessageType::kChannelReady: return "channel_ready";
    case ChannelMessageType::kShutdown: return "shutdown";
    case ChannelMessageType::kClosingSigned: return "closing_signed";
    case ChannelMessageType::kUpdateAddHtlc: return "update_add_htlc";
    case ChannelMessageType::kUpdateFulfillHtlc: return "update_fulfill_htlc";
    case ChannelMessageType::kUpdateFailHtlc: return "update_fail_htlc";
    case ChannelMessageType::kCommitmentSigned: return "commitment_signed";
    case ChannelMessageType::kRevokeAndAck: return "revoke_and_ack";
    case ChannelMessageType::kUpdateFee: return "update_fee";
    case ChannelMessageType::kUpdateFailMalformedHtlc: return "update_fail_malformed_htlc";
    case ChannelMessageType::kChannelReestablish: return "channel_reestablish";
    }
    return "unknown";
}

Hash256 ChannelIdOf(const ChannelMessage& message)
{
    return std::visit(
        [](const auto& msg) -> Hash256 {
            if constexpr (requires { msg.channel_id; }) {
                return msg.channel_id;
            } else {
                return msg.temporary_channel_id;
            }
        },
        message);
}

FeatureBits ChannelType::ToFeatureBits() const
{
    FeatureBits bits;
    bits.SetRequired(Feature::kStaticRemoteKey);
    if (anchors) bits.SetRequired(Feature::kAnchors);
    if (scid_alias) bits.SetRequired(Feature::kScidAlias);
    if (zeroconf) bits.SetRequired(Feature::kZeroconf);
    return bits;
}

std::optional<ChannelType> ChannelType::FromFeatureBits(const FeatureBits& bits)
{
    const ChannelType type{
        .anchors = bits.IsSet(RequiredBit(Feature::kAnchors)),
        .scid_alias = bits.IsSet(RequiredBit(Feature::kScidAlias)),
        .zeroconf = bits.IsSet(RequiredBit(Feature::kZeroconf)),
    };
    // Exactly the bits a defined type sets: anything else (an odd bit, an unknown feature,
    // or a type without static_remotekey) is not a channel type we can run.
    if (type.ToFeatureBits() != bits) return std::nullopt;
    return type;
}

} // namespace sidebolt
