#ifndef SIDEBOLT_PAY_ONION_CRYPTO_H
#define SIDEBOLT_PAY_ONION_CRYPTO_H

#include "util/bytes.h"
#include "util/secure.h"

#include <string_view>

namespace sidebolt {

//! BOLT 4 "Key Generation": HMAC-SHA256 keyed by the key type ("rho", "mu", "um", "pad",
//! "ammag"), over the shared secret.
Secret<32> GenerateOnionKey(std::string_view key_type, const Secret<32>& shared_secret);

//! XORs `data` with the BOLT 4 "Pseudo Random Byte Stream" of `key`: ChaCha20 with a 96-bit
//! zero nonce, from block counter 0.
void XorChaCha20Stream(const Secret<32>& key, MutableByteSpan data);

} // namespace sidebolt

#endif
