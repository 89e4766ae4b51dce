#include "store/file_io.h"

#include "store/env.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sidebolt::store {

void WriteAllAt(int fd, ByteSpan bytes, uint64_t offset, const std::string& what)
{
    while (!bytes.empty()) {
        const ssize_t n = pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw StoreError(what, std::strerror(errno));
        bytes = bytes.subspan(static_cast<size_t>(n));
        offset += static_cast<uint64_t>(n);
    }
}

void ReadAllAt(int fd, MutableByteSpan out, uint64_t offset, const std::string& what)
{
    while (!out.empty()) {
        const ssize_t n = pread(fd, out.data(), out.size(), static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw StoreError(what, n < 0 ? std::strerror(errno) : "the file ends first");
        out = out.subspan(static_cast<size_t>(n));
        offset += static_cast<uint64_t>(n);
    }
}

} // namespace sidebolt::store
