#ifndef SIDEBOLT_NODE_PAYMENT_RECORD_H
#define SIDEBOLT_NODE_PAYMENT_RECORD_H

#include "pay/receive.h"
#include "pay/route.h"
#include "primitives/hash.h"
#include "util/amount.h"
#include "util/bytes.h"
#include "util/secure.h"
#include "wire/wire.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <utility>
#include <vector>

namespace sidebolt {

//! An outgoing HTLC we forward for an incoming one: how to settle or fail that one.
struct ForwardLink {
    Hash256 incoming_channel_id{};
    uint64_t incoming_htlc_id{0};
    //! The incoming onion's shared secret: failures from downstream are wrapped with it.
    Secret<32> shared_secret;
    Msat incoming_msat{0};
    Msat outgoing_msat{0};
};
//! An outgoing HTLC that is one part of our own payment.
struct PaymentLink {
    Hash256 payment_hash{};
    uint64_t part_id{0};
};
using HtlcLink = std::variant<ForwardLink, PaymentLink>;

Bytes SerializeHtlcLink(const HtlcLink& link);
//! nullopt for a record that does not decode (a corrupt or foreign value).
std::optional<HtlcLink> DeserializeHtlcLink(ByteSpan data);

enum class PaymentStatus : uint8_t { PENDING = 1, COMPLETE = 2, FAILED = 3 };
std::string_view PaymentStatusName(PaymentStatus status);

//! One HTLC of a payment (several for a multi-part payment, more after retries).
struct PaymentPart {
    uint64_t part_id{0};
    Hash256 channel_id{};
    uint64_t htlc_id{0};
    //! What the HTLC over our channel carries (the payee's share plus fees).
    Msat amount_sent_msat{0};
    //! The payee's share.
    Msat amount_msat{0};
    PaymentStatus status{PaymentStatus::PENDING};
    //! The channels of the route, in order ("103x1x0>105x1x1").
    std::string route;
};

//! A part in flight: what attributes a failure it brings back to a hop of its route.
struct PartAttempt {
    uint64_t part_id{0};
    Route route;
    //! The onion's shared secrets, one per hop: they unwrap the returned failure.
    std::vector<Secret<32>> shared_secrets;
};

/**
 * What a pending payment needs to go on retrying exactly as before a restart: the invoice's
 * terms, the caller's limits, the channels found failing, and the parts in flight. Kept only
 * while the payment is pending.
 */
//! What a payment pays and within which limits: given by pay, keysend or sendpay, and kept in
//! the record while the payment is pending so that its retries go on after a restart.
struct PaymentTerms {
    std::optional<Hash256> payment_secret;
    std::optional<Bytes> payment_metadata;
    //! keysend: the preimage travels in the final payload (TLV 5482373484).
    std::optional<Hash256> keysend_preimage;
    uint32_t min_final_cltv_expiry_delta{kDefaultMinFinalCltvExpiryDelta};
    std::vector<std::vector<HintHop>> route_hints;
    //! sendpay: exactly this route, tried once, never retried.
    std::optional<Route> fixed_route;
    double max_fee_percent{0.5};
    //! A fee always allowed however small the payment (as CLN's exemptfee, 5 sat).
    Msat exempt_fee_msat{5000};
    uint32_t max_delay{2016};
    uint64_t retry_deadline{0};
};

struct PaymentRetryState : PaymentTerms {
    std::vector<ShortChannelId> excluded;
    //! Channels used again only below the amount they refused (HtlcRouter's too_large).
    std::vector<std::pair<ShortChannelId, Msat>> too_large;
    //! The payee refused the payment itself: no retry.
    bool refused{false};
    std::vector<PartAttempt> in_flight;
};

struct PaymentRecord {
    Hash256 payment_hash{};
    ByteArray<33> destination{};
    Msat amount_msat{0};
    PaymentStatus status{PaymentStatus::PENDING};
    std::optional<Hash256> preimage;
    uint64_t created_at{0};
    uint64_t completed_at{0};
    uint32_t attempts{0};
    //! Why it failed, for the operator ("no route", or the failing hop and BOLT 4 code).
    std::string failure;
    std::optional<uint16_t> failure_code;
    std::optional<uint32_t> erring_index;
    std::string bolt11;
    std::string label;
    uint64_t next_part_id{0};
    std::vector<PaymentPart> parts;
    //! Written with a pending payment; the router keeps it in memory, not here.
    std::optional<PaymentRetryState> retry;

    //! The payee's share of the parts in flight or settled.
    Msat AmountInFlightOrDone() const;
    //! Everything sent over our channels for settled parts (amount plus fees).
    Msat AmountSentSettled() const;
    bool HasPendingParts() const;
};

Bytes SerializePaymentRecord(const PaymentRecord& record);
std::optional<PaymentRecord> DeserializePaymentRecord(ByteSpan data);

} // namespace sidebolt

#endif
