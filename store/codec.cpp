#include "store/codec.h"

#include "store/env.h"

#include <nlohmann/json.hpp>

namespace sidebolt::store {

namespace {

template <typename T>
void AppendBigEndian(Bytes& out, T value)
{
    for (int shift = 8 * (sizeof(T) - 1); shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

template <typename T>
std::optional<T> ReadBigEndian(ByteSpan bytes)
{
    if (bytes.size() != sizeof(T)) return std::nullopt;
    T value{0};
    for (const uint8_t b : bytes) value = static_cast<T>((value << 8) | b);
    return value;
}

} // namespace

std::string ToString(ByteSpan bytes) { return {bytes.begin(), bytes.end()}; }

Bytes EncodeU32(uint32_t value)
{
    Bytes out;
    AppendBigEndian(out, value);
    return out;
}

Bytes EncodeU64(uint64_t value)
{
    Bytes out;
    AppendBigEndian(out, value);
    return out;
}

std::optional<uint32_t> DecodeU32(ByteSpan bytes) { return ReadBigEndian<uint32_t>(bytes); }
std::optional<uint64_t> DecodeU64(ByteSpan bytes) { return ReadBigEndian<uint64_t>(bytes); }

KeyBuilder& KeyBuilder::U8(uint8_t value)
{
    m_key.push_back(value);
    return *this;
}

KeyBuilder& KeyBuilder::U32(uint32_t value)
{
    AppendBigEndian(m_key, value);
    return *this;
}

KeyBuilder& KeyBuilder::U64(uint64_t value)
{
    AppendBigEndian(m_key, value);
    return *this;
}

KeyBuilder& KeyBuilder::Raw(ByteSpan bytes)
{
    Append(m_key, bytes);
    return *this;
}

KeyBuilder& KeyBuilder::Str(std::string_view text) { return Raw(AsBytes(text)); }

Bytes EncodeJson(const nlohmann::json& value)
{
    const std::string text = value.dump();
    return {text.begin(), text.end()};
}

nlohmann::json DecodeJson(ByteSpan bytes)
{
    auto value = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) throw StoreError("decode json", "malformed JSON value");
    return value;
}

} // namespace sidebolt::store
