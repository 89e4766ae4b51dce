#include "plugin/seed.h"

#include "primitives/hash.h"
#include "plugin/datadir.h"

#include <openssl/rand.h>

#include <string>
#include <sys/stat.h>

namespace sidebolt {

NodeSeed NodeSeed::LoadOrCreate(const std::filesystem::path& datadir)
{
    const auto path = datadir / FILE_NAME;
    if (std::filesystem::exists(path)) {
        struct stat st{};
        if (::stat(path.c_str(), &st) != 0) throw DatadirError("cannot stat " + path.string());
        if ((st.st_mode & 077) != 0) {
            throw DatadirError("seed file " + path.string() + " is readable by other users; run chmod 600 on it");
        }
        auto bytes = ReadWholeFile(path);
        if (!bytes || bytes->size() != 32) {
            if (bytes) SecureWipe(bytes->data(), bytes->size());
            throw DatadirError("seed file " + path.string() + " is not 32 bytes; refusing to start (restore it from backup)");
        }
        NodeSeed seed{Secret<32>(*bytes)};
        SecureWipe(bytes->data(), bytes->size());
        return seed;
    }
    Secret<32> fresh;
    if (RAND_bytes(fresh.data(), static_cast<int>(fresh.size())) != 1) throw DatadirError("RAND_bytes failed");
    WritePrivateFileAtomic(path, fresh.span());
    return NodeSeed(fresh);
}

Secret<32> NodeSeed::DeriveSecret(std::string_view label) const
{
    Hash256 mac = HmacSha256(m_seed.span(), {reinterpret_cast<const uint8_t*>(label.data()), label.size()});
    Secret<32> out(mac);
    SecureWipe(mac.data(), mac.size());
    return out;
}

PrivKey NodeSeed::NodeKey() const
{
    // A derived value is an invalid scalar with probability ~2^-128; the counter keeps it total.
    for (int counter = 0;; ++counter) {
        const Secret<32> candidate = DeriveSecret("sidebolt node key " + std::to_string(counter));
        if (auto key = PrivKey::FromBytes(candidate.span())) return *key;
    }
}

} // namespace sidebolt
