#include "primitives/serialize.h"

namespace sidebolt {

ByteWriter& ByteWriter::CompactSize(uint64_t n)
{
    if (n < 0xfd) return U8(static_cast<uint8_t>(n));
    if (n <= 0xffff) return U8(0xfd).U16(static_cast<uint16_t>(n));
    if (n <= 0xffffffff) return U8(0xfe).U32(static_cast<uint32_t>(n));
    return U8(0xff).U64(n);
}

uint64_t ByteReader::CompactSize()
{
    const uint8_t tag = U8();
    uint64_t n = tag;
    // Core rejects non-shortest encodings so every value has exactly one serialization.
    if (tag == 0xfd) {
        n = U16();
        if (n < 0xfd) throw DeserializeError("non-canonical CompactSize");
    } else if (tag == 0xfe) {
        n = U32();
        if (n <= 0xffff) throw DeserializeError("non-canonical CompactSize");
    } else if (tag == 0xff) {
        n = U64();
        if (n <= 0xffffffff) throw DeserializeError("non-canonical CompactSize");
    }
    if (n > MAX_COMPACT_SIZE) throw DeserializeError("CompactSize exceeds maximum");
    return n;
}

size_t ByteReader::Count(size_t min_element_bytes)
{
    const uint64_t n = CompactSize();
    if (min_element_bytes > 0 && n > Remaining() / min_element_bytes) {
        throw DeserializeError("count exceeds remaining data");
    }
    return static_cast<size_t>(n);
}

} // namespace sidebolt
