#include "pay/failure_codes.h"

namespace sidebolt {

std::string_view FailureCodeName(uint16_t code)
{
    switch (static_cast<FailureCode>(code)) {
    case FailureCode::INVALID_REALM: return "invalid_realm";
    case FailureCode::TEMPORARY_NODE_FAILURE: return "temporary_node_failure";
    case FailureCode::PERMANENT_NODE_FAILURE: return "permanent_node_failure";
    case FailureCode::REQUIRED_NODE_FEATURE_MISSING: return "required_node_feature_missing";
    case FailureCode::INVALID_ONION_VERSION: return "invalid_onion_version";
    case FailureCode::INVALID_ONION_HMAC: return "invalid_onion_hmac";
    case FailureCode::INVALID_ONION_KEY: return "invalid_onion_key";
    case FailureCode::TEMPORARY_CHANNEL_FAILURE: return "temporary_channel_failure";
    case FailureCode::PERMANENT_CHANNEL_FAILURE: return "permanent_channel_failure";
    case FailureCode::REQUIRED_CHANNEL_FEATURE_MISSING: return "required_channel_feature_missing";
    case FailureCode::UNKNOWN_NEXT_PEER: return "unknown_next_peer";
    case FailureCode::AMOUNT_BELOW_MINIMUM: return "amount_below_minimum";
    case FailureCode::FEE_INSUFFICIENT: return "fee_insufficient";
    case FailureCode::INCORRECT_CLTV_EXPIRY: return "incorrect_cltv_expiry";
    case FailureCode::EXPIRY_TOO_SOON: return "expiry_too_soon";
    case FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS: return "incorrect_or_unknown_payment_details";
    case FailureCode::FINAL_INCORRECT_CLTV_EXPIRY: return "final_incorrect_cltv_expiry";
    case FailureCode::FINAL_INCORRECT_HTLC_AMOUNT: return "final_incorrect_htlc_amount";
    case FailureCode::CHANNEL_DISABLED: return "channel_disabled";
    case FailureCode::EXPIRY_TOO_FAR: return "expiry_too_far";
    case FailureCode::INVALID_ONION_PAYLOAD: return "invalid_onion_payload";
    case FailureCode::MPP_TIMEOUT: return "mpp_timeout";
    case FailureCode::INVALID_ONION_BLINDING: return "invalid_onion_blinding";
    }
    return "unknown";
}

} // namespace sidebolt
