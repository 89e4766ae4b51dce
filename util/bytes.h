#ifndef SIDEBOLT_UTIL_BYTES_H
#define SIDEBOLT_UTIL_BYTES_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace sidebolt {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;
using MutableByteSpan = std::span<uint8_t>;

template <size_t N>
using ByteArray = std::array<uint8_t, N>;

inline void Append(Bytes& out, ByteSpan in) { out.insert(out.end(), in.begin(), in.end()); }

inline Bytes Concat(std::initializer_list<ByteSpan> parts)
{
    Bytes out;
    for (const auto& p : parts) Append(out, p);
    return out;
}

} // namespace sidebolt

#endif
