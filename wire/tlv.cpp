#include "wire/tlv.h"

#include "wire/bigsize.h"

#include <algorithm>
#include <optional>

namespace sidebolt {
namespace {
bool Contains(std::span<const uint64_t> types, uint64_t type)
{
    return std::find(types.begin(), types.end(), type) != types.end();
}
} // namespace

Decoded<TlvStream> TlvStream::Decode(ByteSpan bytes, std::span<const uint64_t> known_types)
{
    TlvStream stream;
    std::optional<uint64_t> previous_type;
    // "if zero bytes remain before parsing a type: MUST stop parsing the tlv_stream."
    while (!bytes.empty()) {
        const auto type = ReadBigSize(bytes);
        if (!type) return type.error();
        // Checked before the length so reordering is reported even for a truncated record.
        if (previous_type && *type <= *previous_type) return DecodeError::kTlvNotIncreasing;
        previous_type = *type;
        const auto length = ReadBigSize(bytes);
        if (!length) return length.error();
        if (*length > bytes.size()) return DecodeError::kTruncated;
        if (!Contains(known_types, *type) && !IsOkToBeOdd(*type)) return DecodeError::kUnknownEvenType;
        const ByteSpan value = bytes.first(static_cast<size_t>(*length));
        stream.m_records.push_back(TlvRecord{*type, Bytes(value.begin(), value.end())});
        bytes = bytes.subspan(value.size());
    }
    return stream;
}

void TlvStream::AppendTo(Bytes& out) const
{
    for (const auto& record : m_records) {
        AppendBigSize(out, record.type);
        AppendBigSize(out, record.value.size());
        Append(out, record.value);
    }
}

Bytes TlvStream::Encode() const
{
    Bytes out;
    AppendTo(out);
    return out;
}

const Bytes* TlvStream::Find(uint64_t type) const
{
    const auto it = std::find_if(m_records.begin(), m_records.end(), [&](const auto& r) { return r.type == type; });
    return it == m_records.end() ? nullptr : &it->value;
}

void TlvStream::Set(uint64_t type, Bytes value)
{
    const auto it = std::lower_bound(m_records.begin(), m_records.end(), type,
                                     [](const TlvRecord& r, uint64_t t) { return r.type < t; });
    if (it != m_records.end() && it->type == type) {
        it->value = std::move(value);
    } else {
        m_records.insert(it, TlvRecord{type, std::move(value)});
    }
}

TlvStream TlvStream::Without(std::span<const uint64_t> types) const
{
    TlvStream out;
    for (const auto& record : m_records) {
        if (!Contains(types, record.type)) out.m_records.push_back(record);
    }
    return out;
}

TlvStream ReadTlvStream(WireReader& reader, std::span<const uint64_t> known_types)
{
    if (!reader.Ok()) return {};
    auto stream = TlvStream::Decode(reader.ReadRemaining(), known_types);
    if (!stream) {
        reader.Fail(stream.error());
        return {};
    }
    return std::move(*stream);
}

} // namespace sidebolt
