#ifndef SIDEBOLT_PAY_RECEIVE_H
#define SIDEBOLT_PAY_RECEIVE_H

#include "pay/failure_codes.h"
#include "util/amount.h"
#include "util/bytes.h"

#include <compare>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

namespace sidebolt {

//! BOLT 11 "min_final_cltv_expiry_delta": 18 when the invoice omits 'c'.
inline constexpr uint32_t kDefaultMinFinalCltvExpiryDelta = 18;

//! An HTLC that ends at us: the update_add_htlc and the final hop payload.
struct FinalHtlcCheck {
    Msat htlc_amount_msat;         //!< update_add_htlc amount_msat
    uint32_t htlc_cltv_expiry{0};  //!< update_add_htlc cltv_expiry
    Msat amt_to_forward;
    uint32_t outgoing_cltv_value{0};
    std::optional<ByteArray<32>> payment_secret; //!< payment_data, when present
    std::optional<Msat> total_msat;              //!< payment_data (or total_amount_msat)
};

//! What we expect for the payment_hash: our invoice's terms and state.
struct ExpectedPayment {
    std::optional<Msat> amount_msat;              //!< nullopt: the invoice leaves the amount to the payer
    std::optional<ByteArray<32>> payment_secret;  //!< when set, every HTLC must carry it
    uint32_t min_final_cltv_expiry_delta{kDefaultMinFinalCltvExpiryDelta};
    bool expired{false};
    bool paid{false};
};

//! Why we fail a final HTLC, with the data fields its failure message carries.
struct FinalFailure {
    FailureCode code;
    //! incorrect_or_unknown_payment_details: htlc_msat; final_incorrect_htlc_amount: incoming_htlc_amt.
    std::optional<Msat> htlc_msat;
    //! incorrect_or_unknown_payment_details: our best block height.
    std::optional<uint32_t> height;
    //! final_incorrect_cltv_expiry: the HTLC's cltv_expiry.
    std::optional<uint32_t> cltv_expiry;
};

/**
 * BOLT 4 final-node checks for one HTLC (expected is nullopt for an unknown payment_hash), in the
 * order of the spec's list; "amount paid" is total_msat (treated as amt_to_forward when absent):
 *   incorrect_or_unknown_payment_details  payment_secret wrong or missing where required (for
 *       an invoice with one, or any multi-part HTLC: "MUST require payment_secret for all HTLCs
 *       in the set"); amount paid below the invoice's; unknown, expired or already paid hash
 *       ("MAY treat the payment hash as unknown"); amount paid above twice the invoice's;
 *       cltv_expiry < current_height + min_final_cltv_expiry_delta
 *   final_incorrect_cltv_expiry   cltv_expiry < outgoing_cltv_value
 *   final_incorrect_htlc_amount   amount_msat < amt_to_forward
 * Whether the parts of a multi-part payment add up is PartialPayment's job.
 */
std::optional<FinalFailure> CheckFinalHtlc(const FinalHtlcCheck& htlc, const std::optional<ExpectedPayment>& expected,
                                           uint32_t current_height);

//! Identifies one incoming HTLC: its channel and the id its sender gave it.
struct IncomingHtlcKey {
    ByteArray<32> channel_id{};
    uint64_t htlc_id{0};
    auto operator<=>(const IncomingHtlcKey&) const = default;
};

struct HeldPart {
    IncomingHtlcKey key;
    Msat amount_msat;
    bool operator==(const HeldPart&) const = default;
};

/**
 * BOLT 4 "Basic Multi-Part Payments": the HTLC set of one payment_hash, collected until the sum
 * of amt_to_forward reaches total_msat. A value type without a clock: the caller passes the time
 * in seconds and calls Expire regularly (and before AddPart, so a late part cannot save a set
 * that has timed out). Each part is expected to have passed CheckFinalHtlc first.
 */
class PartialPayment
{
public:
    //! "SHOULD wait for at least 60 seconds after the initial HTLC".
    static constexpr uint64_t kTimeoutSeconds = 60;

    //! Keep the HTLC and wait for more.
    struct Hold {
        bool operator==(const Hold&) const = default;
    };
    //! Fulfil all of these ("MUST fulfill the entire HTLC set").
    struct Complete {
        std::vector<HeldPart> parts;
        bool operator==(const Complete&) const = default;
    };
    //! Fail all of these with code.
    struct Fail {
        FailureCode code;
        std::vector<HeldPart> parts;
        bool operator==(const Fail&) const = default;
    };
    using Outcome = std::variant<Hold, Complete, Fail>;

    /**
     * Adds one HTLC of the set. A total_msat differing from the set's fails the whole set, new
     * part included ("SHOULD fail the entire HTLC set if total_msat is not the same for all
     * HTLCs in the set"), with incorrect_or_unknown_payment_details, and starts afresh. A part
     * arriving after the set completed is failed alone, as for a hash already paid. Adding the
     * same key twice is a local bug and throws std::logic_error.
     */
    Outcome AddPart(const IncomingHtlcKey& key, Msat amount_msat, Msat total_msat, uint64_t now_seconds);

    /**
     * The parts to fail with mpp_timeout once kTimeoutSeconds have passed since the first part
     * without the set completing ("MUST fail all HTLCs in the HTLC set after some reasonable
     * timeout"); the set then starts afresh. Empty otherwise.
     */
    std::vector<HeldPart> Expire(uint64_t now_seconds);

    //! When Expire will fail the held parts, if any are held.
    std::optional<uint64_t> deadline() const;
    Msat received_msat() const { return m_received; }
    const std::vector<HeldPart>& parts() const { return m_parts; }
    bool complete() const { return m_complete; }

private:
    Outcome FailAll(FailureCode code);

    std::vector<HeldPart> m_parts;
    Msat m_received;
    std::optional<Msat> m_total;
    uint64_t m_first_seen{0};
    bool m_complete{false};
};

} // namespace sidebolt

#endif
