#ifndef SIDEBOLT_PRIMITIVES_BECH32_H
#define SIDEBOLT_PRIMITIVES_BECH32_H

#include "util/bytes.h"

#include <optional>
#include <string>
#include <string_view>
#include <variant>

//! The generic BIP173/BIP350 string codec: HRP, 5-bit values, checksum. It knows nothing of
//! segwit (see chain/address.h), so BOLT 11 invoices can reuse it with a longer length limit.
namespace sidebolt::bech32 {

enum class Encoding {
    Bech32,  //!< BIP173: segwit v0 and BOLT 11 invoices
    Bech32m, //!< BIP350: segwit v1+
};

//! BIP173: "The human-readable part ... must contain 1 to 83 US-ASCII characters" and the
//! whole string is at most 90 characters. Invoices pass a larger max_length.
inline constexpr size_t MAX_HRP_LENGTH = 83;
inline constexpr size_t MAX_ADDRESS_LENGTH = 90;
inline constexpr size_t CHECKSUM_LENGTH = 6;

enum class DecodeError {
    TooLong,
    InvalidCharacter,     //!< outside US-ASCII 33..126
    MixedCase,
    NoSeparator,
    EmptyHrp,
    HrpTooLong,
    TooShortChecksum,     //!< fewer than 6 characters after the separator
    InvalidDataCharacter, //!< not in the 32-character data alphabet
    InvalidChecksum,      //!< neither a Bech32 nor a Bech32m checksum
};

struct Decoded {
    Encoding encoding;
    std::string hrp; //!< always lower case
    Bytes values;    //!< 5-bit values, checksum removed
};

//! Returns the lower-case string. Throws std::invalid_argument when hrp is empty, longer than 83,
//! has characters outside 33..126 or upper case, a value is >= 32, or the result exceeds max_length.
std::string Encode(Encoding encoding, std::string_view hrp, ByteSpan values, size_t max_length = MAX_ADDRESS_LENGTH);

//! Accepts all-lower or all-upper case strings; reports which checksum variant matched.
std::variant<Decoded, DecodeError> Decode(std::string_view str, size_t max_length = MAX_ADDRESS_LENGTH);

//! Regroups bits MSB-first, e.g. 8 -> 5 for encoding and 5 -> 8 for decoding (1 <= bits <= 8).
//! With pad, a final partial group is zero-filled. Without pad, leftover input bits must be fewer
//! than from_bits and all zero, as BIP173 requires when decoding; otherwise nullopt.
std::optional<Bytes> ConvertBits(ByteSpan in, unsigned from_bits, unsigned to_bits, bool pad);

} // namespace sidebolt::bech32

#endif
