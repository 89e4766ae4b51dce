#include "primitives/bip32.h"

#include "primitives/base58.h"
#include "primitives/hash.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace sidebolt {
namespace {
constexpr size_t SERIALIZED_SIZE = 78;
constexpr size_t KEY_DATA_OFFSET = 45;
constexpr uint8_t MAX_DEPTH = 255;
constexpr size_t MIN_SEED_SIZE = 16;
constexpr size_t MAX_SEED_SIZE = 64;

Secret<64> HmacSha512(ByteSpan key, ByteSpan data)
{
    Secret<64> out;
    unsigned int len = 0;
    if (!HMAC(EVP_sha512(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &len)) {
        throw std::runtime_error("OpenSSL HMAC failure");
    }
    return out;
}

void WriteBE32(uint8_t* out, uint32_t value)
{
    for (int i = 3; i >= 0; --i) {
        out[i] = static_cast<uint8_t>(value);
        value >>= 8;
    }
}

uint32_t ReadBE32(const uint8_t* in)
{
    return (uint32_t{in[0]} << 24) | (uint32_t{in[1]} << 16) | (uint32_t{in[2]} << 8) | uint32_t{in[3]};
}

//! Adds I_L to a private or public key. The tweak is wiped: with the child private key it
//! would reveal the parent's.
template <typename Key>
std::optional<Key> AddTweak(const Key& key, const Secret<64>& i)
{
    Hash256 tweak;
    std::copy_n(i.data(), tweak.size(), tweak.begin());
    auto child = key.TweakAdd(tweak);
    SecureWipe(tweak.data(), tweak.size());
    return child;
}

//! HMAC-SHA512(c_par, key_data || ser32(i)) where key_data is 33 bytes.
Secret<64> ChildHmac(ByteSpan chain_code, ByteSpan key_data, uint32_t index)
{
    Secret<37> data;
    std::copy(key_data.begin(), key_data.end(), data.data());
    WriteBE32(data.data() + 33, index);
    return HmacSha512(chain_code, data.span());
}

//! The 45 bytes shared by xpub and xprv: version, depth, parent fingerprint, child number, chain code.
void WriteHeader(uint8_t* out, uint32_t version, uint8_t depth, const KeyFingerprint& parent, uint32_t child,
                 ByteSpan chain_code)
{
    WriteBE32(out, version);
    out[4] = depth;
    std::copy(parent.begin(), parent.end(), out + 5);
    WriteBE32(out + 9, child);
    std::copy(chain_code.begin(), chain_code.end(), out + 13);
}

KeyFingerprint FingerprintOf(const PubKey& key)
{
    const Hash160 id = Hash160Of(key.span());
    KeyFingerprint out;
    std::copy_n(id.begin(), out.size(), out.begin());
    return out;
}

std::optional<uint32_t> ParsePathIndex(std::string_view item)
{
    bool hardened = false;
    if (!item.empty() && (item.back() == '\'' || item.back() == 'h' || item.back() == 'H')) {
        hardened = true;
        item.remove_suffix(1);
    }
    if (item.empty() || (item.size() > 1 && item[0] == '0')) return std::nullopt;
    uint32_t index = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), index);
    if (ec != std::errc{} || end != item.data() + item.size() || index >= BIP32_HARDENED) return std::nullopt;
    return hardened ? index | BIP32_HARDENED : index;
}
} // namespace

KeyFingerprint ExtPubKey::Fingerprint() const { return FingerprintOf(key); }

std::optional<ExtPubKey> ExtPubKey::Derive(uint32_t index) const
{
    // BIP32 CKDpub: "If so (hardened child): return failure".
    if (index & BIP32_HARDENED || depth == MAX_DEPTH) return std::nullopt;
    const Secret<64> i = ChildHmac(chain_code, key.span(), index);
    auto child_key = AddTweak(key, i);
    if (!child_key) return std::nullopt;
    ExtPubKey child{static_cast<uint8_t>(depth + 1), Fingerprint(), index, {}, *child_key};
    std::copy_n(i.data() + 32, child.chain_code.size(), child.chain_code.begin());
    return child;
}

