#ifndef SIDEBOLT_PLUGIN_SEED_H
#define SIDEBOLT_PLUGIN_SEED_H

#include "primitives/key.h"
#include "util/secure.h"

#include <filesystem>
#include <string_view>

namespace sidebolt {

//! The one secret every key of this node derives from: 32 random bytes in <datadir>/seed (0600).
class NodeSeed
{
public:
    static constexpr const char* FILE_NAME = "seed";

    //! Reads the seed, creating it on first start. A seed file of the wrong size or with
    //! group/other permissions is refused: never silently replaced, since funds depend on it.
    static NodeSeed LoadOrCreate(const std::filesystem::path& datadir);
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
