#ifndef SIDEBOLT_WIRE_WIRE_H
#define SIDEBOLT_WIRE_WIRE_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "wire/decode_error.h"
#include "util/bytes.h"

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace sidebolt {

//! BOLT 1 "signature": a compact ECDSA signature, r || s.
inline constexpr size_t kSignatureSize = 64;

//! BOLT 7 short_channel_id: 3-byte block height, 3-byte transaction index, 2-byte output index.
struct ShortChannelId {
    uint32_t block_height{0};
    uint32_t tx_index{0};
    uint16_t output_index{0};

    static ShortChannelId FromU64(uint64_t packed);
    uint64_t ToU64() const;
    //! The human form "BLOCKxTXxOUTPUT", e.g. "0x0x550".
    std::string ToString() const;
    auto operator<=>(const ShortChannelId&) const = default;
};

//! Bounds-checked big-endian reader for Lightning wire fields (BOLT 1 "Fundamental Types").
//! The first failure is sticky: later reads return zero/empty values and consume nothing, so a
//! decoder reads all its fields and checks Error() once before using any of them.
class WireReader
{
public:
    explicit WireReader(ByteSpan data) : m_rest(data) {}
    //! The reader only views its input: a temporary buffer would dangle.
    explicit WireReader(Bytes&&) = delete;

    uint8_t ReadU8() { return ReadUnsigned<uint8_t>(); }
    uint16_t ReadU16() { return ReadUnsigned<uint16_t>(); }
    uint32_t ReadU32() { return ReadUnsigned<uint32_t>(); }
    uint64_t ReadU64() { return ReadUnsigned<uint64_t>(); }
    //! Two's complement big-endian (BOLT 1 Appendix D).
    int8_t ReadS8() { return static_cast<int8_t>(ReadU8()); }
    int16_t ReadS16() { return static_cast<int16_t>(ReadU16()); }
    int32_t ReadS32() { return static_cast<int32_t>(ReadU32()); }
    int64_t ReadS64() { return static_cast<int64_t>(ReadU64()); }
    //! Truncated integers take all remaining bytes, as they only end TLV values; BOLT 1:
    //! "Leading zeros in truncated integers MUST be omitted".
    uint16_t ReadTu16() { return static_cast<uint16_t>(ReadTruncated(2)); }
    uint32_t ReadTu32() { return static_cast<uint32_t>(ReadTruncated(4)); }
    uint64_t ReadTu64() { return ReadTruncated(8); }
    uint64_t ReadBigSize();

    ByteSpan ReadBytes(size_t count);
    template <size_t N>
    ByteArray<N> ReadArray()
    {
        ByteArray<N> out{};
        const ByteSpan bytes = ReadBytes(N);
        std::copy(bytes.begin(), bytes.end(), out.begin());
        return out;
    }
    //! A 33-byte compressed point; nullopt (and kInvalidPoint) if it is not on the curve.
    std::optional<PubKey> ReadPoint();
    //! BOLT 1 "signature": 64-byte compact r || s; nullopt (and kInvalidSignature) when r or s is
    //! not below the curve order, as no signature has that encoding.
    std::optional<EcdsaSignature> ReadSignature();
    Hash256 ReadChainHash() { return ReadArray<32>(); }
    ShortChannelId ReadShortChannelId() { return ShortChannelId::FromU64(ReadU64()); }
    //! Everything not read yet (empty after a failure).
    ByteSpan ReadRemaining();

    size_t Remaining() const { return m_rest.size(); }
    bool AtEnd() const { return m_rest.empty(); }
    //! Fixed-size encodings must be consumed exactly; leftover bytes are kBadLength.
    void ExpectEnd();

    bool Ok() const { return !m_error; }
    const std::optional<DecodeError>& Error() const { return m_error; }
    //! Records a failure found by the caller's own validation; the first failure wins.
    void Fail(DecodeError error);

private:
    template <typename UInt>
    UInt ReadUnsigned()
    {
        UInt value = 0;
        for (const uint8_t byte : ReadBytes(sizeof(UInt))) value = static_cast<UInt>(value << 8 | byte);
        return value;
    }
    uint64_t ReadTruncated(size_t max_width);

    ByteSpan m_rest;
    std::optional<DecodeError> m_error;
};

//! Appends big-endian Lightning wire fields to a caller-owned buffer.
class WireWriter
{
public:
    explicit WireWriter(Bytes& out) : m_out(out) {}

    void WriteU8(uint8_t value) { m_out.push_back(value); }
    void WriteU16(uint16_t value) { WriteUnsigned(value, 2); }
    void WriteU32(uint32_t value) { WriteUnsigned(value, 4); }
    void WriteU64(uint64_t value) { WriteUnsigned(value, 8); }
    void WriteS8(int8_t value) { WriteU8(static_cast<uint8_t>(value)); }
    void WriteS16(int16_t value) { WriteU16(static_cast<uint16_t>(value)); }
    void WriteS32(int32_t value) { WriteU32(static_cast<uint32_t>(value)); }
    void WriteS64(int64_t value) { WriteU64(static_cast<uint64_t>(value)); }
    //! Minimal truncated integers: no leading zero bytes, zero is empty.
    void WriteTu16(uint16_t value) { WriteTu64(value); }
    void WriteTu32(uint32_t value) { WriteTu64(value); }
    void WriteTu64(uint64_t value);
    void WriteBigSize(uint64_t value);
    void WriteBytes(ByteSpan bytes) { Append(m_out, bytes); }
    //! u16 length followed by the bytes; throws std::length_error above 65535 (a local bug).
    void WriteU16Prefixed(ByteSpan bytes);
    void WritePoint(const PubKey& point) { WriteBytes(point.span()); }
    void WriteSignature(const EcdsaSignature& signature) { WriteBytes(signature.Compact()); }
    void WriteShortChannelId(const ShortChannelId& scid) { WriteU64(scid.ToU64()); }

private:
    void WriteUnsigned(uint64_t value, size_t width);

    Bytes& m_out;
};

//! Minimal byte count of a truncated integer holding `value` (0 for zero).
size_t TruncatedLength(uint64_t value);

} // namespace sidebolt

#endif
