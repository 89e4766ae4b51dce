#ifndef SIDEBOLT_UTIL_SECURE_H
#define SIDEBOLT_UTIL_SECURE_H

#include "util/bytes.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <stdexcept>

namespace sidebolt {

//! Overwrites memory in a way the optimizer may not elide.
inline void SecureWipe(void* data, size_t len) { OPENSSL_cleanse(data, len); }

//! Fixed-size secret that is wiped when it goes out of scope. Never log its contents.
template <size_t N>
class Secret
{
public:
    Secret() { m_data.fill(0); }
    explicit Secret(ByteSpan bytes)
    {
        if (bytes.size() != N) throw std::invalid_argument("secret has wrong length");
        std::copy(bytes.begin(), bytes.end(), m_data.begin());
    }
    Secret(const Secret&) = default;
    Secret& operator=(const Secret&) = default;
    ~Secret() { SecureWipe(m_data.data(), m_data.size()); }

    const uint8_t* data() const { return m_data.data(); }
    uint8_t* data() { return m_data.data(); }
    static constexpr size_t size() { return N; }
    ByteSpan span() const { return m_data; }
    MutableByteSpan span() { return m_data; }
    bool operator==(const Secret& other) const { return CRYPTO_memcmp(data(), other.data(), N) == 0; }

private:
    ByteArray<N> m_data;
};

} // namespace sidebolt

#endif
