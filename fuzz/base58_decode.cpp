// Decodes arbitrary text as base58 and base58check under several length bounds, and encodes
// arbitrary bytes. It must never crash; base58 is canonical (a decoded string re-encodes to
// itself, encoded bytes decode to themselves), max_len refuses exactly the results longer than
// it, and base58check accepts exactly the strings whose last 4 bytes are SHA256d's first 4.
#include "primitives/base58.h"
#include "primitives/hash.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

using namespace sidebolt;

namespace {
//! 0 refuses all but "", 21 and 78 are what addresses and extended keys allow.
constexpr std::array<size_t, 4> MAX_LENGTHS = {0, 21, 78, 200};
constexpr std::string_view ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

void Require(bool condition)
{
    if (!condition) std::abort();
}

bool Failed(const std::variant<Bytes, Base58CheckError>& result, Base58CheckError expected)
{
    const auto* error = std::get_if<Base58CheckError>(&result);
    return error && *error == expected;
}

void CheckDecode(std::string_view str)
{
    // No string decodes to more bytes than it has characters.
    const auto decoded = DecodeBase58(str, str.size());
    Require(decoded.has_value() == (str.find_first_not_of(ALPHABET) == std::string_view::npos));
    if (decoded) Require(EncodeBase58(*decoded) == str);
    for (const size_t max_len : MAX_LENGTHS) {
        const auto bounded = DecodeBase58(str, max_len);
        Require(bounded.has_value() == (decoded && decoded->size() <= max_len));
        if (bounded) Require(*bounded == *decoded);
    }
}

void CheckDecodeCheck(std::string_view str)
{
    for (const size_t max_len : MAX_LENGTHS) {
        const auto result = DecodeBase58Check(str, max_len);
        const auto raw = DecodeBase58(str, max_len + 4);
        if (!raw || raw->size() < 4) {
            Require(Failed(result, Base58CheckError::InvalidEncoding));
            continue;
        }
        const ByteSpan payload{raw->data(), raw->size() - 4};
        const Hash256 checksum = Sha256d(payload);
        const bool good = std::equal(raw->end() - 4, raw->end(), checksum.begin());
        if (!good) {
            Require(Failed(result, Base58CheckError::BadChecksum));
            continue;
        }
        const auto* decoded = std::get_if<Bytes>(&result);
        Require(decoded && std::equal(decoded->begin(), decoded->end(), payload.begin(), payload.end()));
        Require(EncodeBase58Check(*decoded) == str);
    }
}

void CheckEncode(ByteSpan data)
{
    const Bytes bytes(data.begin(), data.end());
    const std::string encoded = EncodeBase58(data);
    Require(encoded.find_first_not_of(ALPHABET) == std::string::npos);
    Require(DecodeBase58(encoded, data.size()) == bytes);
    // Exactly one '1' per leading zero byte.
    const auto zeros = std::find_if(data.begin(), data.end(), [](uint8_t b) { return b != 0; }) - data.begin();
    const auto ones = std::find_if(encoded.begin(), encoded.end(), [](char c) { return c != '1'; }) - encoded.begin();
    Require(zeros == ones);

    const std::string checked = EncodeBase58Check(data);
    const auto result = DecodeBase58Check(checked, data.size());
    const auto* payload = std::get_if<Bytes>(&result);
    Require(payload && *payload == bytes);
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    CheckDecode(text);
    CheckDecodeCheck(text);
    CheckEncode({data, size});
    return 0;
}
