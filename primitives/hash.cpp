#include "primitives/hash.h"

// OpenSSL 3 deprecates its digest-specific functions for EVP, whose per-digest setup (a context
// allocated, the algorithm's reference counted, the state cleansed) costs more than hashing a
// 32-byte input: 295 ns through EVP against 77 ns here (bench/hash_bench.cpp). Scripts, txids
// and sighashes are such inputs, tens of them per commitment.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/ripemd.h>
#include <openssl/sha.h>

#include <memory>
#include <new>
#include <stdexcept>
#include <string_view>

namespace sidebolt {
namespace {
void Check(int ok)
{
    if (ok != 1) throw std::runtime_error("OpenSSL digest failure");
}

//! The writer's bytes hold a SHA256_CTX (a C aggregate, which such storage implicitly creates).
template <size_t N>
SHA256_CTX* State(std::array<uint8_t, N>& state)
{
    static_assert(sizeof(SHA256_CTX) <= N && alignof(SHA256_CTX) <= 8, "Sha256Writer::STATE_SIZE holds a SHA256_CTX");
    return std::launder(reinterpret_cast<SHA256_CTX*>(state.data()));
}

//! One HMAC-SHA256 context per thread, keyed again for each MAC: OpenSSL's one-shot HMAC()
//! builds and frees a context each call (1.65 us against 0.83 us for a 32-byte input).
EVP_MAC_CTX& ThreadHmacSha256()
{
    struct Owned {
        std::unique_ptr<EVP_MAC, decltype(&EVP_MAC_free)> mac{EVP_MAC_fetch(nullptr, "HMAC", nullptr), EVP_MAC_free};
        std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx{mac ? EVP_MAC_CTX_new(mac.get()) : nullptr,
                                                                     EVP_MAC_CTX_free};
        Owned()
        {
            if (!ctx) throw std::runtime_error("OpenSSL has no HMAC");
            char digest[] = "SHA256";
            const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                         OSSL_PARAM_construct_end()};
            Check(EVP_MAC_CTX_set_params(ctx.get(), params));
        }
    };
    thread_local const Owned owned;
    return *owned.ctx;
}
} // namespace

Sha256Writer::Sha256Writer() : m_state{} { Check(SHA256_Init(State(m_state))); }

Sha256Writer& Sha256Writer::Write(ByteSpan data)
{
    Check(SHA256_Update(State(m_state), data.data(), data.size()));
    return *this;
}

Hash256 Sha256Writer::Finalize()
{
    Hash256 out;
    Check(SHA256_Final(out.data(), State(m_state)));
    Check(SHA256_Init(State(m_state)));
    return out;
}

Hash256 Sha256(ByteSpan data)
{
    SHA256_CTX ctx;
    Hash256 out;
    Check(SHA256_Init(&ctx));
    Check(SHA256_Update(&ctx, data.data(), data.size()));
    Check(SHA256_Final(out.data(), &ctx));
    return out;
}

Hash256 Sha256d(ByteSpan data)
{
    const Hash256 first = Sha256(data);
    return Sha256(first);
}

Hash256 HmacSha256(ByteSpan key, ByteSpan data)
{
    EVP_MAC_CTX& ctx = ThreadHmacSha256();
    Hash256 out;
    size_t len = 0;
    // A null key would mean "the previous key" to EVP_MAC_init: an empty one is still a key.
    static constexpr uint8_t EMPTY_KEY = 0;
    Check(EVP_MAC_init(&ctx, key.empty() ? &EMPTY_KEY : key.data(), key.size(), nullptr));
    Check(EVP_MAC_update(&ctx, data.data(), data.size()));
    Check(EVP_MAC_final(&ctx, out.data(), &len, out.size()));
    if (len != out.size()) throw std::runtime_error("OpenSSL HMAC failure");
    return out;
}

Hash160 Ripemd160(ByteSpan data)
{
    RIPEMD160_CTX ctx;
    Hash160 out;
    Check(RIPEMD160_Init(&ctx));
    Check(RIPEMD160_Update(&ctx, data.data(), data.size()));
    Check(RIPEMD160_Final(out.data(), &ctx));
    return out;
}

Hash160 Hash160Of(ByteSpan data) { return Ripemd160(Sha256(data)); }

Hash256 TaggedHash(std::string_view tag, ByteSpan data)
{
    const Hash256 tag_hash = Sha256({reinterpret_cast<const uint8_t*>(tag.data()), tag.size()});
    return Sha256Writer{}.Write(tag_hash).Write(tag_hash).Write(data).Finalize();
}

} // namespace sidebolt
