#ifndef SIDEBOLT_PAY_INVOICE_H
#define SIDEBOLT_PAY_INVOICE_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/network.h"
#include "util/amount.h"
#include "util/bytes.h"
#include "wire/expected.h"
#include "wire/wire.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

//! BOLT 11 payment requests: the bech32 invoice string, its tagged fields and its signature.
namespace sidebolt {

//! One entry of an `r` field: the channel from `node_id` towards the payee (BOLT 7 fee terms).
struct RouteHintHop {
    PubKey node_id;
    ShortChannelId short_channel_id;
    uint32_t fee_base_msat{0};
    uint32_t fee_proportional_millionths{0};
    uint16_t cltv_expiry_delta{0};
    bool operator==(const RouteHintHop&) const = default;
};

//! An `f` field as carried: witness version 0..16 with its program, or 17 (P2PKH) / 18 (P2SH)
//! with a 20-byte hash.
struct FallbackAddress {
    uint8_t version{0};
    Bytes program;
    bool operator==(const FallbackAddress&) const = default;
};

inline constexpr uint8_t kFallbackP2pkh = 17;
inline constexpr uint8_t kFallbackP2sh = 18;

struct Invoice {
    std::string hrp_currency;                 //!< "bc", "tb", "tbs", "bcrt"
    std::optional<Msat> amount_msat;          //!< from the hrp amount and multiplier
    uint64_t timestamp{0};                    //!< seconds since epoch, below 2^35
    Hash256 payment_hash{};                   //!< p
    std::optional<Hash256> payment_secret;    //!< s (mandatory in a decoded invoice)
    std::optional<std::string> description;   //!< d (UTF-8)
    std::optional<Hash256> description_hash;  //!< h
    std::optional<PubKey> payee;              //!< n (explicit)
    uint64_t expiry{3600};                    //!< x
    uint32_t min_final_cltv_expiry_delta{18}; //!< c
    std::vector<FallbackAddress> fallbacks;   //!< f, most preferred first
    std::vector<std::vector<RouteHintHop>> route_hints; //!< r: each field is one path
    Bytes features;                           //!< 9, big-endian as BOLT 9 bit fields (minimal)
    std::optional<Bytes> metadata;            //!< m
    bool operator==(const Invoice&) const = default;
};

struct DecodedInvoice {
    Invoice invoice;
    PubKey payee;         //!< n if present, else recovered from the signature
    Hash256 signing_hash; //!< SHA256(hrp || data without signature, zero-padded to bytes)
    RecoverableSignature signature;
    //! Tag letters of the fields used, in order of first appearance (e.g. "spd9"), so that
    //! EncodeInvoice can reproduce the writer's layout.
    std::string field_order;
};

//! Why an invoice was refused; `reason` is a human sentence for RPC errors and logs.
enum class InvoiceErrorKind {
    Bech32,                   //!< checksum, case, characters or separator (BIP173)
    UnknownPrefix,            //!< not "ln" + a currency we know
    InvalidAmount,            //!< non-digit, bad multiplier, sub-msat `p`, zero or overflow
    TooShort,                 //!< no room for timestamp and signature
    MalformedField,           //!< a tagged field overruns the data or has invalid content
    MissingPaymentHash,       //!< no 52-character `p` field
    MissingPaymentSecret,     //!< no 52-character `s` field
    InvalidDescription,       //!< neither or both of `d` and `h`
    UnknownRequiredFeature,   //!< an even feature bit we do not know
    MissingFeatureDependency, //!< a feature offered without the one it depends on
    InvalidSignature,         //!< bad recovery id, unrecoverable, or not by `n`
};

struct InvoiceError {
    std::string reason;
    InvoiceErrorKind kind{InvoiceErrorKind::MalformedField};
};

//! The default field layout EncodeInvoice writes; any tag letter left out is not written.
inline constexpr std::string_view kInvoiceFieldOrder = "psdhnmxcfr9";

//! Builds and signs the invoice string (lower case). Throws std::invalid_argument when the
//! invoice breaks a BOLT 11 writer MUST or would not decode: unknown currency, zero amount,
//! timestamp >= 2^35, no payment secret, not exactly one of d/h, payee other than node_key,
//! a field over 639 bytes, an invalid fallback, an empty route hint, or features DecodeInvoice
//! refuses. field_order lists tag letters (see kInvoiceFieldOrder) and must include each tag
//! the invoice uses.
std::string EncodeInvoice(const Invoice& invoice, const PrivKey& node_key,
                          std::string_view field_order = kInvoiceFieldOrder);

//! Parses and verifies an invoice string in either case. The network check (currency against
//! the node's chain) and the `h` check (DescriptionHashMatches) are the caller's.
Expected<DecodedInvoice, InvoiceError> DecodeInvoice(std::string_view text);

//! BOLT 11: "after the timestamp plus expiry has passed: SHOULD NOT attempt a payment".
bool InvoiceExpired(const Invoice& invoice, uint64_t now_seconds);

//! The BOLT 11 currency prefix of a network ("bc", "tb", "tbs", "bcrt").
std::string_view InvoiceCurrency(Network network);

//! BOLT 11: a reader "MUST check that the SHA2 256-bit hash in the h field exactly matches the
//! hashed description". False when the invoice has no `h`.
bool DescriptionHashMatches(const Invoice& invoice, std::string_view description);

//! The scriptPubKey a fallback pays to; nullopt for an invalid version or program length.
std::optional<Bytes> FallbackScriptPubKey(const FallbackAddress& fallback);
//! The fallback rendered as an address of `network`; nullopt where FallbackScriptPubKey is.
std::optional<std::string> FallbackAddressString(const FallbackAddress& fallback, Network network);

} // namespace sidebolt

#endif
