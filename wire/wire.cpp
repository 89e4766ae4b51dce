#include "wire/wire.h"

#include "wire/bigsize.h"

#include <stdexcept>

namespace sidebolt {

ShortChannelId ShortChannelId::FromU64(uint64_t packed)
{
    return ShortChannelId{
        .block_height = static_cast<uint32_t>(packed >> 40),
        .tx_index = static_cast<uint32_t>(packed >> 16 & 0xffffff),
        .output_index = static_cast<uint16_t>(packed & 0xffff),
    };
}

uint64_t ShortChannelId::ToU64() const
{
    return uint64_t{block_height & 0xffffffu} << 40 | uint64_t{tx_index & 0xffffffu} << 16 | output_index;
}

std::string ShortChannelId::ToString() const
{
    return std::to_string(block_height) + "x" + std::to_string(tx_index) + "x" + std::to_string(output_index);
}

size_t TruncatedLength(uint64_t value)
{
    size_t length = 0;
    for (; value != 0; value >>= 8) ++length;
    return length;
}

uint64_t WireReader::ReadBigSize()
{
    if (!Ok()) return 0;
    auto value = sidebolt::ReadBigSize(m_rest);
    if (!value) {
        Fail(value.error());
        return 0;
    }
    return *value;
}

ByteSpan WireReader::ReadBytes(size_t count)
{
    if (!Ok()) return {};
    if (m_rest.size() < count) {
        Fail(DecodeError::kTruncated);
        return {};
    }
    const ByteSpan out = m_rest.first(count);
    m_rest = m_rest.subspan(count);
    return out;
}

std::optional<PubKey> WireReader::ReadPoint()
{
    const ByteSpan bytes = ReadBytes(PubKey::SIZE);
    if (!Ok()) return std::nullopt;
    // PubKey::Parse would also take 65-byte keys; at 33 bytes it only accepts 02/03 prefixes.
    auto point = PubKey::Parse(bytes);
    if (!point) Fail(DecodeError::kInvalidPoint);
    return point;
}

std::optional<EcdsaSignature> WireReader::ReadSignature()
{
    const ByteSpan compact = ReadBytes(kSignatureSize);
    if (!Ok()) return std::nullopt;
    auto signature = EcdsaSignature::FromCompact(compact);
    if (!signature) Fail(DecodeError::kInvalidSignature);
    return signature;
}

ByteSpan WireReader::ReadRemaining() { return ReadBytes(m_rest.size()); }

void WireReader::ExpectEnd()
{
    if (Ok() && !m_rest.empty()) Fail(DecodeError::kBadLength);
}

void WireReader::Fail(DecodeError error)
{
    if (!m_error) m_error = error;
    m_rest = {};
}

uint64_t WireReader::ReadTruncated(size_t max_width)
{
    if (!Ok()) return 0;
    if (m_rest.size() > max_width) {
        Fail(DecodeError::kBadLength);
        return 0;
    }
    const ByteSpan bytes = ReadRemaining();
    if (!bytes.empty() && bytes[0] == 0) {
        Fail(DecodeError::kNonMinimal);
        return 0;
    }
    uint64_t value = 0;
    for (const uint8_t byte : bytes) value = value << 8 | byte;
    return value;
}

void WireWriter::WriteTu64(uint64_t value) { WriteUnsigned(value, TruncatedLength(value)); }

void WireWriter::WriteBigSize(uint64_t value) { AppendBigSize(m_out, value); }

void WireWriter::WriteU16Prefixed(ByteSpan bytes)
{
    if (bytes.size() > 0xffff) throw std::length_error("field longer than a u16 length allows");
    WriteU16(static_cast<uint16_t>(bytes.size()));
    WriteBytes(bytes);
}

void WireWriter::WriteUnsigned(uint64_t value, size_t width)
{
    for (size_t i = width; i-- > 0;) m_out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

} // namespace sidebolt
