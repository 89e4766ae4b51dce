// Parses arbitrary text as an address on every network, plus base58check payloads and bech32
// strings built from the input so the checks behind the checksums are reached, and encodes
// arbitrary scripts. It must never crash; an accepted address is the canonical encoding of its
// script (segwit in lower case), and every script with an address form survives
// EncodeAddress -> DecodeAddress on every network.
#include "primitives/address.h"
#include "primitives/base58.h"
#include "primitives/bech32.h"
#include "primitives/network.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

using namespace sidebolt;

namespace {
constexpr std::array<Network, 5> NETWORKS = {Network::Mainnet, Network::Testnet, Network::Testnet4, Network::Signet,
                                             Network::Regtest};

void Require(bool condition)
{
    if (!condition) std::abort();
}

std::string Lower(std::string_view str)
{
    std::string out{str};
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::optional<Bytes> Parse(std::string_view address, Network network)
{
    auto result = ParseAddress(address, network);
    auto* script = std::get_if<Bytes>(&result);
    Require((script != nullptr) == DecodeAddress(address, network).has_value());
    if (!script) return std::nullopt;
    return std::move(*script);
}

//! Any script with an address form round-trips on every network.
void CheckScript(ByteSpan script)
{
    for (const Network network : NETWORKS) {
        const auto address = EncodeAddress(script, network);
        if (!address) continue;
        Require(DecodeAddress(*address, network) == Bytes(script.begin(), script.end()));
    }
}

//! Checks a string against every network; returns whether any accepted it.
bool CheckAddress(std::string_view address)
{
    std::optional<std::string> canonical;
    for (const Network network : NETWORKS) {
        const auto script = Parse(address, network);
        if (!script) continue;
        const auto encoded = EncodeAddress(*script, network);
        Require(encoded && (*encoded == address || *encoded == Lower(address)));
        // Networks that accept the same string must agree on what it pays to.
        if (canonical) Require(*canonical == *encoded);
        canonical = encoded;
        CheckScript(*script);
    }
    return canonical.has_value();
}

//! The input as a base58check payload: accepted exactly as a version byte of the network and
//! a 20-byte hash.
void CheckBase58Payload(ByteSpan payload)
{
    const std::string address = EncodeBase58Check(payload);
    CheckAddress(address);
    for (const Network network : NETWORKS) {
        const NetworkParams& params = Params(network);
        const bool expected = payload.size() == 21 && (payload[0] == params.p2pkh_prefix || payload[0] == params.p2sh_prefix);
        Require(Parse(address, network).has_value() == expected);
    }
}

//! Layout: flags (network, checksum variant, case), then 5-bit values under a valid checksum, so
//! the witness version, program length and padding rules are what decides.
void CheckSegwitValues(ByteSpan input)
{
    if (input.empty()) return;
    const Network network = NETWORKS[(input[0] & 7) % NETWORKS.size()];
    const auto encoding = input[0] & 8 ? bech32::Encoding::Bech32m : bech32::Encoding::Bech32;
    const bool upper = input[0] & 16;
    const std::string_view hrp = Params(network).bech32_hrp;
    const size_t max_values = bech32::MAX_ADDRESS_LENGTH - hrp.size() - 1 - bech32::CHECKSUM_LENGTH;
    Bytes values(input.begin() + 1, input.begin() + 1 + static_cast<std::ptrdiff_t>(std::min(input.size() - 1, max_values)));
    for (uint8_t& v : values) v &= 31;
    std::string address = bech32::Encode(encoding, hrp, values);
    if (upper) {
        for (char& c : address) {
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        }
    }
    if (!CheckAddress(address)) return;
    // Only networks sharing the HRP may accept it.
    for (const Network other : NETWORKS) {
        if (Params(other).bech32_hrp != hrp) Require(!Parse(address, other));
    }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const ByteSpan input(data, size);
    CheckAddress({reinterpret_cast<const char*>(data), size});
    CheckScript(input);
    CheckBase58Payload(input);
    CheckSegwitValues(input);
    return 0;
}
