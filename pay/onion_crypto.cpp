#include "pay/onion_crypto.h"

#include "primitives/hash.h"

#include <openssl/evp.h>

#include <memory>
#include <new>
#include <stdexcept>

namespace sidebolt {
namespace {

const EVP_CIPHER* FetchedChaCha20()
{
    // Fetched once: an implicit fetch per operation costs a provider lookup (OpenSSL 3).
    static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "ChaCha20", nullptr);
    if (!cipher) throw std::runtime_error("OpenSSL has no ChaCha20");
    return cipher;
}

} // namespace

Secret<32> GenerateOnionKey(std::string_view key_type, const Secret<32>& shared_secret)
{
    const ByteSpan type{reinterpret_cast<const uint8_t*>(key_type.data()), key_type.size()};
    Hash256 mac = HmacSha256(type, shared_secret.span());
    const Secret<32> key(mac);
    SecureWipe(mac.data(), mac.size());
    return key;
}

void XorChaCha20Stream(const Secret<32>& key, MutableByteSpan data)
{
    // OpenSSL's 16-byte ChaCha20 IV is a 32-bit little-endian block counter followed by the
    // 96-bit nonce: all zero is counter 0 with BOLT 4's zero nonce.
    const std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
    if (!ctx) throw std::bad_alloc();
    const ByteArray<16> iv{};
    int written = 0;
    if (EVP_EncryptInit_ex2(ctx.get(), FetchedChaCha20(), key.data(), iv.data(), nullptr) != 1 ||
        EVP_EncryptUpdate(ctx.get(), data.data(), &written, data.data(), static_cast<int>(data.size())) != 1 ||
        static_cast<size_t>(written) != data.size()) {
        throw std::runtime_error("ChaCha20 failed");
    }
}

} // namespace sidebolt
