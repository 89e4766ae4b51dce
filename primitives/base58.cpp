#include "primitives/base58.h"

#include "primitives/hash.h"
#include "util/secure.h"

#include <algorithm>
#include <array>

namespace sidebolt {
namespace {
constexpr std::string_view ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
constexpr size_t CHECKSUM_SIZE = 4;

constexpr std::array<int8_t, 256> MakeDigitTable()
{
    std::array<int8_t, 256> table{};
    table.fill(-1);
    for (size_t i = 0; i < ALPHABET.size(); ++i) table[static_cast<uint8_t>(ALPHABET[i])] = static_cast<int8_t>(i);
    return table;
}
constexpr std::array<int8_t, 256> DIGITS = MakeDigitTable();

//! Scratch buffers may hold extended private keys in transformed form, so they are wiped.
struct WipedBuffer {
    Bytes data;
    explicit WipedBuffer(size_t size) : data(size, 0) {}
    ~WipedBuffer() { SecureWipe(data.data(), data.size()); }
    WipedBuffer(const WipedBuffer&) = delete;
    WipedBuffer& operator=(const WipedBuffer&) = delete;
};

ByteArray<CHECKSUM_SIZE> Checksum(ByteSpan payload)
{
    const Hash256 hash = Sha256d(payload);
    ByteArray<CHECKSUM_SIZE> out;
    std::copy_n(hash.begin(), CHECKSUM_SIZE, out.begin());
    return out;
}
} // namespace

std::string EncodeBase58(ByteSpan data)
{
    const size_t zeros = static_cast<size_t>(std::find_if(data.begin(), data.end(), [](uint8_t b) { return b != 0; }) - data.begin());
    // log(256) / log(58) < 1.38: enough base58 digits for the remaining bytes.
    WipedBuffer digits((data.size() - zeros) * 138 / 100 + 1);
    size_t used = 0;
    for (size_t i = zeros; i < data.size(); ++i) {
        int carry = data[i];
        size_t j = 0;
        for (auto it = digits.data.rbegin(); (carry != 0 || j < used) && it != digits.data.rend(); ++it, ++j) {
            carry += 256 * (*it);
            *it = static_cast<uint8_t>(carry % 58);
            carry /= 58;
        }
        used = j;
    }
    std::string out(zeros, '1');
    out.reserve(zeros + used);
    for (auto it = digits.data.end() - static_cast<std::ptrdiff_t>(used); it != digits.data.end(); ++it) out.push_back(ALPHABET[*it]);
    return out;
}

std::optional<Bytes> DecodeBase58(std::string_view str, size_t max_len)
{
    const size_t zeros = static_cast<size_t>(std::find_if(str.begin(), str.end(), [](char c) { return c != '1'; }) - str.begin());
    if (zeros > max_len) return std::nullopt;
    // log(58) / log(256) < 0.733: enough bytes for the remaining digits.
    WipedBuffer bytes((str.size() - zeros) * 733 / 1000 + 1);
    size_t used = 0;
    for (size_t i = zeros; i < str.size(); ++i) {
        int carry = DIGITS[static_cast<uint8_t>(str[i])];
        if (carry < 0) return std::nullopt;
        size_t j = 0;
        for (auto it = bytes.data.rbegin(); (carry != 0 || j < used) && it != bytes.data.rend(); ++it, ++j) {
            carry += 58 * (*it);
            *it = static_cast<uint8_t>(carry % 256);
            carry /= 256;
        }
        used = j;
        if (zeros + used > max_len) return std::nullopt;
    }
    Bytes out(zeros, 0);
    out.insert(out.end(), bytes.data.end() - static_cast<std::ptrdiff_t>(used), bytes.data.end());
    return out;
}

std::string EncodeBase58Check(ByteSpan payload)
{
    WipedBuffer with_checksum(payload.size() + CHECKSUM_SIZE);
    std::copy(payload.begin(), payload.end(), with_checksum.data.begin());
    const auto checksum = Checksum(payload);
    std::copy(checksum.begin(), checksum.end(), with_checksum.data.begin() + static_cast<std::ptrdiff_t>(payload.size()));
    return EncodeBase58(with_checksum.data);
}

std::variant<Bytes, Base58CheckError> DecodeBase58Check(std::string_view str, size_t max_payload_len)
{
    auto decoded = DecodeBase58(str, max_payload_len + CHECKSUM_SIZE);
    if (!decoded || decoded->size() < CHECKSUM_SIZE) return Base58CheckError::InvalidEncoding;
    const size_t payload_len = decoded->size() - CHECKSUM_SIZE;
    const ByteSpan payload{decoded->data(), payload_len};
    const auto expected = Checksum(payload);
    if (!std::equal(expected.begin(), expected.end(), decoded->begin() + static_cast<std::ptrdiff_t>(payload_len))) {
        SecureWipe(decoded->data(), decoded->size());
        return Base58CheckError::BadChecksum;
    }
    decoded->resize(payload_len);
    return std::move(*decoded);
}

} // namespace sidebolt
