#include "primitives/bech32.h"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace sidebolt::bech32 {
namespace {
constexpr std::string_view CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr char SEPARATOR = '1';
//! BIP350: "replacing the constant 1 that is xored into the checksum at the end with 0x2bc830a3".
constexpr uint32_t BECH32_CONST = 1;
constexpr uint32_t BECH32M_CONST = 0x2bc830a3;

constexpr std::array<int8_t, 128> MakeCharsetRev()
{
    std::array<int8_t, 128> rev{};
    rev.fill(-1);
    for (size_t i = 0; i < CHARSET.size(); ++i) {
        const auto c = static_cast<uint8_t>(CHARSET[i]);
        rev[c] = static_cast<int8_t>(i);
        if (c >= 'a' && c <= 'z') rev[c - 'a' + 'A'] = static_cast<int8_t>(i);
    }
    return rev;
}
constexpr std::array<int8_t, 128> CHARSET_REV = MakeCharsetRev();

constexpr bool IsPrintable(char c) { return c >= 33 && c <= 126; }
constexpr bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
constexpr bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
constexpr char ToLower(char c) { return IsUpper(c) ? static_cast<char>(c - 'A' + 'a') : c; }

uint32_t EncodingConstant(Encoding encoding) { return encoding == Encoding::Bech32 ? BECH32_CONST : BECH32M_CONST; }

//! The BCH code's generator, exactly as BIP173 specifies it.
uint32_t PolyMod(uint32_t chk, uint8_t value)
{
    static constexpr std::array<uint32_t, 5> GEN = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    const uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ value;
    for (size_t i = 0; i < GEN.size(); ++i) {
        if ((top >> i) & 1) chk ^= GEN[i];
    }
    return chk;
}

//! Checksum state after the expanded (lower-case) HRP and the data values.
uint32_t ChecksumState(std::string_view hrp, ByteSpan values)
{
    uint32_t chk = 1;
    for (const char c : hrp) chk = PolyMod(chk, static_cast<uint8_t>(c) >> 5);
    chk = PolyMod(chk, 0);
    for (const char c : hrp) chk = PolyMod(chk, static_cast<uint8_t>(c) & 31);
    for (const uint8_t v : values) chk = PolyMod(chk, v);
    return chk;
}
} // namespace

std::string Encode(Encoding encoding, std::string_view hrp, ByteSpan values, size_t max_length)
{
    if (hrp.empty() || hrp.size() > MAX_HRP_LENGTH ||
        !std::all_of(hrp.begin(), hrp.end(), [](char c) { return IsPrintable(c) && !IsUpper(c); })) {
        throw std::invalid_argument("bech32: invalid human-readable part");
    }
    if (std::any_of(values.begin(), values.end(), [](uint8_t v) { return v >= 32; })) {
        throw std::invalid_argument("bech32: value out of range");
    }
    if (hrp.size() + 1 + values.size() + CHECKSUM_LENGTH > max_length) throw std::invalid_argument("bech32: too long");

    uint32_t chk = ChecksumState(hrp, values);
    for (size_t i = 0; i < CHECKSUM_LENGTH; ++i) chk = PolyMod(chk, 0);
    chk ^= EncodingConstant(encoding);

    std::string out{hrp};
    out.push_back(SEPARATOR);
    for (const uint8_t v : values) out.push_back(CHARSET[v]);
    for (size_t i = 0; i < CHECKSUM_LENGTH; ++i) out.push_back(CHARSET[(chk >> (5 * (CHECKSUM_LENGTH - 1 - i))) & 31]);
    return out;
}

std::variant<Decoded, DecodeError> Decode(std::string_view str, size_t max_length)
{
    if (str.size() > max_length) return DecodeError::TooLong;
    if (!std::all_of(str.begin(), str.end(), IsPrintable)) return DecodeError::InvalidCharacter;
    // BIP173: "Decoders MUST NOT accept strings where some characters are uppercase and some are lowercase".
    if (std::any_of(str.begin(), str.end(), IsUpper) && std::any_of(str.begin(), str.end(), IsLower)) {
        return DecodeError::MixedCase;
    }
    const size_t sep = str.rfind(SEPARATOR);
    if (sep == std::string_view::npos) return DecodeError::NoSeparator;
    if (sep == 0) return DecodeError::EmptyHrp;
    if (sep > MAX_HRP_LENGTH) return DecodeError::HrpTooLong;
    if (str.size() - sep - 1 < CHECKSUM_LENGTH) return DecodeError::TooShortChecksum;

    Decoded out{Encoding::Bech32, {}, {}};
    out.hrp.reserve(sep);
    for (const char c : str.substr(0, sep)) out.hrp.push_back(ToLower(c));
    Bytes values;
    values.reserve(str.size() - sep - 1);
    for (const char c : str.substr(sep + 1)) {
        const int8_t v = CHARSET_REV[static_cast<uint8_t>(c)];
        if (v < 0) return DecodeError::InvalidDataCharacter;
        values.push_back(static_cast<uint8_t>(v));
    }

    const uint32_t check = ChecksumState(out.hrp, values);
    if (check == BECH32_CONST) {
        out.encoding = Encoding::Bech32;
    } else if (check == BECH32M_CONST) {
        out.encoding = Encoding::Bech32m;
    } else {
        return DecodeError::InvalidChecksum;
    }
    values.resize(values.size() - CHECKSUM_LENGTH);
    out.values = std::move(values);
    return out;
}

std::optional<Bytes> ConvertBits(ByteSpan in, unsigned from_bits, unsigned to_bits, bool pad)
{
    if (from_bits < 1 || from_bits > 8 || to_bits < 1 || to_bits > 8) throw std::invalid_argument("ConvertBits: bad width");
    const uint32_t max_out = (1u << to_bits) - 1;
    const uint32_t max_acc = (1u << (from_bits + to_bits - 1)) - 1;
    uint32_t acc = 0;
    unsigned bits = 0;
    Bytes out;
    out.reserve((in.size() * from_bits + to_bits - 1) / to_bits);
    for (const uint8_t value : in) {
        if (value >> from_bits) return std::nullopt;
        acc = ((acc << from_bits) | value) & max_acc;
        bits += from_bits;
        while (bits >= to_bits) {
            bits -= to_bits;
            out.push_back(static_cast<uint8_t>((acc >> bits) & max_out));
        }
    }
    if (pad) {
        if (bits > 0) out.push_back(static_cast<uint8_t>((acc << (to_bits - bits)) & max_out));
    } else if (bits >= from_bits || ((acc << (to_bits - bits)) & max_out) != 0) {
        return std::nullopt;
    }
    return out;
}

} // namespace sidebolt::bech32
