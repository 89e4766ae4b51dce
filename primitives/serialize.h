#ifndef SIDEBOLT_PRIMITIVES_SERIALIZE_H
#define SIDEBOLT_PRIMITIVES_SERIALIZE_H

#include "util/bytes.h"

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace sidebolt {

//! Largest length or count a CompactSize may announce (Core's MAX_SIZE, 32 MiB).
inline constexpr uint64_t MAX_COMPACT_SIZE = 0x02000000;

//! Malformed or truncated Bitcoin wire data.
class DeserializeError : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

//! Appends Bitcoin wire encodings (little-endian integers, CompactSize) to a byte buffer.
class ByteWriter
{
public:
    ByteWriter() = default;
    explicit ByteWriter(size_t reserve) { m_data.reserve(reserve); }

    ByteWriter& U8(uint8_t v)
    {
        m_data.push_back(v);
        return *this;
    }
    ByteWriter& U16(uint16_t v) { return Le(v, 2); }
    ByteWriter& U32(uint32_t v) { return Le(v, 4); }
    ByteWriter& U64(uint64_t v) { return Le(v, 8); }
    ByteWriter& I64(int64_t v) { return Le(static_cast<uint64_t>(v), 8); }
    ByteWriter& CompactSize(uint64_t n);
    //! CompactSize length followed by the bytes.
    ByteWriter& VarBytes(ByteSpan bytes) { return CompactSize(bytes.size()).Raw(bytes); }
    ByteWriter& Raw(ByteSpan bytes)
    {
        Append(m_data, bytes);
        return *this;
    }

    const Bytes& Data() const { return m_data; }
    Bytes Release() { return std::move(m_data); }

private:
    ByteWriter& Le(uint64_t v, int bytes)
    {
        for (int i = 0; i < bytes; ++i) m_data.push_back(static_cast<uint8_t>(v >> (8 * i)));
        return *this;
    }
    Bytes m_data;
};

//! Size of the CompactSize encoding of n (1, 3, 5 or 9 bytes).
constexpr size_t CompactSizeLen(uint64_t n)
{
    return n < 0xfd ? 1 : n <= 0xffff ? 3 : n <= 0xffffffff ? 5 : 9;
}

//! Bounds-checked reader over a byte span; every failure throws DeserializeError and never
//! allocates from an unchecked length.
class ByteReader
{
public:
    explicit ByteReader(ByteSpan data) : m_data(data) {}

    uint8_t U8() { return static_cast<uint8_t>(Le(1)); }
    uint16_t U16() { return static_cast<uint16_t>(Le(2)); }
    uint32_t U32() { return static_cast<uint32_t>(Le(4)); }
    uint64_t U64() { return Le(8); }
    int64_t I64() { return static_cast<int64_t>(Le(8)); }
    //! Canonical (shortest-form) CompactSize no larger than MAX_COMPACT_SIZE.
    uint64_t CompactSize();
    /**
     * A CompactSize count of elements that each take at least min_element_bytes on the wire:
     * rejects counts the remaining input cannot possibly hold, so callers may reserve safely.
     */
    size_t Count(size_t min_element_bytes);
    //! CompactSize length followed by that many bytes, returned as a view into the input.
    ByteSpan VarBytes() { return Span(Count(1)); }
    //! The next n bytes as a view into the input.
    ByteSpan Span(size_t n)
    {
        Require(n);
        const ByteSpan out = m_data.subspan(m_pos, n);
        m_pos += n;
        return out;
    }
    template <size_t N>
    ByteArray<N> Array()
    {
        ByteArray<N> out;
        Require(N);
        std::memcpy(out.data(), m_data.data() + m_pos, N);
        m_pos += N;
        return out;
    }
    void Skip(size_t n) { Span(n); }

    size_t Pos() const { return m_pos; }
    size_t Remaining() const { return m_data.size() - m_pos; }
    bool Empty() const { return m_pos == m_data.size(); }
    //! Throws unless every byte was consumed (trailing data is malformed at top level).
    void ExpectEnd() const
    {
        if (!Empty()) throw DeserializeError("trailing bytes after data");
    }

private:
    void Require(size_t n) const
    {
        if (n > Remaining()) throw DeserializeError("unexpected end of data");
    }
    uint64_t Le(size_t n)
    {
        Require(n);
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i) v |= uint64_t{m_data[m_pos + i]} << (8 * i);
        m_pos += n;
        return v;
    }

    ByteSpan m_data;
    size_t m_pos{0};
};

} // namespace sidebolt

#endif
