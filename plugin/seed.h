#ifndef SIDEBOLT_PLUGIN_SEED_H
#define SIDEBOLT_PLUGIN_SEED_H

#include "primitives/key.h"
#include "util/secure.h"

#include <filesystem>
#include <optional>
#include <string_view>

namespace sidebolt {

//! The one secret every key of this node derives from: 32 random bytes in <datadir>/seed (0600).
class NodeSeed
{
public:
    static constexpr const char* FILE_NAME = "seed";

    //! Reads the seed; nullopt when there is no seed file. A seed file of the wrong size or with
    //! group/other permissions is refused (DatadirError): never silently replaced, since funds
    //! depend on it.
    static std::optional<NodeSeed> Load(const std::filesystem::path& datadir);
    //! Writes a fresh random seed; refuses to overwrite one.
    static NodeSeed Create(const std::filesystem::path& datadir);
    //! The seed of the node whose store is in the datadir. `store_is_new`: the store holds no
    //! node yet (then a missing seed is created); `recorded`: the node id the store was created
    //! for, if it holds one. A missing seed beside an existing store, or a seed of another node
    //! id, is refused (DatadirError): a new seed would be a new node id, and the funds of the
    //! store's channels would be lost.
    static NodeSeed LoadForStore(const std::filesystem::path& datadir, bool store_is_new,
                                 const std::optional<PubKey>& recorded);
    static NodeSeed FromBytes(ByteSpan bytes32) { return NodeSeed(Secret<32>(bytes32)); }

    //! Domain-separated 32-byte secret: HMAC-SHA256(seed, label).
    Secret<32> DeriveSecret(std::string_view label) const;
    //! The node's static key (BOLT 8 identity); its public key is the node id.
    PrivKey NodeKey() const;

private:
    explicit NodeSeed(Secret<32> seed) : m_seed(std::move(seed)) {}
    Secret<32> m_seed;
};

} // namespace sidebolt

#endif
