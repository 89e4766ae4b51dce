// Drives a ShachainStore with honest and forged per-commitment secrets against a model of its
// 49 buckets: it must never crash, accept exactly the secrets that are consistent with what it
// holds, derive every honest secret, and survive a serialization round trip.
#include "channel/shachain.h"

#include <array>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <optional>

using namespace sidebolt;

namespace {
void Require(bool condition)
{
    if (!condition) std::abort();
}

unsigned Bucket(uint64_t index) { return index == 0 ? 48 : static_cast<unsigned>(std::countr_zero(index)); }

//! What the store should hold: for each bucket, whether its secret came from the honest seed
//! (true) or the forger's (false). Secrets are consistent exactly when they share a seed.
struct Model {
    std::array<std::optional<bool>, 49> honest{};
    std::optional<uint64_t> last;

    bool AllHonest() const
    {
        for (const auto& h : honest) {
            if (h && !*h) return false;
        }
        return true;
    }

    bool Accepts(uint64_t index, bool secret_honest) const
    {
        for (unsigned b = 0; b < Bucket(index); ++b) {
            if (honest[b] && *honest[b] != secret_honest) return false;
        }
        return true;
    }
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size < 2) return 0;
    const Secret<32> seed(Bytes(32, data[0]));
    const Secret<32> forger(Bytes(32, static_cast<uint8_t>(data[0] ^ 0x80)));
    // Start near a bucket boundary chosen by the input so deep buckets get exercised.
    const uint64_t first = FIRST_COMMITMENT_INDEX - (uint64_t{data[1]} << (data[1] % 40));
    uint64_t next = first;
    ShachainStore store;
    Model model;
    for (size_t i = 2; i < size; ++i) {
        const uint8_t op = data[i];
        switch (op % 4) {
        case 0:
        case 1: { // insert at the expected index, honest or forged
            const bool honest = op % 4 == 0;
            const auto result = store.Insert(next, GeneratePerCommitmentSecret(honest ? seed : forger, next));
            const bool accepted = model.Accepts(next, honest);
            Require(result == (accepted ? ShachainStore::InsertResult::OK : ShachainStore::InsertResult::MISMATCH));
            if (accepted) {
                model.honest[Bucket(next)] = honest;
                model.last = next;
                if (next == 0) return 0;
                --next;
            }
            break;
        }
        case 2: { // an index out of sequence is always refused
            const uint64_t wrong = next + 1 + (op >> 2);
            if (model.last && wrong != next) {
                Require(store.Insert(wrong, GeneratePerCommitmentSecret(seed, wrong)) ==
                        ShachainStore::InsertResult::WRONG_INDEX);
            }
            break;
        }
        case 3: { // lookups and a serialization round trip
            if (!model.last) {
                Require(!store.Lookup(next));
                break;
            }
            if (*model.last > 0) Require(!store.Lookup(*model.last - 1));
            const uint64_t index = *model.last + (op >> 2);
            if (index <= first) {
                const auto secret = store.Lookup(index);
                Require(secret.has_value());
                if (model.AllHonest()) Require(*secret == GeneratePerCommitmentSecret(seed, index));
            }
            const auto copy = ShachainStore::Deserialize(store.Serialize());
            Require(copy && *copy == store);
            break;
        }
        }
    }
    // With only honest secrets accepted, every received index derives exactly.
    if (model.AllHonest() && model.last) {
        for (uint64_t index = *model.last; index <= first && index < *model.last + 64; ++index) {
            Require(store.Lookup(index) == GeneratePerCommitmentSecret(seed, index));
        }
    }
    // Arbitrary bytes never deserialize into something that crashes when used.
    if (const auto parsed = ShachainStore::Deserialize({data, size})) {
        if (parsed->LastIndex()) (void)parsed->Lookup(*parsed->LastIndex());
    }
    return 0;
}
