#include "pay/hop_payload.h"

#include "wire/bigsize.h"
#include "wire/decode_error.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace sidebolt {
namespace {
constexpr uint64_t kKnownTypes[] = {hop_tlv::AMT_TO_FORWARD, hop_tlv::OUTGOING_CLTV_VALUE, hop_tlv::SHORT_CHANNEL_ID,
                                    hop_tlv::PAYMENT_DATA,   hop_tlv::PAYMENT_METADATA,    hop_tlv::KEYSEND_PREIMAGE};

//! Reads one known record's value, which must be consumed exactly; nullopt on success.
template <typename Read>
std::optional<DecodeError> ReadValue(const Bytes& value, Read&& read)
{
    WireReader reader(value);
    read(reader);
    reader.ExpectEnd();
    return reader.Error();
}

std::optional<DecodeError> DecodeRecord(const TlvRecord& record, HopPayload& out)
{
    switch (record.type) {
    case hop_tlv::AMT_TO_FORWARD:
        return ReadValue(record.value, [&](WireReader& r) { out.amt_to_forward = Msat{r.ReadTu64()}; });
    case hop_tlv::OUTGOING_CLTV_VALUE:
        return ReadValue(record.value, [&](WireReader& r) { out.outgoing_cltv_value = r.ReadTu32(); });
    case hop_tlv::SHORT_CHANNEL_ID:
        return ReadValue(record.value, [&](WireReader& r) { out.short_channel_id = r.ReadShortChannelId(); });
    case hop_tlv::PAYMENT_DATA:
        return ReadValue(record.value, [&](WireReader& r) {
            PaymentData data;
            data.payment_secret = r.ReadArray<32>();
            data.total_msat = Msat{r.ReadTu64()};
            out.payment_data = data;
        });
    case hop_tlv::PAYMENT_METADATA:
        out.payment_metadata = record.value;
        return std::nullopt;
    case hop_tlv::KEYSEND_PREIMAGE:
        return ReadValue(record.value, [&](WireReader& r) { out.keysend_preimage = r.ReadArray<32>(); });
    default:
        // TlvStream::Decode already rejected unknown even types: "it's ok to be odd".
        out.unknown_odd_records.push_back(record);
        return std::nullopt;
    }
}

size_t RecordSize(const TlvRecord& record)
{
    return BigSizeLength(record.type) + BigSizeLength(record.value.size()) + record.value.size();
}

template <typename Write>
Bytes Value(Write&& write)
{
    Bytes value;
    WireWriter writer(value);
    write(writer);
    return value;
}

PayloadError Missing(uint64_t type, const char* name) { return PayloadError{type, 0, std::string("missing ") + name}; }
PayloadError Forbidden(uint64_t type, const char* name, const char* where)
{
    return PayloadError{type, 0, std::string(name) + " not allowed " + where};
}
} // namespace

Bytes EncodeHopPayload(const HopPayload& payload)
{
    TlvStream stream;
    for (const auto& record : payload.unknown_odd_records) {
        if (!IsOkToBeOdd(record.type)) throw std::invalid_argument("hop payload extra record has an even type");
        stream.Set(record.type, record.value);
    }
    if (payload.amt_to_forward) {
        stream.Set(hop_tlv::AMT_TO_FORWARD, Value([&](WireWriter& w) { w.WriteTu64(payload.amt_to_forward->value()); }));
    }
    if (payload.outgoing_cltv_value) {
        stream.Set(hop_tlv::OUTGOING_CLTV_VALUE, Value([&](WireWriter& w) { w.WriteTu32(*payload.outgoing_cltv_value); }));
    }
    if (payload.short_channel_id) {
        stream.Set(hop_tlv::SHORT_CHANNEL_ID, Value([&](WireWriter& w) { w.WriteShortChannelId(*payload.short_channel_id); }));
    }
    if (payload.payment_data) {
        stream.Set(hop_tlv::PAYMENT_DATA, Value([&](WireWriter& w) {
                       w.WriteBytes(payload.payment_data->payment_secret);
                       w.WriteTu64(payload.payment_data->total_msat.value());
                   }));
    }
    if (payload.payment_metadata) stream.Set(hop_tlv::PAYMENT_METADATA, *payload.payment_metadata);
    if (payload.keysend_preimage) {
        stream.Set(hop_tlv::KEYSEND_PREIMAGE, Bytes(payload.keysend_preimage->begin(), payload.keysend_preimage->end()));
    }
    return stream.Encode();
}

Expected<HopPayload, PayloadError> DecodeHopPayload(ByteSpan tlv_stream)
{
    const auto stream = TlvStream::Decode(tlv_stream, kKnownTypes);
    if (!stream) return PayloadError{0, 0, "invalid tlv stream: " + std::string(ToString(stream.error()))};
    HopPayload payload;
    size_t offset = 0;
    for (const auto& record : stream->Records()) {
        if (const auto error = DecodeRecord(record, payload)) {
            const auto clamped = static_cast<uint16_t>(std::min<size_t>(offset, std::numeric_limits<uint16_t>::max()));
            return PayloadError{record.type, clamped, "invalid value: " + std::string(ToString(*error))};
        }
        offset += RecordSize(record);
    }
    return payload;
}

std::optional<PayloadError> CheckForwardPayload(const HopPayload& payload)
{
    // "MUST return an error if amt_to_forward or outgoing_cltv_value are not present";
    // "if it is not the final node: MUST return an error if: short_channel_id is not present".
    if (!payload.amt_to_forward) return Missing(hop_tlv::AMT_TO_FORWARD, "amt_to_forward");
    if (!payload.outgoing_cltv_value) return Missing(hop_tlv::OUTGOING_CLTV_VALUE, "outgoing_cltv_value");
    if (!payload.short_channel_id) return Missing(hop_tlv::SHORT_CHANNEL_ID, "short_channel_id");
    // The writer "For every non-final node: MUST NOT include payment_data"; metadata and the keysend
    // preimage are final-node data too. Carrying them means the sender confused hops.
    if (payload.payment_data) return Forbidden(hop_tlv::PAYMENT_DATA, "payment_data", "on a forwarding hop");
    if (payload.payment_metadata) return Forbidden(hop_tlv::PAYMENT_METADATA, "payment_metadata", "on a forwarding hop");
    if (payload.keysend_preimage) return Forbidden(hop_tlv::KEYSEND_PREIMAGE, "keysend_preimage", "on a forwarding hop");
    return std::nullopt;
}

std::optional<PayloadError> CheckFinalPayload(const HopPayload& payload)
{
    // "MUST return an error if amt_to_forward or outgoing_cltv_value are not present"; the writer
    // "For the final node: MUST NOT include short_channel_id".
    if (!payload.amt_to_forward) return Missing(hop_tlv::AMT_TO_FORWARD, "amt_to_forward");
    if (!payload.outgoing_cltv_value) return Missing(hop_tlv::OUTGOING_CLTV_VALUE, "outgoing_cltv_value");
    if (payload.short_channel_id) return Forbidden(hop_tlv::SHORT_CHANNEL_ID, "short_channel_id", "on the final hop");
    return std::nullopt;
}

Msat FinalTotalMsat(const HopPayload& payload)
{
    if (payload.payment_data) return payload.payment_data->total_msat;
    if (!payload.amt_to_forward) throw std::logic_error("final payload without amt_to_forward");
    return *payload.amt_to_forward;
}

} // namespace sidebolt