std::optional<ExtPubKey> ExtPubKey::Derive(std::span<const uint32_t> path) const
{
    std::optional<ExtPubKey> current = *this;
    for (const uint32_t index : path) {
        current = current->Derive(index);
        if (!current) break;
    }
    return current;
}

std::string ExtPubKey::ToString(Network network) const
{
    ByteArray<SERIALIZED_SIZE> data;
    WriteHeader(data.data(), Params(network).xpub_version, depth, parent_fingerprint, child_number, chain_code);
    std::copy(key.span().begin(), key.span().end(), data.begin() + KEY_DATA_OFFSET);
    return EncodeBase58Check(data);
}

std::optional<ExtPrivKey> ExtPrivKey::FromSeed(ByteSpan seed)
{
    if (seed.size() < MIN_SEED_SIZE || seed.size() > MAX_SEED_SIZE) return std::nullopt;
    static constexpr std::string_view HMAC_KEY = "Bitcoin seed";
    const Secret<64> i = HmacSha512({reinterpret_cast<const uint8_t*>(HMAC_KEY.data()), HMAC_KEY.size()}, seed);
    auto key = PrivKey::FromBytes(i.span().first(32));
    if (!key) return std::nullopt;
    return ExtPrivKey{0, {}, 0, Secret<32>{i.span().subspan(32)}, std::move(*key)};
}

ExtPubKey ExtPrivKey::Neuter() const
{
    ExtPubKey out{depth, parent_fingerprint, child_number, {}, key.GetPubKey()};
    std::copy_n(chain_code.data(), out.chain_code.size(), out.chain_code.begin());
    return out;
}

KeyFingerprint ExtPrivKey::Fingerprint() const { return FingerprintOf(key.GetPubKey()); }

std::optional<ExtPrivKey> ExtPrivKey::Derive(uint32_t index) const
{
    if (depth == MAX_DEPTH) return std::nullopt;
    const PubKey parent_pub = key.GetPubKey();
    Secret<33> key_data;
    if (index & BIP32_HARDENED) {
        // BIP32: "0x00 || ser256(k_par) || ser32(i)"; the 0x00 pads the private key to 33 bytes.
        std::copy(key.span().begin(), key.span().end(), key_data.data() + 1);
    } else {
        std::copy(parent_pub.span().begin(), parent_pub.span().end(), key_data.data());
    }
    const Secret<64> i = ChildHmac(chain_code.span(), key_data.span(), index);
    auto child_key = AddTweak(key, i);
    if (!child_key) return std::nullopt;
    return ExtPrivKey{static_cast<uint8_t>(depth + 1), FingerprintOf(parent_pub), index,
                      Secret<32>{i.span().subspan(32)}, std::move(*child_key)};
}

std::optional<ExtPrivKey> ExtPrivKey::Derive(std::span<const uint32_t> path) const
{
    std::optional<ExtPrivKey> current = *this;
    for (const uint32_t index : path) {
        current = current->Derive(index);
        if (!current) break;
    }
    return current;
}

std::string ExtPrivKey::ToString(Network network) const
{
    Secret<SERIALIZED_SIZE> data;
    WriteHeader(data.data(), Params(network).xprv_version, depth, parent_fingerprint, child_number, chain_code.span());
    // Key data is 0x00 || ser256(k); Secret starts zeroed.
    std::copy(key.span().begin(), key.span().end(), data.data() + KEY_DATA_OFFSET + 1);
    return EncodeBase58Check(data.span());
}

