#include "pay/sphinx.h"

#include "pay/failure_codes.h"
#include "pay/onion_crypto.h"
#include "primitives/hash.h"
#include "wire/bigsize.h"

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

namespace sidebolt {
namespace {
constexpr size_t kVersionOffset = 0;
constexpr size_t kKeyOffset = kVersionOffset + 1;
constexpr size_t kPayloadsOffset = kKeyOffset + PubKey::SIZE;
constexpr size_t kHmacOffset = kPayloadsOffset + kOnionHopPayloadsSize;

Bytes Stream(const Secret<32>& key, size_t size)
{
    Bytes out(size, 0);
    XorChaCha20Stream(key, out);
    return out;
}

//! BOLT 4 "Blinding Ephemeral Keys": SHA256(compressed ephemeral key || shared secret).
Hash256 BlindingFactor(const PubKey& ephemeral_key, const Secret<32>& shared_secret)
{
    return Sha256Writer().Write(ephemeral_key.span()).Write(shared_secret.span()).Finalize();
}

Hash256 PayloadsHmac(const Secret<32>& shared_secret, ByteSpan hop_payloads, ByteSpan associated_data)
{
    return HmacSha256(GenerateOnionKey("mu", shared_secret).span(), Concat({hop_payloads, associated_data}));
}

//! shift_size: "the length of the hop_payload plus the bigsize encoding of the length and the
//! length of that HMAC".
size_t ShiftSize(const OnionHop& hop) { return BigSizeLength(hop.payload.size()) + hop.payload.size() + kOnionHmacSize; }

void CheckFits(std::span<const OnionHop> hops)
{
    if (hops.empty()) throw std::invalid_argument("onion route has no hops");
    size_t total = 0;
    for (const auto& hop : hops) {
        if (hop.payload.size() < 2) throw std::invalid_argument("onion hop payload shorter than 2 bytes");
        total += ShiftSize(hop);
    }
    if (total > kOnionHopPayloadsSize) throw std::invalid_argument("onion hop payloads exceed 1300 bytes");
}

//! Per hop shared secrets ss_k (BOLT 4 "Packet Construction"), the first from the start.
std::vector<Secret<32>> SharedSecrets(std::span<const OnionHop> hops, const OnionStart& start)
{
    if (hops.front().node_id != start.first_hop) throw std::invalid_argument("onion start made for another first hop");
    auto ephemeral_key = PrivKey::FromBytes(start.session_key.span());
    if (!ephemeral_key) throw std::invalid_argument("onion session key is not a valid secret key");
    PubKey ephemeral_point = start.ephemeral_key;
    std::vector<Secret<32>> secrets{start.shared_secret};
    secrets.reserve(hops.size());
    for (size_t i = 1; i < hops.size(); ++i) {
        // ek_{k+1} = ek_k * SHA256(epk_k || ss_k); zero only with negligible probability.
        ephemeral_key = ephemeral_key->TweakMul(BlindingFactor(ephemeral_point, secrets.back()));
        if (!ephemeral_key) throw std::runtime_error("onion ephemeral key blinding failed");
        ephemeral_point = ephemeral_key->GetPubKey();
        secrets.push_back(Ecdh(*ephemeral_key, hops[i].node_id));
    }
    return secrets;
}

/**
 * BOLT 4 "Filler Generation": the tail each forwarding hop's zero padding becomes after its
 * obfuscation, so the origin can compute the HMACs those hops will check. The last hop does not
 * forward, so only hops 0..n-2 contribute.
 */
Bytes Filler(std::span<const OnionHop> hops, std::span<const Secret<32>> secrets)
{
    Bytes filler;
    for (size_t i = 0; i + 1 < hops.size(); ++i) {
        const size_t previous = filler.size();
        filler.resize(previous + ShiftSize(hops[i]), 0);
        // Hop i XORs its 2*1300-byte stream over (hop_payloads || zeros) and drops shift_size bytes,
        // so the filler so far lines up with the stream from offset 1300 - previous.
        const Bytes stream = Stream(GenerateOnionKey("rho", secrets[i]), 2 * kOnionHopPayloadsSize);
        for (size_t j = 0; j < filler.size(); ++j) filler[j] ^= stream[kOnionHopPayloadsSize - previous + j];
    }
    return filler;
}

bool IsAllZero(ByteSpan bytes)
{
    return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

ByteArray<kOnionPacketSize> AssemblePacket(const PubKey& ephemeral_key, ByteSpan hop_payloads, ByteSpan hmac)
{
    ByteArray<kOnionPacketSize> packet{};
    packet[kVersionOffset] = kOnionVersion;
    std::copy(ephemeral_key.span().begin(), ephemeral_key.span().end(), packet.begin() + kKeyOffset);
    std::copy(hop_payloads.begin(), hop_payloads.end(), packet.begin() + kPayloadsOffset);
    std::copy(hmac.begin(), hmac.end(), packet.begin() + kHmacOffset);
    return packet;
}
} // namespace

OnionStart StartOnion(const PubKey& first_hop, const Secret<32>& session_key)
{
    const auto key = PrivKey::FromBytes(session_key.span());
    if (!key) throw std::invalid_argument("onion session key is not a valid secret key");
    return OnionStart{.first_hop = first_hop,
                      .session_key = session_key,
                      .ephemeral_key = key->GetPubKey(),
                      .shared_secret = Ecdh(*key, first_hop)};
}

BuiltOnion CreateOnion(std::span<const OnionHop> hops, const Secret<32>& session_key, ByteSpan associated_data)
{
    CheckFits(hops);
    return CreateOnion(hops, StartOnion(hops.front().node_id, session_key), associated_data);
}

BuiltOnion CreateOnion(std::span<const OnionHop> hops, const OnionStart& start, ByteSpan associated_data)
{
    CheckFits(hops);
    std::vector<Secret<32>> secrets = SharedSecrets(hops, start);
    const Bytes filler = Filler(hops, secrets);

    // "The packet is initialized with 1300 random bytes" from the pad key's ChaCha20 stream.
    Bytes mix = Stream(GenerateOnionKey("pad", start.session_key), kOnionHopPayloadsSize);
    Hash256 next_hmac{};
    for (size_t i = hops.size(); i-- > 0;) {
        const OnionHop& hop = hops[i];
        const size_t shift = ShiftSize(hop);
        std::copy_backward(mix.begin(), mix.end() - static_cast<std::ptrdiff_t>(shift), mix.end());
        Bytes frame;
        AppendBigSize(frame, hop.payload.size());
        Append(frame, hop.payload);
        Append(frame, next_hmac);
        std::copy(frame.begin(), frame.end(), mix.begin());
        XorChaCha20Stream(GenerateOnionKey("rho", secrets[i]), mix);
        if (i + 1 == hops.size()) std::copy(filler.begin(), filler.end(), mix.end() - static_cast<std::ptrdiff_t>(filler.size()));
        next_hmac = PayloadsHmac(secrets[i], mix, associated_data);
    }
    return BuiltOnion{AssemblePacket(start.ephemeral_key, mix, next_hmac), std::move(secrets)};
}

uint16_t FailureCodeFor(OnionError error)
{
    switch (error) {
    case OnionError::INVALID_VERSION: return static_cast<uint16_t>(FailureCode::INVALID_ONION_VERSION);
    case OnionError::INVALID_KEY: return static_cast<uint16_t>(FailureCode::INVALID_ONION_KEY);
    case OnionError::INVALID_HMAC: return static_cast<uint16_t>(FailureCode::INVALID_ONION_HMAC);
    case OnionError::INVALID_PAYLOAD_LENGTH: return static_cast<uint16_t>(FailureCode::INVALID_ONION_PAYLOAD);
    }
    throw std::logic_error("unknown OnionError");
}

Expected<PeeledOnion, OnionError> PeelOnion(const PrivKey& node_key, ByteSpan packet, ByteSpan associated_data)
{
    // "upon receiving a higher version packet than it implements: MUST report a route failure".
    if (packet.empty() || packet[kVersionOffset] != kOnionVersion) return OnionError::INVALID_VERSION;
    // The packet is fixed-size: missing or extra bytes cannot be authenticated.
    if (packet.size() != kOnionPacketSize) return OnionError::INVALID_HMAC;
    // "if the ephemeral public key is NOT on the secp256k1 curve: MUST abort processing the packet."
    const auto ephemeral_key = PubKey::Parse(packet.subspan(kKeyOffset, PubKey::SIZE));
    if (!ephemeral_key) return OnionError::INVALID_KEY;
    const ByteSpan hop_payloads = packet.subspan(kPayloadsOffset, kOnionHopPayloadsSize);
    const ByteSpan hmac = packet.subspan(kHmacOffset, kOnionHmacSize);

    PeeledOnion peeled;
    peeled.shared_secret = Ecdh(node_key, *ephemeral_key);
    // "Comparison of the computed HMAC and the packet's HMAC MUST be time-constant".
    const Hash256 expected_hmac = PayloadsHmac(peeled.shared_secret, hop_payloads, associated_data);
    if (CRYPTO_memcmp(expected_hmac.data(), hmac.data(), kOnionHmacSize) != 0) return OnionError::INVALID_HMAC;

    // "copies the hop_payloads field, appends 1300 0x00-bytes, generates 2*1300 pseudo-random bytes
    // (using the rho-key), and applies the result, using XOR".
    Bytes plain(2 * kOnionHopPayloadsSize, 0);
    std::copy(hop_payloads.begin(), hop_payloads.end(), plain.begin());
    XorChaCha20Stream(GenerateOnionKey("rho", peeled.shared_secret), plain);

    ByteSpan rest(plain.data(), kOnionHopPayloadsSize);
    const auto length = ReadBigSize(rest);
    // "length values of 0 and 1 are reserved" (0 was the retired legacy format); the payload and
    // the next HMAC must lie within our 1300 bytes.
    if (!length || *length < 2 || *length > rest.size() || rest.size() - *length < kOnionHmacSize) {
        return OnionError::INVALID_PAYLOAD_LENGTH;
    }
    const size_t payload_size = static_cast<size_t>(*length);
    const size_t shift = kOnionHopPayloadsSize - rest.size() + payload_size + kOnionHmacSize;
    const ByteSpan next_hmac = rest.subspan(payload_size, kOnionHmacSize);
    peeled.payload.assign(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(payload_size));
    // "A special hmac value of 32 0x00-bytes indicates that the currently processing hop is the
    // intended recipient and that the packet should not be forwarded."
    if (IsAllZero(next_hmac)) return peeled;

    const auto next_key = ephemeral_key->TweakMul(BlindingFactor(*ephemeral_key, peeled.shared_secret));
    if (!next_key) return OnionError::INVALID_KEY;
    peeled.next_packet = AssemblePacket(*next_key, ByteSpan(plain).subspan(shift, kOnionHopPayloadsSize), next_hmac);
    return peeled;
}

} // namespace sidebolt
