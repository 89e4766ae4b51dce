#ifndef SIDEBOLT_STORE_FILE_IO_H
#define SIDEBOLT_STORE_FILE_IO_H

// Whole positional reads and writes (short transfers and EINTR retried) for the store's files.
// Failures throw StoreError naming `what`.

#include "util/bytes.h"

#include <cstdint>
#include <string>

namespace sidebolt::store {

void WriteAllAt(int fd, ByteSpan bytes, uint64_t offset, const std::string& what);
//! Fills `out`; a file that ends first is an error.
void ReadAllAt(int fd, MutableByteSpan out, uint64_t offset, const std::string& what);

} // namespace sidebolt::store

#endif
