#ifndef SIDEBOLT_WIRE_TLV_H
#define SIDEBOLT_WIRE_TLV_H

#include "wire/decode_error.h"
#include "wire/wire.h"
#include "util/bytes.h"

#include <cstdint>
#include <span>
#include <vector>

namespace sidebolt {

struct TlvRecord {
    uint64_t type{0};
    Bytes value;
    bool operator==(const TlvRecord&) const = default;
};

//! "It's ok to be odd": unknown odd types and messages are ignored, unknown even ones are fatal.
constexpr bool IsOkToBeOdd(uint64_t type) { return type % 2 == 1; }

//! A BOLT 1 tlv_stream, records in strictly increasing type order.
//!
//! Decoding checks the stream's structure only: each known record's value is then decoded by
//! the message that owns the stream, which must reject values of the wrong length. Unknown odd
//! records are kept (not interpreted) so that re-encoding reproduces the received bytes, which
//! signed messages need.
class TlvStream
{
public:
    TlvStream() = default;

    //! BOLT 1 receiving rules: minimal type and length, strictly increasing types, length
    //! within the remaining bytes, and an unknown (not in `known_types`) even type is an error.
    static Decoded<TlvStream> Decode(ByteSpan bytes, std::span<const uint64_t> known_types);

    void AppendTo(Bytes& out) const;
    Bytes Encode() const;

    //! The value of `type`, or nullptr when the stream has no such record.
    const Bytes* Find(uint64_t type) const;
    //! Inserts or replaces the record of `type`, keeping the order.
    void Set(uint64_t type, Bytes value);
    //! Keeps only the records whose type is not in `types`.
    TlvStream Without(std::span<const uint64_t> types) const;

    const std::vector<TlvRecord>& Records() const { return m_records; }
    bool empty() const { return m_records.empty(); }
    bool operator==(const TlvStream&) const = default;

private:
    std::vector<TlvRecord> m_records;
};

//! BOLT 1: the TLV stream that follows a message's fixed fields takes every byte left in
//! `reader`; a malformed one fails the reader (and an empty stream is returned).
TlvStream ReadTlvStream(WireReader& reader, std::span<const uint64_t> known_types);

} // namespace sidebolt

#endif
