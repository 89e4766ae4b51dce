#ifndef SIDEBOLT_PRIMITIVES_BASE58_H
#define SIDEBOLT_PRIMITIVES_BASE58_H

#include "util/bytes.h"

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace sidebolt {

//! Bitcoin's base58 (alphabet without 0, O, I, l); each leading zero byte becomes a '1'.
std::string EncodeBase58(ByteSpan data);
//! Nullopt on a character outside the alphabet (whitespace included) or when the result
//! would exceed max_len bytes, which bounds the work done on hostile input.
std::optional<Bytes> DecodeBase58(std::string_view str, size_t max_len);

//! payload || first 4 bytes of SHA256d(payload), base58-encoded.
std::string EncodeBase58Check(ByteSpan payload);

enum class Base58CheckError {
    InvalidEncoding, //!< not base58, longer than allowed, or shorter than the checksum
    BadChecksum,
};
//! The payload without its checksum, or why it was refused.
std::variant<Bytes, Base58CheckError> DecodeBase58Check(std::string_view str, size_t max_payload_len);

} // namespace sidebolt

#endif
