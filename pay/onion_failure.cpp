#include "pay/onion_failure.h"

#include "pay/onion_crypto.h"
#include "wire/wire.h"

#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>
#include <string_view>

namespace sidebolt {
namespace {

constexpr size_t kHmacSize = 32;
//! BOLT 4: the origin "SHOULD continue decrypting, until the loop has been repeated 20 times".
constexpr size_t kMinDecryptRounds = 20;

Hash256 PacketHmac(const Secret<32>& shared_secret, ByteSpan body)
{
    return HmacSha256(DeriveUmKey(shared_secret).span(), body);
}

template <typename Write>
FailureMessage Build(FailureCode code, Write&& write)
{
    FailureMessage message{static_cast<uint16_t>(code), {}};
    WireWriter writer(message.data);
    write(writer);
    return message;
}

void Require(bool ok, const char* what)
{
    if (!ok) throw std::invalid_argument(what);
}

bool HasNoFields(FailureCode code)
{
    switch (code) {
    case FailureCode::INVALID_REALM:
    case FailureCode::TEMPORARY_NODE_FAILURE:
    case FailureCode::PERMANENT_NODE_FAILURE:
    case FailureCode::REQUIRED_NODE_FEATURE_MISSING:
    case FailureCode::PERMANENT_CHANNEL_FAILURE:
    case FailureCode::REQUIRED_CHANNEL_FEATURE_MISSING:
    case FailureCode::UNKNOWN_NEXT_PEER:
    case FailureCode::EXPIRY_TOO_FAR:
    case FailureCode::INVALID_ONION_PAYLOAD:
    case FailureCode::MPP_TIMEOUT:
        return true;
    default:
        return false;
    }
}

Bytes ReadU16Prefixed(WireReader& reader)
{
    const uint16_t len = reader.ReadU16();
    const ByteSpan bytes = reader.ReadBytes(len);
    return Bytes(bytes.begin(), bytes.end());
}

//! Reads the fields BOLT 4 defines for `details.code`; unknown codes have none.
void ReadFields(WireReader& reader, FailureDetails& details)
{
    switch (static_cast<FailureCode>(details.code)) {
    case FailureCode::INVALID_ONION_VERSION:
    case FailureCode::INVALID_ONION_HMAC:
    case FailureCode::INVALID_ONION_KEY:
    case FailureCode::INVALID_ONION_BLINDING:
        details.sha256_of_onion = reader.ReadArray<32>();
        return;
    case FailureCode::TEMPORARY_CHANNEL_FAILURE:
    case FailureCode::EXPIRY_TOO_SOON:
        details.channel_update = ReadU16Prefixed(reader);
        return;
    case FailureCode::AMOUNT_BELOW_MINIMUM:
    case FailureCode::FEE_INSUFFICIENT:
        details.htlc_msat = Msat{reader.ReadU64()};
        details.channel_update = ReadU16Prefixed(reader);
        return;
    case FailureCode::INCORRECT_CLTV_EXPIRY:
        details.cltv_expiry = reader.ReadU32();
        details.channel_update = ReadU16Prefixed(reader);
        return;
    case FailureCode::CHANNEL_DISABLED:
        details.disabled_flags = reader.ReadU16();
        details.channel_update = ReadU16Prefixed(reader);
        return;
    case FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS:
        details.htlc_msat = Msat{reader.ReadU64()};
        details.height = reader.ReadU32();
        return;
    case FailureCode::FINAL_INCORRECT_CLTV_EXPIRY:
        details.cltv_expiry = reader.ReadU32();
        return;
    case FailureCode::FINAL_INCORRECT_HTLC_AMOUNT:
        details.htlc_msat = Msat{reader.ReadU64()};
        return;
    case FailureCode::INVALID_ONION_PAYLOAD:
        // "the erring node may include that `type` and its byte `offset`": both or neither.
        if (reader.AtEnd()) return;
        details.tlv_type = reader.ReadBigSize();
        details.offset = reader.ReadU16();
        return;
    default:
        return;
    }
}

//! The origin's view of a packet whose HMAC matched at `hop_index`.
AttributedFailure Attribute(size_t hop_index, ByteSpan packet)
{
    WireReader reader(packet.subspan(kHmacSize));
    const uint16_t failure_len = reader.ReadU16();
    // failuremsg must hold a failure_code and be followed by pad_len.
    if (failure_len < 2 || reader.Remaining() < size_t{failure_len} + 2) return {hop_index, {}, true};
    WireReader message(reader.ReadBytes(failure_len));
    const uint16_t code = message.ReadU16();
    const ByteSpan data = message.ReadRemaining();
    return {hop_index, FailureMessage{code, Bytes(data.begin(), data.end())}, false};
}

} // namespace

FailureMessage MakeFailure(FailureCode code)
{
    Require(HasNoFields(code), "failure code carries fields");
    return FailureMessage{static_cast<uint16_t>(code), {}};
}

FailureMessage MakeFailureWithUpdate(FailureCode code, ByteSpan channel_update)
{
    Require(code == FailureCode::TEMPORARY_CHANNEL_FAILURE || code == FailureCode::EXPIRY_TOO_SOON,
            "failure code carries more than a channel_update");
    return Build(code, [&](WireWriter& w) { w.WriteU16Prefixed(channel_update); });
}

FailureMessage MakeAmountBelowMinimum(Msat htlc_msat, ByteSpan channel_update)
{
    return Build(FailureCode::AMOUNT_BELOW_MINIMUM, [&](WireWriter& w) {
        w.WriteU64(htlc_msat.value());
        w.WriteU16Prefixed(channel_update);
    });
}

FailureMessage MakeFeeInsufficient(Msat htlc_msat, ByteSpan channel_update)
{
    return Build(FailureCode::FEE_INSUFFICIENT, [&](WireWriter& w) {
        w.WriteU64(htlc_msat.value());
        w.WriteU16Prefixed(channel_update);
    });
}

FailureMessage MakeIncorrectCltvExpiry(uint32_t cltv_expiry, ByteSpan channel_update)
{
    return Build(FailureCode::INCORRECT_CLTV_EXPIRY, [&](WireWriter& w) {
        w.WriteU32(cltv_expiry);
        w.WriteU16Prefixed(channel_update);
    });
}

FailureMessage MakeChannelDisabled(uint16_t disabled_flags, ByteSpan channel_update)
{
    return Build(FailureCode::CHANNEL_DISABLED, [&](WireWriter& w) {
        w.WriteU16(disabled_flags);
        w.WriteU16Prefixed(channel_update);
    });
}

FailureMessage MakeIncorrectPaymentDetails(Msat htlc_msat, uint32_t height)
{
    return Build(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS, [&](WireWriter& w) {
        w.WriteU64(htlc_msat.value());
        w.WriteU32(height);
    });
}

FailureMessage MakeFinalIncorrectCltvExpiry(uint32_t cltv_expiry)
{
    return Build(FailureCode::FINAL_INCORRECT_CLTV_EXPIRY, [&](WireWriter& w) { w.WriteU32(cltv_expiry); });
}

FailureMessage MakeFinalIncorrectHtlcAmount(Msat incoming_htlc_amt)
{
    return Build(FailureCode::FINAL_INCORRECT_HTLC_AMOUNT, [&](WireWriter& w) { w.WriteU64(incoming_htlc_amt.value()); });
}

FailureMessage MakeInvalidOnionPayload(uint64_t tlv_type, uint16_t offset)
{
    return Build(FailureCode::INVALID_ONION_PAYLOAD, [&](WireWriter& w) {
        w.WriteBigSize(tlv_type);
        w.WriteU16(offset);
    });
}

FailureMessage MakeBadOnion(FailureCode code, const Hash256& sha256_of_onion)
{
    Require(HasFlag(static_cast<uint16_t>(code), failure_flag::BADONION), "failure code is not a BADONION code");
    return Build(code, [&](WireWriter& w) { w.WriteBytes(sha256_of_onion); });
}

Bytes EncodeFailureMessage(const FailureMessage& message)
{
    Bytes out;
    WireWriter writer(out);
    writer.WriteU16(message.code);
    writer.WriteBytes(message.data);
    return out;
}

Decoded<FailureDetails> ParseFailureMessage(ByteSpan failuremsg)
{
    WireReader reader(failuremsg);
    FailureDetails details;
    details.code = reader.ReadU16();
    ReadFields(reader, details);
    if (!reader.Ok()) return *reader.Error();
    const ByteSpan extra = reader.ReadRemaining();
    details.extra.assign(extra.begin(), extra.end());
    if (!extra.empty()) {
        // No failure TLV type is defined yet, so every even type is unknown.
        auto stream = TlvStream::Decode(extra, {});
        if (stream) details.tlv_stream = std::move(*stream);
    }
    return details;
}

Secret<32> DeriveUmKey(const Secret<32>& shared_secret) { return GenerateOnionKey("um", shared_secret); }

Secret<32> DeriveAmmagKey(const Secret<32>& shared_secret) { return GenerateOnionKey("ammag", shared_secret); }

Bytes CreateFailureOnion(const Secret<32>& shared_secret, const FailureMessage& message, size_t padded_len)
{
    const Bytes failuremsg = EncodeFailureMessage(message);
    const size_t total = std::max({padded_len, kFailurePaddedLen, failuremsg.size()});
    if (kHmacSize + 4 + total > kMaxFailureOnionSize) throw std::length_error("failure onion too large");
    Bytes packet(kHmacSize);
    WireWriter writer(packet);
    writer.WriteU16Prefixed(failuremsg);
    writer.WriteU16(static_cast<uint16_t>(total - failuremsg.size()));
    packet.resize(kHmacSize + 4 + total);
    const Hash256 hmac = PacketHmac(shared_secret, ByteSpan(packet).subspan(kHmacSize));
    std::copy(hmac.begin(), hmac.end(), packet.begin());
    XorChaCha20Stream(DeriveAmmagKey(shared_secret), packet);
    return packet;
}

Bytes WrapFailureOnion(const Secret<32>& shared_secret, ByteSpan reason)
{
    Bytes packet(reason.begin(), reason.end());
    XorChaCha20Stream(DeriveAmmagKey(shared_secret), packet);
    return packet;
}

std::optional<AttributedFailure> DecryptFailureOnion(std::span<const Secret<32>> shared_secrets, ByteSpan reason)
{
    if (reason.size() < kMinFailureOnionSize || reason.size() > kMaxFailureOnionSize) return std::nullopt;
    Bytes packet(reason.begin(), reason.end());
    const Secret<32> constant_secret;
    std::optional<AttributedFailure> result;
    const size_t rounds = std::max(kMinDecryptRounds, shared_secrets.size());
    for (size_t i = 0; i < rounds; ++i) {
        const bool in_route = i < shared_secrets.size();
        const Secret<32>& secret = in_route ? shared_secrets[i] : constant_secret;
        XorChaCha20Stream(DeriveAmmagKey(secret), packet);
        const Hash256 expected = PacketHmac(secret, ByteSpan(packet).subspan(kHmacSize));
        const bool match = CRYPTO_memcmp(expected.data(), packet.data(), kHmacSize) == 0;
        if (match && in_route && !result) result = Attribute(i, packet);
    }
    return result;
}

} // namespace sidebolt
