#ifndef SIDEBOLT_PRIMITIVES_HASH_H
#define SIDEBOLT_PRIMITIVES_HASH_H

#include "util/bytes.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sidebolt {

using Hash256 = ByteArray<32>;
using Hash160 = ByteArray<20>;

//! Incremental SHA256 (OpenSSL's, with SHA-NI/AVX where the CPU has them). The state lives in
//! the writer: no allocation per digest, and a copy carries on from the same midstate.
class Sha256Writer
{
public:
    Sha256Writer();
    Sha256Writer& Write(ByteSpan data);
    //! Finishes the digest; the writer is reset and may be reused.
    Hash256 Finalize();

private:
    //! OpenSSL's SHA256_CTX, whose size hash.cpp checks: its header stays out of this one.
    static constexpr size_t STATE_SIZE = 112;
    alignas(8) std::array<uint8_t, STATE_SIZE> m_state;
};

Hash256 Sha256(ByteSpan data);
//! Bitcoin's double SHA256 (txids, block hashes, checksums).
Hash256 Sha256d(ByteSpan data);
Hash256 HmacSha256(ByteSpan key, ByteSpan data);
Hash160 Ripemd160(ByteSpan data);
//! RIPEMD160(SHA256(data)): public key and script hashes.
Hash160 Hash160Of(ByteSpan data);
//! BIP340 tagged hash: SHA256(SHA256(tag) || SHA256(tag) || data).
Hash256 TaggedHash(std::string_view tag, ByteSpan data);

} // namespace sidebolt

#endif
