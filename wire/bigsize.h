#ifndef SIDEBOLT_WIRE_BIGSIZE_H
#define SIDEBOLT_WIRE_BIGSIZE_H

#include "wire/decode_error.h"
#include "util/bytes.h"

#include <cstdint>

namespace sidebolt {

//! Encoded size of a BigSize (BOLT 1 Appendix A): 1, 3, 5 or 9 bytes.
constexpr size_t BigSizeLength(uint64_t value)
{
    if (value < 0xfd) return 1;
    if (value <= 0xffff) return 3;
    if (value <= 0xffffffff) return 5;
    return 9;
}

//! Appends the minimal big-endian BigSize encoding of `value`.
void AppendBigSize(Bytes& out, uint64_t value);

//! Reads one BigSize from the front of `in` and advances `in` past it. BOLT 1: "All values
//! decoded with BigSize should be checked to ensure they are minimally encoded."
Decoded<uint64_t> ReadBigSize(ByteSpan& in);

} // namespace sidebolt

#endif
