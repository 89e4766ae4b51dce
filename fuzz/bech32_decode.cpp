// Decodes arbitrary text as bech32/bech32m (addresses today, BOLT 11 invoices from peers later),
// encodes arbitrary HRPs and values, and regroups arbitrary values with ConvertBits. It must never
// crash; an accepted string re-encodes to its lower-case form, an encoded string decodes to what
// was encoded, and ConvertBits agrees with a bit-by-bit model of BIP173's regrouping.
#include "primitives/bech32.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

using namespace sidebolt;

namespace {
//! Invoices are decoded with a larger limit than addresses; the codec must hold for any limit.
constexpr size_t UNLIMITED = std::numeric_limits<size_t>::max();

void Require(bool condition)
{
    if (!condition) std::abort();
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
char Upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

template <typename Fn>
std::string Map(std::string_view str, Fn fn)
{
    std::string out(str.size(), '\0');
    std::transform(str.begin(), str.end(), out.begin(), fn);
    return out;
}

bool SameDecoding(const bech32::Decoded& a, const bech32::Decoded& b)
{
    return a.encoding == b.encoding && a.hrp == b.hrp && a.values == b.values;
}

std::optional<bech32::Decoded> TryDecode(std::string_view str, size_t max_length)
{
    auto result = bech32::Decode(str, max_length);
    if (auto* decoded = std::get_if<bech32::Decoded>(&result)) return std::move(*decoded);
    Require(str.size() <= max_length || std::get<bech32::DecodeError>(result) == bech32::DecodeError::TooLong);
    return std::nullopt;
}

//! A decoded string is the canonical encoding of its parts, in either case.
void CheckDecode(std::string_view str)
{
    const auto decoded = TryDecode(str, UNLIMITED);
    const auto address = TryDecode(str, bech32::MAX_ADDRESS_LENGTH);
    // The length limit is the only difference between the two.
    Require(address.has_value() == (decoded.has_value() && str.size() <= bech32::MAX_ADDRESS_LENGTH));
    if (!decoded) return;
    if (address) Require(SameDecoding(*address, *decoded));

    Require(std::all_of(decoded->values.begin(), decoded->values.end(), [](uint8_t v) { return v < 32; }));
    const std::string lower = Map(str, Lower);
    Require(bech32::Encode(decoded->encoding, decoded->hrp, decoded->values, UNLIMITED) == lower);
    for (const std::string& variant : {lower, Map(str, Upper)}) {
        const auto again = TryDecode(variant, UNLIMITED);
        Require(again && SameDecoding(*again, *decoded));
    }
}

//! Layout: flags, HRP length, HRP, values. Unless the sanitize flag is set, HRP and values are
//! raw, so Encode's argument checks are exercised as well as its output.
void CheckEncode(std::string_view input)
{
    if (input.size() < 2) return;
    const auto flags = static_cast<uint8_t>(input[0]);
    const auto encoding = flags & 1 ? bech32::Encoding::Bech32m : bech32::Encoding::Bech32;
    const bool sanitize = flags & 2;
    const size_t max_length = flags & 4 ? UNLIMITED : bech32::MAX_ADDRESS_LENGTH;
    const size_t wanted_hrp_size = static_cast<uint8_t>(input[1]) % 128;
    input.remove_prefix(2);
    const size_t hrp_size = std::min(wanted_hrp_size, input.size());
    std::string hrp{input.substr(0, hrp_size)};
    Bytes values(input.begin() + static_cast<std::ptrdiff_t>(hrp_size), input.end());
    if (sanitize) {
        for (char& c : hrp) c = Lower(static_cast<char>(33 + static_cast<uint8_t>(c) % 94));
        for (uint8_t& v : values) v &= 31;
    }

    const bool valid_hrp = !hrp.empty() && hrp.size() <= bech32::MAX_HRP_LENGTH &&
                           std::all_of(hrp.begin(), hrp.end(), [](char c) { return c >= 33 && c <= 126 && c == Lower(c); });
    const bool valid_values = std::all_of(values.begin(), values.end(), [](uint8_t v) { return v < 32; });
    const size_t length = hrp.size() + 1 + values.size() + bech32::CHECKSUM_LENGTH;
    std::string encoded;
    try {
        encoded = bech32::Encode(encoding, hrp, values, max_length);
    } catch (const std::invalid_argument&) {
        Require(!valid_hrp || !valid_values || length > max_length);
        return;
    }
    Require(valid_hrp && valid_values && length <= max_length && encoded.size() == length);
    const auto decoded = TryDecode(encoded, max_length);
    Require(decoded && SameDecoding(*decoded, bech32::Decoded{encoding, hrp, values}));
}

//! BIP173's regrouping done one bit at a time, the model bech32::ConvertBits must match.
std::optional<Bytes> ModelConvertBits(ByteSpan in, unsigned from_bits, unsigned to_bits, bool pad)
{
    std::vector<bool> bits;
    for (const uint8_t value : in) {
        if (value >> from_bits) return std::nullopt;
        for (unsigned i = from_bits; i-- > 0;) bits.push_back((value >> i) & 1);
    }
    const size_t leftover = bits.size() % to_bits;
    if (pad && leftover != 0) {
        bits.resize(bits.size() + to_bits - leftover, false);
    } else if (!pad) {
        if (leftover >= from_bits || std::any_of(bits.end() - static_cast<std::ptrdiff_t>(leftover), bits.end(), [](bool b) { return b; })) {
            return std::nullopt;
        }
        bits.resize(bits.size() - leftover);
    }
    Bytes out;
    for (size_t i = 0; i < bits.size(); i += to_bits) {
        uint8_t value = 0;
        for (size_t j = i; j < i + to_bits; ++j) value = static_cast<uint8_t>(value << 1 | bits[j]);
        out.push_back(value);
    }
    return out;
}

std::optional<Bytes> ConvertAndCompare(ByteSpan in, unsigned from_bits, unsigned to_bits, bool pad)
{
    auto out = bech32::ConvertBits(in, from_bits, to_bits, pad);
    Require(out == ModelConvertBits(in, from_bits, to_bits, pad));
    return out;
}

//! Layout: one byte of widths and padding flag, then the values (often out of range on purpose).
void CheckConvertBits(ByteSpan input)
{
    if (input.empty()) return;
    const unsigned from_bits = 1 + (input[0] & 7);
    const unsigned to_bits = 1 + ((input[0] >> 3) & 7);
    const bool pad = input[0] & 0x40;
    const ByteSpan values = input.subspan(1);
    const auto out = ConvertAndCompare(values, from_bits, to_bits, pad);
    if (!out) return;
    // Converting back undoes it: exactly when the forward step dropped only zero bits, and up to
    // whole groups of padding zeros when it added them.
    const auto back = ConvertAndCompare(*out, to_bits, from_bits, !pad);
    Require(back && back->size() >= values.size() && std::equal(values.begin(), values.end(), back->begin()));
    const auto extra = back->begin() + static_cast<std::ptrdiff_t>(values.size());
    Require(std::all_of(extra, back->end(), [](uint8_t v) { return v == 0; }));
    if (!pad) Require(extra == back->end());
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    CheckDecode(text);
    CheckEncode(text);
    CheckConvertBits({data, size});
    return 0;
}
