#include "wire/decode_error.h"

namespace sidebolt {

std::string_view ToString(DecodeError error)
{
    switch (error) {
    case DecodeError::kTruncated: return "truncated";
    case DecodeError::kBadLength: return "bad_length";
    case DecodeError::kNonMinimal: return "non_minimal";
    case DecodeError::kInvalidPoint: return "invalid_point";
    case DecodeError::kTlvNotIncreasing: return "tlv_not_increasing";
    case DecodeError::kUnknownEvenType: return "unknown_even_type";
    case DecodeError::kInvalidSignature: return "invalid_signature";
    }
    return "unknown";
}

} // namespace sidebolt
