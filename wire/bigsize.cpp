#include "wire/bigsize.h"

namespace sidebolt {
namespace {
void AppendBigEndian(Bytes& out, uint64_t value, size_t width)
{
    for (size_t i = width; i-- > 0;) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}
} // namespace

void AppendBigSize(Bytes& out, uint64_t value)
{
    switch (BigSizeLength(value)) {
    case 1: out.push_back(static_cast<uint8_t>(value)); return;
    case 3: out.push_back(0xfd); AppendBigEndian(out, value, 2); return;
    case 5: out.push_back(0xfe); AppendBigEndian(out, value, 4); return;
    default: out.push_back(0xff); AppendBigEndian(out, value, 8); return;
    }
}

Decoded<uint64_t> ReadBigSize(ByteSpan& in)
{
    if (in.empty()) return DecodeError::kTruncated;
    const uint8_t prefix = in[0];
    const size_t width = prefix == 0xff ? 8 : prefix == 0xfe ? 4 : prefix == 0xfd ? 2 : 0;
    if (in.size() < 1 + width) return DecodeError::kTruncated;
    uint64_t value = width == 0 ? prefix : 0;
    for (size_t i = 1; i <= width; ++i) value = value << 8 | in[i];
    if (BigSizeLength(value) != 1 + width) return DecodeError::kNonMinimal;
    in = in.subspan(1 + width);
    return value;
}

} // namespace sidebolt
