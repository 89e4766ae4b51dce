#ifndef SIDEBOLT_WIRE_DECODE_ERROR_H
#define SIDEBOLT_WIRE_DECODE_ERROR_H

#include "wire/expected.h"

#include <cstdint>
#include <string_view>

namespace sidebolt {

//! Why bytes received from a peer were rejected. Decoders of peer input never throw; they
//! return one of these, and the connection layer decides what to do (BOLT 1: close it).
enum class DecodeError : uint8_t {
    kTruncated,        //!< fewer bytes than the encoding needs
    kBadLength,        //!< more bytes than the encoding allows (a fixed-size value too long)
    kNonMinimal,       //!< a BigSize or truncated integer with redundant leading bytes
    kInvalidPoint,     //!< 33 bytes that are not a compressed secp256k1 point
    kTlvNotIncreasing, //!< TLV types not strictly increasing (this includes duplicates)
    kUnknownEvenType,  //!< an even TLV type the stream's reader does not know
    kInvalidSignature, //!< 64 bytes that are no compact ECDSA signature (r or s not below the order)
};

//! Stable snake_case names ("truncated", "non_minimal", ...), for logs and test vectors.
std::string_view ToString(DecodeError error);

template <typename T>
using Decoded = Expected<T, DecodeError>;

} // namespace sidebolt

#endif
