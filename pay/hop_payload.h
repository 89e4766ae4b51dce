#ifndef SIDEBOLT_PAY_HOP_PAYLOAD_H
#define SIDEBOLT_PAY_HOP_PAYLOAD_H

#include "primitives/hash.h"
#include "util/amount.h"
#include "util/bytes.h"
#include "wire/expected.h"
#include "wire/tlv.h"
#include "wire/wire.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sidebolt {

//! BOLT 4 payload TLV types (non-blinded payments) and the keysend preimage.
namespace hop_tlv {
inline constexpr uint64_t AMT_TO_FORWARD = 2;
inline constexpr uint64_t OUTGOING_CLTV_VALUE = 4;
inline constexpr uint64_t SHORT_CHANNEL_ID = 6;
inline constexpr uint64_t PAYMENT_DATA = 8;
inline constexpr uint64_t PAYMENT_METADATA = 16;
inline constexpr uint64_t KEYSEND_PREIMAGE = 5482373484;
} // namespace hop_tlv

struct PaymentData {
    Hash256 payment_secret{};
    Msat total_msat{0};
    bool operator==(const PaymentData&) const = default;
};

//! A decoded BOLT 4 `payload` tlv_stream. Route blinding (types 10, 12, 18) is not supported:
//! those even types are unknown here and so rejected.
struct HopPayload {
    std::optional<Msat> amt_to_forward;             //!< type 2 (tu64)
    std::optional<uint32_t> outgoing_cltv_value;    //!< type 4 (tu32)
    std::optional<ShortChannelId> short_channel_id; //!< type 6
    std::optional<PaymentData> payment_data;        //!< type 8
    std::optional<Bytes> payment_metadata;          //!< type 16
    std::optional<Hash256> keysend_preimage;        //!< type 5482373484 (keysend)
    //! Odd records we do not interpret (e.g. custom records of keysend apps), in type order;
    //! kept so the node can pass them on and encoding reproduces the received stream.
    std::vector<TlvRecord> unknown_odd_records;

    bool operator==(const HopPayload&) const = default;
};

//! The TLV stream, without the onion's length prefix. Throws std::invalid_argument when an
//! unknown_odd_records entry has an even or known type (a local bug).
Bytes EncodeHopPayload(const HopPayload& payload);

//! What invalid_onion_payload reports: "If the failure can be narrowed down to a specific tlv type
//! in the payload, the erring node may include that type and its byte offset in the decrypted
//! byte stream". offset is where that record starts in the TLV stream; type and offset are 0 when
//! the stream itself is malformed.
struct PayloadError {
    uint64_t tlv_type{0};
    uint16_t offset{0};
    std::string reason;
};

//! BOLT 1 TLV rules (unknown even types are errors, odd ones kept) and each known value's exact
//! encoding (minimal truncated integers, fixed sizes).
Expected<HopPayload, PayloadError> DecodeHopPayload(ByteSpan tlv_stream);

//! Reader rules for a hop that must forward: amt_to_forward, outgoing_cltv_value and
//! short_channel_id present; final-hop-only fields (payment_data, payment_metadata, keysend) absent.
std::optional<PayloadError> CheckForwardPayload(const HopPayload& payload);
//! Reader rules for the final node: amt_to_forward and outgoing_cltv_value present,
//! short_channel_id absent.
std::optional<PayloadError> CheckFinalPayload(const HopPayload& payload);

//! The final node "MUST treat total_msat as if it were equal to amt_to_forward if it is not
//! present". Requires amt_to_forward (CheckFinalPayload passed).
Msat FinalTotalMsat(const HopPayload& payload);

} // namespace sidebolt

#endif
