#include "plugin/datadir.h"

#include "util/hex.h"
#include "util/secure.h"

#include <openssl/rand.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <sys/file.h>
#include <unistd.h>

namespace sidebolt {
namespace {
[[noreturn]] void ThrowErrno(const std::string& what)
{
    throw DatadirError(what + ": " + std::strerror(errno));
}

void FsyncDirectory(const std::filesystem::path& dir)
{
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) ThrowErrno("cannot open " + dir.string());
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) ThrowErrno("cannot fsync " + dir.string());
}
} // namespace

DatadirLock::DatadirLock(const std::filesystem::path& dir)
{
    m_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (m_fd < 0) ThrowErrno("cannot open datadir " + dir.string());
    if (::flock(m_fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        ::close(m_fd);
        m_fd = -1;
        if (err == EWOULDBLOCK) {
            throw DatadirError("datadir " + dir.string() + " is already in use by another sideboltd");
        }
        errno = err;
        ThrowErrno("cannot lock datadir " + dir.string());
    }
}

DatadirLock::~DatadirLock()
{
    if (m_fd >= 0) ::close(m_fd); // closing releases the flock
}

void WritePrivateFileAtomic(const std::filesystem::path& path, ByteSpan data)
{
    const std::filesystem::path tmp = path.string() + ".tmp";
    std::filesystem::remove(tmp);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) ThrowErrno("cannot create " + tmp.string());
    size_t written = 0;
    while (written < data.size()) {
        const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ::close(fd);
            ThrowErrno("cannot write " + tmp.string());
        }
        written += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
        ::close(fd);
        ThrowErrno("cannot fsync " + tmp.string());
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) ThrowErrno("cannot rename " + tmp.string());
    FsyncDirectory(path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path());
}

std::optional<Bytes> ReadWholeFile(const std::filesystem::path& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    return Bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::filesystem::path ExpandHome(const std::string& path)
{
    if (!path.starts_with("~")) return path;
    const char* home = std::getenv("HOME");
    if (!home) throw DatadirError("cannot expand '~': HOME is not set");
    return std::filesystem::path(home) / path.substr(path.starts_with("~/") ? 2 : 1);
}

std::string RpcCookie::Generate(const std::filesystem::path& datadir)
{
    Secret<32> random;
    if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) throw DatadirError("RAND_bytes failed");
    const std::string cookie = std::string(USER) + ":" + ToHex(random.span());
    WritePrivateFileAtomic(datadir / COOKIE_FILE, {reinterpret_cast<const uint8_t*>(cookie.data()), cookie.size()});
    return cookie;
}

void RpcCookie::WriteEndpoint(const std::filesystem::path& datadir, const std::string& host, int port)
{
    const std::string endpoint = host + ":" + std::to_string(port) + "\n";
    WritePrivateFileAtomic(datadir / ENDPOINT_FILE, {reinterpret_cast<const uint8_t*>(endpoint.data()), endpoint.size()});
}

void RpcCookie::Remove(const std::filesystem::path& datadir)
{
    std::error_code ec;
    std::filesystem::remove(datadir / COOKIE_FILE, ec);
    std::filesystem::remove(datadir / ENDPOINT_FILE, ec);
}

} // namespace sidebolt
