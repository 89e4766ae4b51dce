// BOLT 8 costs: a full in-process handshake, and encrypt + decrypt of one message through the
// transport (the per-message work of every peer connection).
#include "primitives/key.h"
#include "net/noise.h"

#include <benchmark/benchmark.h>

using namespace sidebolt;

namespace {
void NoiseHandshake(benchmark::State& state)
{
    // A node derives its static public key once, not per handshake (PeerManager keeps one).
    const StaticKeyPair initiator_key(PrivKey::Generate());
    const StaticKeyPair responder_key(PrivKey::Generate());
    const PubKey& responder_id = responder_key.Pub();
    for (auto _ : state) {
        // Ephemeral keys are generated inside, as in production.
        auto initiator = Handshake::Initiator(initiator_key, responder_id);
        auto responder = Handshake::Responder(responder_key);
        const auto act_two = responder.ReadActOne(initiator.WriteActOne());
        const auto act_three = initiator.ReadActTwo(act_two.value());
        if (responder.ReadActThree(act_three.value())) state.SkipWithError("handshake failed");
        auto result = std::move(responder).Finish();
        benchmark::DoNotOptimize(result);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(NoiseHandshake)->Unit(benchmark::kMicrosecond);

void TransportEncryptDecrypt(benchmark::State& state)
{
    const Secret<32> key_a(Bytes(32, 0xa1));
    const Secret<32> key_b(Bytes(32, 0xb2));
    const Secret<32> chaining_key(Bytes(32, 0xc3));
    TransportCipher sender(key_a, key_b, chaining_key);
    TransportCipher receiver(key_b, key_a, chaining_key);
    const Bytes message(static_cast<size_t>(state.range(0)), 0x42);
    Bytes wire;
    Bytes plain;
    for (auto _ : state) {
        wire.clear();
        sender.Encrypt(message, wire);
        const auto length = receiver.DecryptLength(ByteSpan(wire).first(TransportCipher::kLengthHeaderSize));
        if (!length || !receiver.DecryptBody(ByteSpan(wire).subspan(TransportCipher::kLengthHeaderSize), plain)) {
            state.SkipWithError("decrypt failed");
        }
        benchmark::DoNotOptimize(plain.data());
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(TransportEncryptDecrypt)->Arg(100)->Arg(65535);
} // namespace
