#ifndef SIDEBOLT_UTIL_HEX_H
#define SIDEBOLT_UTIL_HEX_H

#include "util/bytes.h"

#include <optional>
#include <string>
#include <string_view>

namespace sidebolt {

std::string ToHex(ByteSpan data);
//! Lower- or upper-case hex of even length; nullopt on any other character or odd length.
std::optional<Bytes> TryParseHex(std::string_view hex);
//! As TryParseHex, but throws std::invalid_argument: for trusted inputs such as test vectors.
Bytes ParseHex(std::string_view hex);

template <size_t N>
std::optional<ByteArray<N>> TryParseHexArray(std::string_view hex)
{
    auto bytes = TryParseHex(hex);
    if (!bytes || bytes->size() != N) return std::nullopt;
    ByteArray<N> out;
    std::copy(bytes->begin(), bytes->end(), out.begin());
    return out;
}

} // namespace sidebolt

#endif
