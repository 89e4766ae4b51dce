#include "pay/receive.h"

#include "util/secure.h"

#include <algorithm>
#include <stdexcept>

namespace sidebolt {

namespace {

//! Compared in constant time: the secret is what keeps intermediate nodes from probing us.
bool SecretMatches(const std::optional<ByteArray<32>>& given, const ByteArray<32>& wanted)
{
    return given && Secret<32>{*given} == Secret<32>{wanted};
}

//! Every case that BOLT 4 answers with incorrect_or_unknown_payment_details, so a probing
//! intermediate node learns nothing from which one it was.
bool PaymentDetailsWrong(const FinalHtlcCheck& htlc, const std::optional<ExpectedPayment>& expected, uint32_t current_height)
{
    const Msat amount_paid = htlc.total_msat.value_or(htlc.amt_to_forward);
    const bool multi_part = amount_paid != htlc.amt_to_forward;
    if (multi_part && !htlc.payment_secret) return true;
    if (!expected || expected->expired || expected->paid) return true;
    if (expected->payment_secret && !SecretMatches(htlc.payment_secret, *expected->payment_secret)) return true;
    if (expected->amount_msat) {
        if (amount_paid < *expected->amount_msat) return true;
        // "if the amount paid is more than twice the amount expected: SHOULD fail the HTLC".
        const auto twice = Msat::CheckedMul(*expected->amount_msat, 2);
        if (twice && amount_paid > *twice) return true;
    }
    // "incoming cltv_expiry < current_block_height + min_final_cltv_expiry_delta".
    return uint64_t{htlc.htlc_cltv_expiry} < uint64_t{current_height} + expected->min_final_cltv_expiry_delta;
}

} // namespace

std::optional<FinalFailure> CheckFinalHtlc(const FinalHtlcCheck& htlc, const std::optional<ExpectedPayment>& expected,
                                           uint32_t current_height)
{
    if (PaymentDetailsWrong(htlc, expected, current_height)) {
        return FinalFailure{FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS, htlc.htlc_amount_msat, current_height, {}};
    }
    if (htlc.htlc_cltv_expiry < htlc.outgoing_cltv_value) {
        return FinalFailure{FailureCode::FINAL_INCORRECT_CLTV_EXPIRY, {}, {}, htlc.htlc_cltv_expiry};
    }
    if (htlc.htlc_amount_msat < htlc.amt_to_forward) {
        return FinalFailure{FailureCode::FINAL_INCORRECT_HTLC_AMOUNT, htlc.htlc_amount_msat, {}, {}};
    }
    return std::nullopt;
}

PartialPayment::Outcome PartialPayment::FailAll(FailureCode code)
{
    Fail fail{code, std::move(m_parts)};
    *this = PartialPayment{};
    return fail;
}

PartialPayment::Outcome PartialPayment::AddPart(const IncomingHtlcKey& key, Msat amount_msat, Msat total_msat, uint64_t now_seconds)
{
    const auto same_key = [&](const HeldPart& part) { return part.key == key; };
    if (std::any_of(m_parts.begin(), m_parts.end(), same_key)) throw std::logic_error("HTLC added twice to a payment");
    const HeldPart part{key, amount_msat};
    if (m_complete) return Fail{FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS, {part}};

    if (m_parts.empty()) {
        m_total = total_msat;
        m_first_seen = now_seconds;
    }
    m_parts.push_back(part);
    const auto received = Msat::CheckedAdd(m_received, amount_msat);
    if (total_msat != *m_total || !received) return FailAll(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
    m_received = *received;
    // "if the total amt_to_forward of this HTLC set is equal to or greater than total_msat:
    // SHOULD fulfill all HTLCs in the HTLC set".
    if (m_received < *m_total) return Hold{};
    m_complete = true;
    return Complete{m_parts};
}

std::optional<uint64_t> PartialPayment::deadline() const
{
    if (m_complete || m_parts.empty()) return std::nullopt;
    return m_first_seen + kTimeoutSeconds;
}

std::vector<HeldPart> PartialPayment::Expire(uint64_t now_seconds)
{
    const auto due = deadline();
    if (!due || now_seconds < *due) return {};
    return std::get<Fail>(FailAll(FailureCode::MPP_TIMEOUT)).parts;
}

} // namespace sidebolt
