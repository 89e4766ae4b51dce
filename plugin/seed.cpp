#include "plugin/seed.h"

#include "primitives/hash.h"
#include "plugin/datadir.h"
#include "util/hex.h"

#include <openssl/rand.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace sidebolt {
namespace {
//! Closes a descriptor on every path out of Load.
class FileDescriptor
{
public:
    explicit FileDescriptor(int fd) : m_fd(fd) {}
    ~FileDescriptor()
    {
        if (m_fd >= 0) ::close(m_fd);
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    int Get() const { return m_fd; }

private:
    int m_fd;
};

[[noreturn]] void ThrowErrno(const std::string& what) { throw DatadirError(what + ": " + std::strerror(errno)); }

//! Reads exactly out.size() bytes straight into the secret: no stream buffer keeps a copy.
void ReadExactly(int fd, MutableByteSpan out, const std::filesystem::path& path)
{
    size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) ThrowErrno("cannot read " + path.string());
        if (n == 0) throw DatadirError("seed file " + path.string() + " is not 32 bytes; refusing to start (restore it from backup)");
        done += static_cast<size_t>(n);
    }
}

std::string NodeIdHex(const NodeSeed& seed) { return ToHex(seed.NodeKey().GetPubKey().span()); }
} // namespace

std::optional<NodeSeed> NodeSeed::Load(const std::filesystem::path& datadir)
{
    const auto path = datadir / FILE_NAME;
    const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.Get() < 0) {
        if (errno == ENOENT) return std::nullopt;
        ThrowErrno("cannot open " + path.string());
    }
    // fstat on the open file: the mode and size checked are those of the bytes read.
    struct stat st{};
    if (::fstat(fd.Get(), &st) != 0) ThrowErrno("cannot stat " + path.string());
    if ((st.st_mode & 077) != 0) {
        throw DatadirError("seed file " + path.string() + " is readable by other users; run chmod 600 on it");
    }
    if (!S_ISREG(st.st_mode) || st.st_size != static_cast<off_t>(Secret<32>::size())) {
        throw DatadirError("seed file " + path.string() + " is not 32 bytes; refusing to start (restore it from backup)");
    }
    Secret<32> seed;
    ReadExactly(fd.Get(), seed.span(), path);
    return NodeSeed(seed);
}

NodeSeed NodeSeed::Create(const std::filesystem::path& datadir)
{
    const auto path = datadir / FILE_NAME;
    if (std::filesystem::exists(path)) throw DatadirError("seed file " + path.string() + " already exists; not replacing it");
    Secret<32> fresh;
    if (RAND_bytes(fresh.data(), static_cast<int>(fresh.size())) != 1) throw DatadirError("RAND_bytes failed");
    WritePrivateFileAtomic(path, fresh.span());
    return NodeSeed(fresh);
}

NodeSeed NodeSeed::LoadForStore(const std::filesystem::path& datadir, bool store_is_new, const std::optional<PubKey>& recorded)
{
    const auto path = datadir / FILE_NAME;
    auto seed = Load(datadir);
    if (!seed) {
        if (store_is_new) return Create(datadir);
        throw DatadirError("seed file " + path.string() + " is missing, but the store in this datadir belongs to " +
                           (recorded ? "node " + ToHex(recorded->span()) : std::string("an existing node")) +
                           "; refusing to start: a new seed would be a new node id, and the funds of its channels "
                           "would be lost. Restore the seed from backup");
    }
    if (recorded && seed->NodeKey().GetPubKey() != *recorded) {
        throw DatadirError("seed file " + path.string() + " is of node " + NodeIdHex(*seed) +
                           ", but the store in this datadir belongs to node " + ToHex(recorded->span()) +
                           "; refusing to start. Restore the seed the store was created with");
    }
    return std::move(*seed);
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
