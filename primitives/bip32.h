#ifndef SIDEBOLT_PRIMITIVES_BIP32_H
#define SIDEBOLT_PRIMITIVES_BIP32_H

#include "primitives/key.h"
#include "primitives/network.h"
#include "util/bytes.h"
#include "util/secure.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sidebolt {

//! Child indices at or above this are hardened (written 0h or 0' in paths).
inline constexpr uint32_t BIP32_HARDENED = 0x80000000;

using KeyFingerprint = ByteArray<4>;

//! BIP32 extended public key (K, c) plus its position in the tree.
struct ExtPubKey {
    uint8_t depth;
    KeyFingerprint parent_fingerprint;
    uint32_t child_number;
    ByteArray<32> chain_code;
    PubKey key;

    //! First 4 bytes of HASH160 of the compressed public key.
    KeyFingerprint Fingerprint() const;
    //! CKDpub. Nullopt for hardened indices, at depth 255 (the child could not be serialized), or
    //! when BIP32 declares the child invalid (I_L >= n or the point at infinity; p < 2^-127).
    std::optional<ExtPubKey> Derive(uint32_t index) const;
    std::optional<ExtPubKey> Derive(std::span<const uint32_t> path) const;
    //! xpub... on mainnet, tpub... on the test networks.
    std::string ToString(Network network) const;

    bool operator==(const ExtPubKey&) const = default;
};

//! BIP32 extended private key (k, c). The key and chain code are wiped on destruction.
struct ExtPrivKey {
    uint8_t depth;
    KeyFingerprint parent_fingerprint;
    uint32_t child_number;
    Secret<32> chain_code;
    PrivKey key;

    //! Master key: I = HMAC-SHA512("Bitcoin seed", seed). Nullopt when the seed is outside BIP32's
    //! 16..64 bytes or I_L is 0 or >= n.
    static std::optional<ExtPrivKey> FromSeed(ByteSpan seed);

    ExtPubKey Neuter() const;
    KeyFingerprint Fingerprint() const;
    //! CKDpriv, hardened or normal. Nullopt at depth 255 or when BIP32 declares the child
    //! invalid (I_L >= n or k_i = 0); callers then move on to the next index.
    std::optional<ExtPrivKey> Derive(uint32_t index) const;
    std::optional<ExtPrivKey> Derive(std::span<const uint32_t> path) const;
    //! xprv... / tprv...: the string is as secret as the key; never log it.
    std::string ToString(Network network) const;

    bool operator==(const ExtPrivKey&) const = default;
};

enum class ExtKeyError {
    InvalidBase58,
    BadChecksum,
    InvalidLength,                  //!< payload is not 78 bytes
    UnknownVersion,
    WrongNetwork,                   //!< mainnet version on a test network or the reverse
    ZeroDepthWithParentFingerprint,
    ZeroDepthWithChildNumber,
    PrivateDataWithPubVersion,      //!< BIP32 vector 5 "pubkey version / prvkey mismatch"
    PublicDataWithPrivVersion,      //!< "prvkey version / pubkey mismatch"
    InvalidPubKeyPrefix,            //!< key data starts with neither 02 nor 03
    InvalidPrivKeyPrefix,           //!< private key data does not start with 00
    InvalidPubKey,                  //!< not a point on the curve
    InvalidPrivKey,                 //!< 0 or >= n
};

//! Parses xprv/xpub (mainnet) or tprv/tpub (test networks) with every BIP32 validity check.
std::variant<ExtPrivKey, ExtPubKey, ExtKeyError> ParseExtKey(std::string_view str, Network network);
std::optional<ExtPrivKey> ParseExtPrivKey(std::string_view str, Network network);
std::optional<ExtPubKey> ParseExtPubKey(std::string_view str, Network network);

//! "m", "m/0'/1/2h": indices below 2^31, hardened with ', h or H. Nullopt on anything else.
std::optional<std::vector<uint32_t>> ParseBip32Path(std::string_view path);
//! "m/0h/1/2h".
std::string FormatBip32Path(std::span<const uint32_t> path);

} // namespace sidebolt

#endif
