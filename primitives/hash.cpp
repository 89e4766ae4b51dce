#include "primitives/hash.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>
#include <string_view>

namespace sidebolt {
namespace {
const EVP_MD* FetchedSha256()
{
    // Fetching once avoids a provider lookup on every digest (OpenSSL 3 "implicit fetch" cost).
    static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (!md) throw std::runtime_error("OpenSSL has no SHA256");
    return md;
}

const EVP_MD* FetchedRipemd160()
{
    static EVP_MD* md = [] {
        EVP_MD* m = EVP_MD_fetch(nullptr, "RIPEMD160", nullptr);
        // OpenSSL 3 moved RIPEMD160 to the legacy provider on some builds; fall back to it.
        if (!m) m = EVP_MD_fetch(nullptr, "RIPEMD160", "provider=legacy");
        return m;
    }();
    if (!md) throw std::runtime_error("OpenSSL has no RIPEMD160");
    return md;
}

void Check(int ok)
{
    if (ok != 1) throw std::runtime_error("OpenSSL digest failure");
}
} // namespace

void Sha256Writer::CtxDeleter::operator()(void* ctx) const { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx)); }

Sha256Writer::Sha256Writer() : m_ctx(EVP_MD_CTX_new())
{
    if (!m_ctx) throw std::bad_alloc();
    Check(EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(m_ctx.get()), FetchedSha256(), nullptr));
}

Sha256Writer& Sha256Writer::Write(ByteSpan data)
{
    Check(EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(m_ctx.get()), data.data(), data.size()));
    return *this;
}

Hash256 Sha256Writer::Finalize()
{
    auto* ctx = static_cast<EVP_MD_CTX*>(m_ctx.get());
    Hash256 out;
    unsigned int len = 0;
    Check(EVP_DigestFinal_ex(ctx, out.data(), &len));
    Check(EVP_DigestInit_ex(ctx, FetchedSha256(), nullptr));
    return out;
}

Hash256 Sha256(ByteSpan data)
{
    Hash256 out;
    unsigned int len = 0;
    Check(EVP_Digest(data.data(), data.size(), out.data(), &len, FetchedSha256(), nullptr));
    return out;
}

Hash256 Sha256d(ByteSpan data)
{
    const Hash256 first = Sha256(data);
    return Sha256(first);
}

Hash256 HmacSha256(ByteSpan key, ByteSpan data)
{
    Hash256 out;
    unsigned int len = 0;
    if (!HMAC(FetchedSha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &len)) {
        throw std::runtime_error("OpenSSL HMAC failure");
    }
    return out;
}

Hash160 Ripemd160(ByteSpan data)
{
    Hash160 out;
    unsigned int len = 0;
    Check(EVP_Digest(data.data(), data.size(), out.data(), &len, FetchedRipemd160(), nullptr));
    return out;
}

Hash160 Hash160Of(ByteSpan data) { return Ripemd160(Sha256(data)); }

Hash256 TaggedHash(std::string_view tag, ByteSpan data)
{
    const Hash256 tag_hash = Sha256({reinterpret_cast<const uint8_t*>(tag.data()), tag.size()});
    return Sha256Writer{}.Write(tag_hash).Write(tag_hash).Write(data).Finalize();
}

} // namespace sidebolt
