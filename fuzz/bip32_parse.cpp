// Parses arbitrary text as an extended key on every network, and the input as a serialized key
// under a valid checksum so the BIP32 field checks are reached; parses arbitrary derivation paths
// and formats arbitrary index lists. It must never crash; an accepted key serializes back to the
// input, public derivation agrees with private derivation, and paths round-trip through
// FormatBip32Path.
#include "primitives/base58.h"
#include "primitives/bip32.h"
#include "primitives/network.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

using namespace sidebolt;

namespace {
constexpr std::array<Network, 5> NETWORKS = {Network::Mainnet, Network::Testnet, Network::Testnet4, Network::Signet,
                                             Network::Regtest};
constexpr size_t SERIALIZED_SIZE = 78;

void Require(bool condition)
{
    if (!condition) std::abort();
}

//! CKDpub(N(k), i) == N(CKDpriv(k, i)) for the non-hardened index the key's own fields pick.
void CheckDerivation(const ExtPrivKey& priv, const ExtPubKey& pub)
{
    const uint32_t index = priv.child_number & ~BIP32_HARDENED;
    const auto child_priv = priv.Derive(index);
    const auto child_pub = pub.Derive(index);
    Require(child_priv.has_value() == child_pub.has_value());
    if (child_priv) Require(child_priv->Neuter() == *child_pub);
    Require(!pub.Derive(index | BIP32_HARDENED));
}

//! Returns whether the string parsed as a key of any kind on this network.
bool CheckExtKey(std::string_view str, Network network)
{
    const auto parsed = ParseExtKey(str, network);
    if (const auto* priv = std::get_if<ExtPrivKey>(&parsed)) {
        Require(priv->ToString(network) == str);
        const ExtPubKey pub = priv->Neuter();
        Require(ParseExtPubKey(pub.ToString(network), network) == pub);
        CheckDerivation(*priv, pub);
        return true;
    }
    if (const auto* pub = std::get_if<ExtPubKey>(&parsed)) {
        Require(pub->ToString(network) == str);
        return true;
    }
    return false;
}

//! The input as a serialized key: only 78-byte payloads with this network's version can pass.
void CheckPayload(ByteSpan payload)
{
    const std::string str = EncodeBase58Check(payload);
    for (const Network network : NETWORKS) {
        const auto parsed = ParseExtKey(str, network);
        if (const auto* error = std::get_if<ExtKeyError>(&parsed)) {
            if (payload.size() > 2 * SERIALIZED_SIZE) Require(*error == ExtKeyError::InvalidBase58);
            else if (payload.size() != SERIALIZED_SIZE) Require(*error == ExtKeyError::InvalidLength);
            continue;
        }
        Require(payload.size() == SERIALIZED_SIZE);
        const uint32_t version = uint32_t{payload[0]} << 24 | uint32_t{payload[1]} << 16 | uint32_t{payload[2]} << 8 | payload[3];
        Require(version == Params(network).xprv_version || version == Params(network).xpub_version);
        Require(CheckExtKey(str, network));
    }
}

//! An accepted path is canonical up to the spelling of the hardened marker.
void CheckPath(std::string_view str)
{
    const auto path = ParseBip32Path(str);
    if (!path) return;
    std::string normalized{str};
    std::replace(normalized.begin(), normalized.end(), '\'', 'h');
    std::replace(normalized.begin(), normalized.end(), 'H', 'h');
    const std::string formatted = FormatBip32Path(*path);
    Require(formatted == normalized);
    Require(ParseBip32Path(formatted) == path);
}

//! Every index list, hardened or not, has a path that parses back to it.
void CheckIndices(ByteSpan input)
{
    std::vector<uint32_t> indices;
    for (size_t i = 0; i + 4 <= input.size(); i += 4) {
        indices.push_back(uint32_t{input[i]} << 24 | uint32_t{input[i + 1]} << 16 | uint32_t{input[i + 2]} << 8 | input[i + 3]);
    }
    Require(ParseBip32Path(FormatBip32Path(indices)) == indices);
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    for (const Network network : NETWORKS) CheckExtKey(text, network);
    CheckPayload({data, size});
    CheckPath(text);
    CheckIndices({data, size});
    return 0;
}
