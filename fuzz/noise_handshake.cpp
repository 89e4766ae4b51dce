// BOLT 8 handshake under hostile acts: raw bytes as act one (to a responder) or act two (to an
// initiator), a hostile act three after a genuine act one, or a genuine handshake with acts
// corrupted by XOR masks. Nothing may crash; a handshake that completes must give transports
// that talk to each other.
#include "primitives/key.h"
#include "net/noise.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

using namespace sidebolt;

namespace {
PrivKey FixedKey(uint8_t fill)
{
    ByteArray<32> bytes;
    bytes.fill(fill);
    return PrivKey::FromBytes(bytes).value();
}

struct Keys {
    PrivKey initiator_static = FixedKey(0x11);
    PrivKey initiator_ephemeral = FixedKey(0x12);
    PrivKey responder_static = FixedKey(0x21);
    PrivKey responder_ephemeral = FixedKey(0x22);
    PubKey responder_id = responder_static.GetPubKey();
};

const Keys& GetKeys()
{
    static const Keys keys;
    return keys;
}

template <size_t N>
ByteArray<N> Xored(const ByteArray<N>& act, ByteSpan& mask)
{
    ByteArray<N> out = act;
    const size_t n = std::min(N, mask.size());
    for (size_t i = 0; i < n; ++i) out[i] ^= mask[i];
    mask = mask.subspan(n);
    return out;
}

void CheckTransports(HandshakeResult a, HandshakeResult b)
{
    const Bytes message{0x00, 0x12, 0x00, 0x00, 0x00, 0x00};
    const Bytes wire = a.cipher.Encrypt(message);
    const auto length = b.cipher.DecryptLength(ByteSpan(wire).first(TransportCipher::kLengthHeaderSize));
    Bytes plain;
    if (!length || !b.cipher.DecryptBody(ByteSpan(wire).subspan(TransportCipher::kLengthHeaderSize), plain) ||
        plain != message) {
        std::abort();
    }
}

void RunCorrupted(ByteSpan mask)
{
    const Keys& k = GetKeys();
    auto initiator = Handshake::Initiator(k.initiator_static, k.responder_id, k.initiator_ephemeral);
    auto responder = Handshake::Responder(k.responder_static, k.responder_ephemeral);
    const auto act_two = responder.ReadActOne(Xored(initiator.WriteActOne(), mask));
    if (!act_two) return;
    const auto act_three = initiator.ReadActTwo(Xored(*act_two, mask));
    if (!act_three) return;
    if (responder.ReadActThree(Xored(*act_three, mask))) return;
    // Only an unchanged handshake can complete: each act is authenticated.
    if (!(std::move(responder).Finish().remote_static == k.initiator_static.GetPubKey())) std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0) return 0;
    const Keys& k = GetKeys();
    const ByteSpan input = ByteSpan(data, size).subspan(1);
    switch (data[0] % 4) {
    case 0: {
        auto responder = Handshake::Responder(k.responder_static, k.responder_ephemeral);
        static_cast<void>(responder.ReadActOne(input));
        break;
    }
    case 1: {
        auto initiator = Handshake::Initiator(k.initiator_static, k.responder_id, k.initiator_ephemeral);
        static_cast<void>(initiator.WriteActOne());
        static_cast<void>(initiator.ReadActTwo(input));
        break;
    }
    case 2: {
        auto initiator = Handshake::Initiator(k.initiator_static, k.responder_id, k.initiator_ephemeral);
        auto responder = Handshake::Responder(k.responder_static, k.responder_ephemeral);
        if (!responder.ReadActOne(initiator.WriteActOne())) std::abort();
        static_cast<void>(responder.ReadActThree(input));
        break;
    }
    default: {
        RunCorrupted(input);
        auto initiator = Handshake::Initiator(k.initiator_static, k.responder_id, k.initiator_ephemeral);
        auto responder = Handshake::Responder(k.responder_static, k.responder_ephemeral);
        const auto act_two = responder.ReadActOne(initiator.WriteActOne());
        const auto act_three = initiator.ReadActTwo(act_two.value());
        if (responder.ReadActThree(act_three.value())) std::abort();
        CheckTransports(std::move(initiator).Finish(), std::move(responder).Finish());
        break;
    }
    }
    return 0;
}