std::variant<ExtPrivKey, ExtPubKey, ExtKeyError> ParseExtKey(std::string_view str, Network network)
{
    // Decode somewhat more than 78 bytes so a wrong length is reported as such.
    auto decoded = DecodeBase58Check(str, 2 * SERIALIZED_SIZE);
    if (const auto* error = std::get_if<Base58CheckError>(&decoded)) {
        return *error == Base58CheckError::BadChecksum ? ExtKeyError::BadChecksum : ExtKeyError::InvalidBase58;
    }
    Bytes& bytes = std::get<Bytes>(decoded);
    const bool right_size = bytes.size() == SERIALIZED_SIZE;
    std::optional<Secret<SERIALIZED_SIZE>> wiped_copy;
    if (right_size) wiped_copy.emplace(bytes);
    SecureWipe(bytes.data(), bytes.size());
    if (!right_size) return ExtKeyError::InvalidLength;
    const uint8_t* data = wiped_copy->data();

    const NetworkParams& params = Params(network);
    const uint32_t version = ReadBE32(data);
    const bool is_private = version == params.xprv_version;
    if (!is_private && version != params.xpub_version) {
        const NetworkParams& other = Params(network == Network::Mainnet ? Network::Testnet : Network::Mainnet);
        return version == other.xprv_version || version == other.xpub_version ? ExtKeyError::WrongNetwork
                                                                              : ExtKeyError::UnknownVersion;
    }
    const uint8_t depth = data[4];
    KeyFingerprint parent;
    std::copy_n(data + 5, parent.size(), parent.begin());
    const uint32_t child_number = ReadBE32(data + 9);
    if (depth == 0 && parent != KeyFingerprint{}) return ExtKeyError::ZeroDepthWithParentFingerprint;
    if (depth == 0 && child_number != 0) return ExtKeyError::ZeroDepthWithChildNumber;

    const ByteSpan chain_code{data + 13, 32};
    const ByteSpan key_data{data + KEY_DATA_OFFSET, 33};
    const bool looks_public = key_data[0] == 0x02 || key_data[0] == 0x03;
    if (is_private) {
        if (looks_public) return ExtKeyError::PublicDataWithPrivVersion;
        if (key_data[0] != 0x00) return ExtKeyError::InvalidPrivKeyPrefix;
        auto key = PrivKey::FromBytes(key_data.subspan(1));
        if (!key) return ExtKeyError::InvalidPrivKey;
        return ExtPrivKey{depth, parent, child_number, Secret<32>{chain_code}, std::move(*key)};
    }
    if (key_data[0] == 0x00) return ExtKeyError::PrivateDataWithPubVersion;
    if (!looks_public) return ExtKeyError::InvalidPubKeyPrefix;
    auto key = PubKey::Parse(key_data);
    if (!key) return ExtKeyError::InvalidPubKey;
    ExtPubKey out{depth, parent, child_number, {}, *key};
    std::copy(chain_code.begin(), chain_code.end(), out.chain_code.begin());
    return out;
}

std::optional<ExtPrivKey> ParseExtPrivKey(std::string_view str, Network network)
{
    auto parsed = ParseExtKey(str, network);
    if (auto* key = std::get_if<ExtPrivKey>(&parsed)) return std::move(*key);
    return std::nullopt;
}

std::optional<ExtPubKey> ParseExtPubKey(std::string_view str, Network network)
{
    auto parsed = ParseExtKey(str, network);
    if (auto* key = std::get_if<ExtPubKey>(&parsed)) return std::move(*key);
    return std::nullopt;
}

std::optional<std::vector<uint32_t>> ParseBip32Path(std::string_view path)
{
    if (path.empty() || path[0] != 'm') return std::nullopt;
    path.remove_prefix(1);
    std::vector<uint32_t> out;
    while (!path.empty()) {
        if (path[0] != '/') return std::nullopt;
        path.remove_prefix(1);
        const size_t end = std::min(path.find('/'), path.size());
        const auto index = ParsePathIndex(path.substr(0, end));
        if (!index) return std::nullopt;
        out.push_back(*index);
        path.remove_prefix(end);
    }
    return out;
}

std::string FormatBip32Path(std::span<const uint32_t> path)
{
    std::string out = "m";
    for (const uint32_t index : path) {
        out += '/';
        out += std::to_string(index & ~BIP32_HARDENED);
        if (index & BIP32_HARDENED) out += 'h';
    }
    return out;
}

} // namespace sidebolt
