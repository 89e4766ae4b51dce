#ifndef SIDEBOLT_PAY_ONION_FAILURE_H
#define SIDEBOLT_PAY_ONION_FAILURE_H

#include "pay/failure_codes.h"
#include "primitives/hash.h"
#include "util/amount.h"
#include "util/bytes.h"
#include "util/secure.h"
#include "wire/decode_error.h"
#include "wire/tlv.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace sidebolt {

//! A BOLT 4 failuremsg: the failure_code, then `data`: the code's own fields followed by the
//! optional failure TLV stream.
struct FailureMessage {
    uint16_t code{0};
    Bytes data;
    bool operator==(const FailureMessage&) const = default;
};

// Builders for the "Failure Messages" of BOLT 4 ("MUST include the appropriate data for that
// particular error type"). A code that does not fit the builder throws std::invalid_argument
// and a channel_update over 65535 bytes std::length_error: both are local bugs.
// `channel_update` is the whole message "*with* the message type prefix, i.e. it should always
// start with 0x0102".

//! Codes without fields: invalid_realm, temporary/permanent_node_failure,
//! required_node_feature_missing, permanent_channel_failure, required_channel_feature_missing,
//! unknown_next_peer, expiry_too_far, mpp_timeout, and invalid_onion_payload (whose type and
//! offset are optional).
FailureMessage MakeFailure(FailureCode code);
//! temporary_channel_failure and expiry_too_soon, whose only field is the channel_update.
FailureMessage MakeFailureWithUpdate(FailureCode code, ByteSpan channel_update);
FailureMessage MakeAmountBelowMinimum(Msat htlc_msat, ByteSpan channel_update);
FailureMessage MakeFeeInsufficient(Msat htlc_msat, ByteSpan channel_update);
FailureMessage MakeIncorrectCltvExpiry(uint32_t cltv_expiry, ByteSpan channel_update);
FailureMessage MakeChannelDisabled(uint16_t disabled_flags, ByteSpan channel_update);
//! incorrect_or_unknown_payment_details: the HTLC's amount and the final node's best height.
FailureMessage MakeIncorrectPaymentDetails(Msat htlc_msat, uint32_t height);
FailureMessage MakeFinalIncorrectCltvExpiry(uint32_t cltv_expiry);
FailureMessage MakeFinalIncorrectHtlcAmount(Msat incoming_htlc_amt);
FailureMessage MakeInvalidOnionPayload(uint64_t tlv_type, uint16_t offset);
//! The BADONION codes (invalid_onion_version/hmac/key, invalid_onion_blinding), carried back by
//! update_fail_malformed_htlc's origin as a normal failure.
FailureMessage MakeBadOnion(FailureCode code, const Hash256& sha256_of_onion);

//! failure_code (u16) followed by the data: the failuremsg carried in the return packet.
Bytes EncodeFailureMessage(const FailureMessage& message);

//! A received failuremsg decoded for the origin: the code and the fields that code carries.
struct FailureDetails {
    uint16_t code{0};
    std::optional<Hash256> sha256_of_onion;  //!< BADONION codes
    std::optional<Bytes> channel_update;     //!< UPDATE codes, as sent (normally 0x0102-prefixed)
    //! amount_below_minimum, fee_insufficient, incorrect_or_unknown_payment_details; for
    //! final_incorrect_htlc_amount its incoming_htlc_amt.
    std::optional<Msat> htlc_msat;
    std::optional<uint32_t> cltv_expiry;     //!< incorrect_cltv_expiry, final_incorrect_cltv_expiry
    std::optional<uint32_t> height;          //!< incorrect_or_unknown_payment_details
    std::optional<uint16_t> disabled_flags;  //!< channel_disabled
    std::optional<uint64_t> tlv_type;        //!< invalid_onion_payload, when the hop named one
    std::optional<uint16_t> offset;          //!< invalid_onion_payload, with tlv_type
    //! Bytes after the code's fields. BOLT 4: the origin "MUST ignore any extra bytes", so they
    //! never fail the parse; `tlv_stream` holds them when they form a valid TLV stream.
    Bytes extra;
    std::optional<TlvStream> tlv_stream;
    bool operator==(const FailureDetails&) const = default;
};

//! Decodes a failuremsg. Fails (kTruncated, kNonMinimal) only when the fields its code defines
//! are incomplete or malformed; unknown codes decode with every field empty.
Decoded<FailureDetails> ParseFailureMessage(ByteSpan failuremsg);

//! BOLT 4 "Returning Errors": failure_len + pad_len "is at least 256".
inline constexpr size_t kFailurePaddedLen = 256;
//! hmac + failure_len + pad_len + the padded message: the smallest packet a compliant hop sends.
inline constexpr size_t kMinFailureOnionSize = 32 + 2 + 2 + kFailurePaddedLen;
//! update_fail_htlc carries the reason behind a u16 length.
inline constexpr size_t kMaxFailureOnionSize = 65535;

//! BOLT 4 "Key Generation": HMAC-SHA256 keyed with "um" / "ammag" over the shared secret.
Secret<32> DeriveUmKey(const Secret<32>& shared_secret);
Secret<32> DeriveAmmagKey(const Secret<32>& shared_secret);

//! At the erring hop: hmac(um) || failure_len || failuremsg || pad_len || pad, obfuscated with
//! ammag. The message and pad together take max(padded_len, 256, message size) bytes; the spec
//! "SHOULD set pad such that the failure_len plus pad_len is equal to 256". Throws
//! std::length_error when the packet would exceed kMaxFailureOnionSize.
Bytes CreateFailureOnion(const Secret<32>& shared_secret, const FailureMessage& message,
                         size_t padded_len = kFailurePaddedLen);
//! At each hop on the way back: "applies the result [its ammag stream] to the return packet
//! before return-forwarding it". Applying it twice restores the input.
Bytes WrapFailureOnion(const Secret<32>& shared_secret, ByteSpan reason);

struct AttributedFailure {
    size_t hop_index{0}; //!< 0 = the first hop after us
    FailureMessage message;
    //! The hop's HMAC matched but its failure_len did not fit the packet (or was under the two
    //! bytes of a failure_code): the hop is to blame, but `message` is empty and unusable.
    bool malformed{false};
};

//! At the origin: peels the layers with the route's shared secrets, in route order, until a
//! hop's HMAC matches. nullopt when none does, or when the reason's size is outside
//! [kMinFailureOnionSize, kMaxFailureOnionSize]: the failure cannot be attributed. As BOLT 4
//! asks, it always runs at least 20 rounds (constant keys past the route) so timing does not
//! reveal the route length or the erring hop.
std::optional<AttributedFailure> DecryptFailureOnion(std::span<const Secret<32>> shared_secrets, ByteSpan reason);

} // namespace sidebolt

#endif
