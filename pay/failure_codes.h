#ifndef SIDEBOLT_PAY_FAILURE_CODES_H
#define SIDEBOLT_PAY_FAILURE_CODES_H

#include <cstdint>
#include <string_view>

namespace sidebolt {

//! BOLT 4 "Failure Messages": the flag bits of a failure_code.
namespace failure_flag {
inline constexpr uint16_t BADONION = 0x8000;
inline constexpr uint16_t PERM = 0x4000;
inline constexpr uint16_t NODE = 0x2000;
inline constexpr uint16_t UPDATE = 0x1000;
} // namespace failure_flag

//! BOLT 4 failure codes, flags included, as they travel on the wire.
enum class FailureCode : uint16_t {
    INVALID_REALM = failure_flag::PERM | 1,
    TEMPORARY_NODE_FAILURE = failure_flag::NODE | 2,
    PERMANENT_NODE_FAILURE = failure_flag::PERM | failure_flag::NODE | 2,
    REQUIRED_NODE_FEATURE_MISSING = failure_flag::PERM | failure_flag::NODE | 3,
    INVALID_ONION_VERSION = failure_flag::BADONION | failure_flag::PERM | 4,
    INVALID_ONION_HMAC = failure_flag::BADONION | failure_flag::PERM | 5,
    INVALID_ONION_KEY = failure_flag::BADONION | failure_flag::PERM | 6,
    TEMPORARY_CHANNEL_FAILURE = failure_flag::UPDATE | 7,
    PERMANENT_CHANNEL_FAILURE = failure_flag::PERM | 8,
    REQUIRED_CHANNEL_FEATURE_MISSING = failure_flag::PERM | 9,
    UNKNOWN_NEXT_PEER = failure_flag::PERM | 10,
    AMOUNT_BELOW_MINIMUM = failure_flag::UPDATE | 11,
    FEE_INSUFFICIENT = failure_flag::UPDATE | 12,
    INCORRECT_CLTV_EXPIRY = failure_flag::UPDATE | 13,
    EXPIRY_TOO_SOON = failure_flag::UPDATE | 14,
    INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS = failure_flag::PERM | 15,
    FINAL_INCORRECT_CLTV_EXPIRY = 18,
    FINAL_INCORRECT_HTLC_AMOUNT = 19,
    CHANNEL_DISABLED = failure_flag::UPDATE | 20,
    EXPIRY_TOO_FAR = 21,
    INVALID_ONION_PAYLOAD = failure_flag::PERM | 22,
    MPP_TIMEOUT = 23,
    INVALID_ONION_BLINDING = failure_flag::BADONION | failure_flag::PERM | 24,
};

inline constexpr bool HasFlag(uint16_t code, uint16_t flag) { return (code & flag) != 0; }

//! The spec's name for a code ("temporary_channel_failure"), or "unknown" for others.
std::string_view FailureCodeName(uint16_t code);

} // namespace sidebolt

#endif
