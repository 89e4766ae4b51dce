#include "node/payment_record.h"

#include <algorithm>
#include <bit>

namespace sidebolt {
namespace {

constexpr uint8_t kLinkVersion = 1;
//! Version 2 adds the retry state of a pending payment; version 1 records read without it.
constexpr uint8_t kPaymentVersion = 3;
//! Version 2's retry state has no channels refused by amount; version 1 has no retry state.
constexpr uint8_t kPaymentVersionNoTooLarge = 2;
constexpr uint8_t kPaymentVersionNoRetry = 1;
constexpr uint8_t kForwardTag = 1;
constexpr uint8_t kPaymentTag = 2;
//! Bounds on lengths read back, so a corrupt record cannot make us allocate without limit.
constexpr uint32_t kMaxStringSize = 8192;
constexpr uint32_t kMaxParts = 10'000;
//! BOLT 4 onions carry at most 27 hops; hints are bounded the same way.
constexpr uint32_t kMaxHops = 27;
constexpr uint32_t kMaxHints = 1000;

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

//! A count read back, failing the reader when it exceeds limit.
uint32_t ReadCount(WireReader& r, uint32_t limit)
{
    const uint32_t count = r.ReadU32();
    if (count <= limit) return count;
    r.Fail(DecodeError::kBadLength);
    return 0;
}

void WriteOptionalHash(WireWriter& w, const std::optional<Hash256>& hash)
{
    w.WriteU8(hash ? 1 : 0);
    if (hash) w.WriteBytes(*hash);
}

std::optional<Hash256> ReadOptionalHash(WireReader& r)
{
    if (r.ReadU8() == 0) return std::nullopt;
    return r.ReadArray<32>();
}

void WriteRoute(WireWriter& w, const Route& route)
{
    w.WriteU32(static_cast<uint32_t>(route.hops.size()));
    for (const auto& hop : route.hops) {
        w.WritePoint(hop.node_id);
        w.WriteShortChannelId(hop.short_channel_id);
        w.WriteU64(hop.amount_msat.value());
        w.WriteU32(hop.cltv_expiry);
    }
}

Route ReadRoute(WireReader& r)
{
    Route route;
    const uint32_t count = ReadCount(r, kMaxHops);
    for (uint32_t i = 0; i < count && r.Ok(); ++i) {
        const auto node_id = r.ReadPoint();
        if (!node_id) break; // ReadPoint failed the reader
        const ShortChannelId scid = r.ReadShortChannelId();
        const Msat amount{r.ReadU64()};
        route.hops.push_back(RouteHop{*node_id, scid, amount, r.ReadU32()});
    }
    return route;
}

void WriteHint(WireWriter& w, const std::vector<HintHop>& hint)
{
    w.WriteU32(static_cast<uint32_t>(hint.size()));
    for (const auto& hop : hint) {
        w.WritePoint(hop.node_id);
        w.WriteShortChannelId(hop.short_channel_id);
        w.WriteU64(hop.fee_base_msat.value());
        w.WriteU32(hop.fee_proportional_millionths);
        w.WriteU16(hop.cltv_expiry_delta);
    }
}

void WriteRetryState(WireWriter& w, const PaymentRetryState& retry)
{
    WriteOptionalHash(w, retry.payment_secret);
    w.WriteU8(retry.payment_metadata ? 1 : 0);
    if (retry.payment_metadata) {
        w.WriteU32(static_cast<uint32_t>(retry.payment_metadata->size()));
        w.WriteBytes(*retry.payment_metadata);
    }
    WriteOptionalHash(w, retry.keysend_preimage);
    w.WriteU32(retry.min_final_cltv_expiry_delta);
    w.WriteU32(static_cast<uint32_t>(retry.route_hints.size()));
    for (const auto& hint : retry.route_hints) WriteHint(w, hint);
    w.WriteU8(retry.fixed_route ? 1 : 0);
    if (retry.fixed_route) WriteRoute(w, *retry.fixed_route);
    // The percentage exactly as the caller gave it: its bits.
    w.WriteU64(std::bit_cast<uint64_t>(retry.max_fee_percent));
    w.WriteU64(retry.exempt_fee_msat.value());
    w.WriteU32(retry.max_delay);
    w.WriteU64(retry.retry_deadline);
    w.WriteU32(static_cast<uint32_t>(retry.excluded.size()));
    for (const auto& scid : retry.excluded) w.WriteShortChannelId(scid);
    w.WriteU8(retry.refused ? 1 : 0);
    w.WriteU32(static_cast<uint32_t>(retry.in_flight.size()));
    for (const auto& attempt : retry.in_flight) {
        w.WriteU64(attempt.part_id);
        WriteRoute(w, attempt.route);
        w.WriteU32(static_cast<uint32_t>(attempt.shared_secrets.size()));
        for (const auto& secret : attempt.shared_secrets) w.WriteBytes(secret.span());
    }
    w.WriteU32(static_cast<uint32_t>(retry.too_large.size()));
    for (const auto& [scid, amount] : retry.too_large) {
        w.WriteShortChannelId(scid);
        w.WriteU64(amount.value());
    }
}

std::vector<HintHop> ReadHint(WireReader& r)
{
    std::vector<HintHop> hint;
    const uint32_t count = ReadCount(r, kMaxHops);
    for (uint32_t i = 0; i < count && r.Ok(); ++i) {
        const auto node_id = r.ReadPoint();
        if (!node_id) break; // ReadPoint failed the reader
        const ShortChannelId scid = r.ReadShortChannelId();
        const Msat fee_base{r.ReadU64()};
        const uint32_t fee_ppm = r.ReadU32();
        hint.push_back(HintHop{*node_id, scid, fee_base, fee_ppm, r.ReadU16()});
    }
    return hint;
}

PartAttempt ReadAttempt(WireReader& r)
{
    PartAttempt attempt;
    attempt.part_id = r.ReadU64();
    attempt.route = ReadRoute(r);
    const uint32_t secrets = ReadCount(r, kMaxHops);
    for (uint32_t i = 0; i < secrets && r.Ok(); ++i) {
        const ByteSpan secret = r.ReadBytes(32);
        if (secret.size() == 32) attempt.shared_secrets.emplace_back(secret);
    }
    return attempt;
}

PaymentRetryState ReadRetryState(WireReader& r, uint8_t version)
{
    PaymentRetryState retry;
    retry.payment_secret = ReadOptionalHash(r);
    if (r.ReadU8() != 0) {
        const uint32_t size = ReadCount(r, kMaxStringSize);
        const ByteSpan metadata = r.ReadBytes(size);
        retry.payment_metadata = Bytes(metadata.begin(), metadata.end());
    }
    retry.keysend_preimage = ReadOptionalHash(r);
    retry.min_final_cltv_expiry_delta = r.ReadU32();
    const uint32_t hints = ReadCount(r, kMaxHints);
    for (uint32_t i = 0; i < hints && r.Ok(); ++i) retry.route_hints.push_back(ReadHint(r));
    if (r.ReadU8() != 0) retry.fixed_route = ReadRoute(r);
    retry.max_fee_percent = std::bit_cast<double>(r.ReadU64());
    retry.exempt_fee_msat = Msat{r.ReadU64()};
    retry.max_delay = r.ReadU32();
    retry.retry_deadline = r.ReadU64();
    const uint32_t excluded = ReadCount(r, kMaxParts);
    for (uint32_t i = 0; i < excluded && r.Ok(); ++i) retry.excluded.push_back(r.ReadShortChannelId());
    retry.refused = r.ReadU8() != 0;
    const uint32_t in_flight = ReadCount(r, kMaxParts);
    for (uint32_t i = 0; i < in_flight && r.Ok(); ++i) retry.in_flight.push_back(ReadAttempt(r));
    if (version == kPaymentVersionNoTooLarge) return retry;
    const uint32_t too_large = ReadCount(r, kMaxParts);
    for (uint32_t i = 0; i < too_large && r.Ok(); ++i) {
        const ShortChannelId scid = r.ReadShortChannelId();
        retry.too_large.push_back({scid, Msat{r.ReadU64()}});
    }
    return retry;
}

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
    w.WriteU8(record.retry ? 1 : 0);
    if (record.retry) WriteRetryState(w, *record.retry);
    return out;
}

std::optional<PaymentRecord> DeserializePaymentRecord(ByteSpan data)
{
    WireReader r(data);
    const uint8_t version = r.ReadU8();
    if (version != kPaymentVersion && version != kPaymentVersionNoTooLarge && version != kPaymentVersionNoRetry) return std::nullopt;
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
    if (version != kPaymentVersionNoRetry && r.ReadU8() != 0) record.retry = ReadRetryState(r, version);
    if (!r.Ok() || !r.AtEnd()) return std::nullopt;
    return record;
}

} // namespace sidebolt
