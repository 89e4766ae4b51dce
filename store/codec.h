#ifndef SIDEBOLT_STORE_CODEC_H
#define SIDEBOLT_STORE_CODEC_H

// Small key/value encodings for LMDB. Keys compare as raw bytes, so integers in keys are
// big-endian (they then sort numerically).

#include "util/bytes.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sidebolt::store {

inline ByteSpan AsBytes(std::string_view text) { return {reinterpret_cast<const uint8_t*>(text.data()), text.size()}; }
std::string ToString(ByteSpan bytes);

Bytes EncodeU32(uint32_t value);
Bytes EncodeU64(uint64_t value);
//! nullopt unless exactly 4 (or 8) bytes.
std::optional<uint32_t> DecodeU32(ByteSpan bytes);
std::optional<uint64_t> DecodeU64(ByteSpan bytes);

//! Composite keys that sort by component: fixed-width parts first; a variable-length part
//! (Raw/Str) is only unambiguous as the last component.
class KeyBuilder
{
public:
    KeyBuilder& U8(uint8_t value);
    KeyBuilder& U32(uint32_t value);
    KeyBuilder& U64(uint64_t value);
    KeyBuilder& Raw(ByteSpan bytes);
    KeyBuilder& Str(std::string_view text);

    ByteSpan Span() const { return m_key; }
    operator ByteSpan() const { return m_key; }
    Bytes Take() && { return std::move(m_key); }

private:
    Bytes m_key;
};

//! For rarely written metadata; DecodeJson throws StoreError on malformed data.
Bytes EncodeJson(const nlohmann::json& value);
nlohmann::json DecodeJson(ByteSpan bytes);

} // namespace sidebolt::store

#endif
