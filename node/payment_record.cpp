#include "node/payment_record.h"

#include <algorithm>

namespace sidebolt {
namespace {

constexpr uint8_t kLinkVersion = 1;
constexpr uint8_t kPaymentVersion = 1;
constexpr uint8_t kForwardTag = 1;
constexpr uint8_t kPaymentTag = 2;
//! Bounds on lengths read back, so a corrupt record cannot make us allocate without limit.
constexpr uint32_t kMaxStringSize = 8192;
constexpr uint32_t kMaxParts = 10'000;

void WriteString(WireWriter& w, std::string_view text)
{
    w.WriteU32(static_cast<uint32_t>(text.size()));
    w.WriteBytes(ByteSpan{reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

std::string ReadString(WireReader& r)
{
    const uint32_t size = r.ReadU32();
    if (size > kMaxStringSize) {
        r.Fail(DecodeError::kBadLength);
        return {};
    }
    const ByteSpan bytes = r.ReadBytes(size);
    return std::string(bytes.begin(), bytes.end());
}

template <size_t N>
void ReadArray(WireReader& r, ByteArray<N>& out)
{
    out = r.ReadArray<N>();
}

bool KnownStatus(uint8_t status) { return status >= 1 && status <= 3; }

} // namespace

Bytes SerializeHtlcLink(const HtlcLink& link)
{
    Bytes out;
    WireWriter w(out);
    w.WriteU8(kLinkVersion);
    if (const auto* forward = std::get_if<ForwardLink>(&link)) {
        w.WriteU8(kForwardTag);
        w.WriteBytes(forward->incoming_channel_id);
        w.WriteU64(forward->incoming_htlc_id);
        w.WriteBytes(forward->shared_secret.span());
        w.WriteU64(forward->incoming_msat.value());
        w.WriteU64(forward->outgoing_msat.value());
    } else {
        const auto& payment = std::get<PaymentLink>(link);
        w.WriteU8(kPaymentTag);
        w.WriteBytes(payment.payment_hash);
        w.WriteU64(payment.part_id);
    }
    return out;
}

std::optional<HtlcLink> DeserializeHtlcLink(ByteSpan data)
{
    WireReader r(data);
    if (r.ReadU8() != kLinkVersion) return std::nullopt;
    const uint8_t tag = r.ReadU8();
    HtlcLink link;
    if (tag == kForwardTag) {
        ForwardLink forward;
        ReadArray(r, forward.incoming_channel_id);
        forward.incoming_htlc_id = r.ReadU64();
        const ByteSpan secret = r.ReadBytes(32);
        if (secret.size() == 32) forward.shared_secret = Secret<32>(secret);
        forward.incoming_msat = Msat{r.ReadU64()};
        forward.outgoing_msat = Msat{r.ReadU64()};
        link = forward;
    } else if (tag == kPaymentTag) {
        PaymentLink payment;
        ReadArray(r, payment.payment_hash);
        payment.part_id = r.ReadU64();
        link = payment;
    } else {
        return std::nullopt;
    }
    if (!r.Ok() || !r.AtEnd()) return std::nullopt;
    return link;
}

std::string_view PaymentStatusName(PaymentStatus status)
{
    switch (status) {
    case PaymentStatus::PENDING: return "pending";
    case PaymentStatus::COMPLETE: return "complete";
    case PaymentStatus::FAILED: return "failed";
    }
    return "unknown";
}

Msat PaymentRecord::AmountInFlightOrDone() const
{
    Msat total{0};
    for (const auto& part : parts) {
        if (part.status != PaymentStatus::FAILED) total = total + part.amount_msat;
    }
    return total;
}

Msat PaymentRecord::AmountSentSettled() const
{
    Msat total{0};
    for (const auto& part : parts) {
        if (part.status == PaymentStatus::COMPLETE) total = total + part.amount_sent_msat;
    }
    return total;
}

bool PaymentRecord::HasPendingParts() const
{
    return std::any_of(parts.begin(), parts.end(), [](const auto& p) { return p.status == PaymentStatus::PENDING; });
}

Bytes SerializePaymentRecord(const PaymentRecord& record)
{
    Bytes out;
    WireWriter w(out);
    w.WriteU8(kPaymentVersion);
    w.WriteBytes(record.payment_hash);
    w.WriteBytes(record.destination);
    w.WriteU64(record.amount_msat.value());
    w.WriteU8(static_cast<uint8_t>(record.status));
    w.WriteU8(record.preimage ? 1 : 0);
    if (record.preimage) w.WriteBytes(*record.preimage);
    w.WriteU64(record.created_at);
    w.WriteU64(record.completed_at);
    w.WriteU32(record.attempts);
    WriteString(w, record.failure);
    w.WriteU8(record.failure_code ? 1 : 0);
    if (record.failure_code) w.WriteU16(*record.failure_code);
    w.WriteU8(record.erring_index ? 1 : 0);
    if (record.erring_index) w.WriteU32(*record.erring_index);
    WriteString(w, record.bolt11);
    WriteString(w, record.label);
    w.WriteU64(record.next_part_id);
    w.WriteU32(static_cast<uint32_t>(record.parts.size()));
    for (const auto& part : record.parts) {
        w.WriteU64(part.part_id);
        w.WriteBytes(part.channel_id);
        w.WriteU64(part.htlc_id);
        w.WriteU64(part.amount_sent_msat.value());
        w.WriteU64(part.amount_msat.value());
        w.WriteU8(static_cast<uint8_t>(part.status));
        WriteString(w, part.route);
    }
    return out;
}

std::optional<PaymentRecord> DeserializePaymentRecord(ByteSpan data)
{
    WireReader r(data);
    if (r.ReadU8() != kPaymentVersion) return std::nullopt;
    PaymentRecord record;
    ReadArray(r, record.payment_hash);
    ReadArray(r, record.destination);
    record.amount_msat = Msat{r.ReadU64()};
    const uint8_t status = r.ReadU8();
    if (!KnownStatus(status)) return std::nullopt;
    record.status = static_cast<PaymentStatus>(status);
    if (r.ReadU8() != 0) {
        Hash256 preimage{};
        ReadArray(r, preimage);
        record.preimage = preimage;
    }
    record.created_at = r.ReadU64();
    record.completed_at = r.ReadU64();
    record.attempts = r.ReadU32();
    record.failure = ReadString(r);
    if (r.ReadU8() != 0) record.failure_code = r.ReadU16();
    if (r.ReadU8() != 0) record.erring_index = r.ReadU32();
    record.bolt11 = ReadString(r);
    record.label = ReadString(r);
    record.next_part_id = r.ReadU64();
    const uint32_t count = r.ReadU32();
    if (count > kMaxParts) return std::nullopt;
    for (uint32_t i = 0; i < count && r.Ok(); ++i) {
        PaymentPart part;
        part.part_id = r.ReadU64();
        ReadArray(r, part.channel_id);
        part.htlc_id = r.ReadU64();
        part.amount_sent_msat = Msat{r.ReadU64()};
        part.amount_msat = Msat{r.ReadU64()};
        const uint8_t part_status = r.ReadU8();
        if (!KnownStatus(part_status)) return std::nullopt;
        part.status = static_cast<PaymentStatus>(part_status);
        part.route = ReadString(r);
        record.parts.push_back(std::move(part));
    }
    if (!r.Ok() || !r.AtEnd()) return std::nullopt;
    return record;
}

} // namespace sidebolt
