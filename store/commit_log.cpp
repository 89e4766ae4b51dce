#include "store/commit_log.h"

#include "store/env.h"
#include "store/file_io.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <utility>

namespace sidebolt::store {

namespace {

constexpr uint32_t HEADER_MAGIC = 0x53424c48; // "SBLH"
constexpr uint32_t RECORD_MAGIC = 0x53424c52; // "SBLR"
constexpr uint32_t LOG_VERSION = 1;
//! magic, payload length, generation, txnid, kind; then the payload and a CRC.
constexpr size_t RECORD_FIXED = 4 + 4 + 8 + 8 + 1;
//! The file grows by this much at a time, zero-filled.
constexpr uint64_t RESERVE_STEP = uint64_t{1} << 20;

uint32_t Crc32(ByteSpan bytes)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    // zlib takes lengths as uInt; records stay far below 4 GiB but split anyway.
    while (!bytes.empty()) {
        const size_t n = std::min<size_t>(bytes.size(), std::numeric_limits<uInt>::max());
        crc = crc32(crc, bytes.data(), static_cast<uInt>(n));
        bytes = bytes.subspan(n);
    }
    return static_cast<uint32_t>(crc);
}

void PutLe(Bytes& out, uint64_t value, size_t width)
{
    for (size_t i = 0; i < width; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

//! Reads little-endian fields; every read fails softly past the end.
class Reader
{
public:
    explicit Reader(ByteSpan bytes) : m_bytes{bytes} {}

    std::optional<uint64_t> Le(size_t width)
    {
        if (m_bytes.size() - m_pos < width) return std::nullopt;
        uint64_t value = 0;
        for (size_t i = 0; i < width; ++i) value |= uint64_t{m_bytes[m_pos + i]} << (8 * i);
        m_pos += width;
        return value;
    }
    std::optional<ByteSpan> Take(uint64_t n)
    {
        if (m_bytes.size() - m_pos < n) return std::nullopt;
        const ByteSpan out = m_bytes.subspan(m_pos, static_cast<size_t>(n));
        m_pos += static_cast<size_t>(n);
        return out;
    }
    size_t Pos() const { return m_pos; }
    bool AtEnd() const { return m_pos == m_bytes.size(); }
    //! Reads the CRC-32 that closes what was read so far, and checks it.
    bool CrcMatches()
    {
        const size_t covered = m_pos;
        const auto crc = Le(4);
        return crc && *crc == Crc32(m_bytes.first(covered));
    }

private:
    ByteSpan m_bytes;
    size_t m_pos{0};
};

void EncodeOps(Bytes& out, std::span<const LoggedOp> ops)
{
    for (const LoggedOp& op : ops) {
        out.push_back(static_cast<uint8_t>(op.kind));
        PutLe(out, op.db.size(), 2);
        Append(out, {reinterpret_cast<const uint8_t*>(op.db.data()), op.db.size()});
        PutLe(out, op.key.size(), 4);
        Append(out, op.key);
        if (op.kind == LoggedOp::Kind::PUT) {
            PutLe(out, op.value.size(), 4);
            Append(out, op.value);
        }
    }
}

std::optional<std::vector<LoggedOp>> DecodeOps(ByteSpan payload)
{
    std::vector<LoggedOp> ops;
    Reader r{payload};
    while (!r.AtEnd()) {
        LoggedOp op;
        const auto kind = r.Le(1);
        if (!kind || (*kind != 1 && *kind != 2)) return std::nullopt;
        op.kind = static_cast<LoggedOp::Kind>(*kind);
        const auto name_len = r.Le(2);
        const auto name = name_len ? r.Take(*name_len) : std::nullopt;
        const auto key_len = r.Le(4);
        const auto key = key_len ? r.Take(*key_len) : std::nullopt;
        if (!name || !key) return std::nullopt;
        op.db.assign(name->begin(), name->end());
        op.key.assign(key->begin(), key->end());
        if (op.kind == LoggedOp::Kind::PUT) {
            const auto value_len = r.Le(4);
            const auto value = value_len ? r.Take(*value_len) : std::nullopt;
            if (!value) return std::nullopt;
            op.value.assign(value->begin(), value->end());
        }
        ops.push_back(std::move(op));
    }
    return ops;
}

[[noreturn]] void ThrowErrno(const std::string& operation)
{
    throw StoreError(operation, std::strerror(errno));
}

Bytes ReadWhole(int fd, const std::filesystem::path& path)
{
    Bytes content;
    uint8_t chunk[65536];
    for (;;) {
        const ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) ThrowErrno("read " + path.string());
        if (n == 0) return content;
        content.insert(content.end(), chunk, chunk + n);
    }
}

void SyncDirectory(const std::filesystem::path& dir)
{
    const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) ThrowErrno("open " + dir.string());
    const int rc = fsync(fd);
    close(fd);
    if (rc != 0) ThrowErrno("sync " + dir.string());
}

} // namespace

Bytes EncodeLogHeader(const LogCheckpoint& checkpoint)
{
    if (checkpoint.meta_pages.size() > 2 * kLogMaxPageSize) {
        throw StoreError("commit log header", "LMDB pages larger than " + std::to_string(kLogMaxPageSize) + " bytes");
    }
    Bytes out;
    PutLe(out, HEADER_MAGIC, 4);
    PutLe(out, LOG_VERSION, 4);
    PutLe(out, checkpoint.generation, 8);
    PutLe(out, checkpoint.txnid, 8);
    PutLe(out, checkpoint.meta_pages.size(), 4);
    Append(out, checkpoint.meta_pages);
    PutLe(out, Crc32(out), 4);
    return out;
}

std::optional<LogCheckpoint> DecodeLogHeader(ByteSpan slot)
{
    Reader r{slot};
    const auto magic = r.Le(4);
    const auto version = r.Le(4);
    const auto generation = r.Le(8);
    const auto txnid = r.Le(8);
    const auto meta_len = r.Le(4);
    if (!magic || *magic != HEADER_MAGIC || !version || *version != LOG_VERSION || !meta_len ||
        *meta_len > 2 * kLogMaxPageSize) {
        return std::nullopt;
    }
    const auto meta = r.Take(*meta_len);
    if (!meta || !r.CrcMatches()) return std::nullopt;
    return LogCheckpoint{*generation, *txnid, Bytes(meta->begin(), meta->end())};
}

Bytes EncodeLogRecord(uint64_t generation, uint64_t txnid, LogRecordKind kind, std::span<const LoggedOp> ops)
{
    // Written once, in place: a commit's record is encoded on the path of the messages waiting
    // for it. The reserve is a guess (each op's fields add a few bytes to its data).
    size_t data = 0;
    for (const LoggedOp& op : ops) data += op.db.size() + op.key.size() + op.value.size() + 16;
    Bytes out;
    out.reserve(RECORD_FIXED + data + 4);
    PutLe(out, RECORD_MAGIC, 4);
    const size_t length_at = out.size();
    PutLe(out, 0, 4);
    PutLe(out, generation, 8);
    PutLe(out, txnid, 8);
    out.push_back(static_cast<uint8_t>(kind));
    EncodeOps(out, ops);
    const size_t payload_size = out.size() - RECORD_FIXED;
    if (payload_size > std::numeric_limits<uint32_t>::max()) {
        throw StoreError("commit log", "a transaction of more than 4 GiB");
    }
    for (size_t i = 0; i < 4; ++i) out[length_at + i] = static_cast<uint8_t>(payload_size >> (8 * i));
    PutLe(out, Crc32(out), 4);
    return out;
}

Bytes EncodeLogRecord(const LogRecord& record)
{
    return EncodeLogRecord(record.generation, record.txnid, record.kind, record.ops);
}

namespace {
//! The intact record at the start of `region` and its size, of any generation.
std::optional<std::pair<LogRecord, size_t>> DecodeFirstRecord(ByteSpan region)
{
    Reader r{region};
    const auto magic = r.Le(4);
    const auto length = r.Le(4);
    const auto generation = r.Le(8);
    const auto txnid = r.Le(8);
    const auto kind = r.Le(1);
    if (!magic || *magic != RECORD_MAGIC || !length || !generation || !txnid || !kind || (*kind != 1 && *kind != 2)) {
        return std::nullopt;
    }
    const auto payload = r.Take(*length);
    if (!payload || !r.CrcMatches()) return std::nullopt;
    auto ops = DecodeOps(*payload);
    if (!ops) return std::nullopt;
    return std::pair{LogRecord{*generation, *txnid, static_cast<LogRecordKind>(*kind), std::move(*ops)}, r.Pos()};
}
} // namespace

std::vector<LogRecord> DecodeLogRecords(ByteSpan region, uint64_t generation)
{
    std::vector<LogRecord> records;
    for (;;) {
        auto first = DecodeFirstRecord(region);
        if (!first || first->first.generation != generation) return records;
        records.push_back(std::move(first->first));
        region = region.subspan(first->second);
    }
}

std::vector<std::vector<LoggedOp>> CommittedChanges(std::span<const LogRecord> records)
{
    // A failed commit is retried under the same txnid, so an ABORT cancels only the latest
    // COMMIT before it.
    std::vector<const LogRecord*> kept;
    for (const LogRecord& record : records) {
        if (record.kind == LogRecordKind::COMMIT) {
            kept.push_back(&record);
            continue;
        }
        const auto it = std::find_if(kept.rbegin(), kept.rend(), [&](const LogRecord* r) { return r->txnid == record.txnid; });
        if (it != kept.rend()) kept.erase(std::next(it).base());
    }
    std::vector<std::vector<LoggedOp>> changes;
    for (const LogRecord* record : kept) changes.push_back(record->ops);
    return changes;
}

std::optional<CommitLog::Contents> CommitLog::Read(const std::filesystem::path& path)
{
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return std::nullopt;
    if (fd < 0) ThrowErrno("open " + path.string());
    Bytes content;
    try {
        content = ReadWhole(fd, path);
    } catch (...) {
        close(fd);
        throw;
    }
    close(fd);
    const ByteSpan all{content};
    std::optional<LogCheckpoint> newest;
    for (size_t slot = 0; slot < 2; ++slot) {
        if (all.size() <= slot * kLogSlotSize) break;
        auto header = DecodeLogHeader(all.subspan(slot * kLogSlotSize, std::min(kLogSlotSize, all.size() - slot * kLogSlotSize)));
        if (header && (!newest || header->generation > newest->generation)) newest = std::move(header);
    }
    if (!newest) throw StoreError("read " + path.string(), "the store's commit log has no intact header");
    Contents contents{*newest, {}};
    if (all.size() <= kLogRecordsOffset) return contents;
    const ByteSpan region = all.subspan(kLogRecordsOffset);
    // A checkpoint's header is written before any record of its generation: records of a
    // newer generation mean the header that came with them is damaged, and the older one's
    // snapshot may since have been overwritten.
    if (const auto first = DecodeFirstRecord(region); first && first->first.generation > newest->generation) {
        throw StoreError("read " + path.string(), "the store's commit log lost the header of its latest checkpoint");
    }
    contents.records = DecodeLogRecords(region, newest->generation);
    return contents;
}

CommitLog CommitLog::Create(const std::filesystem::path& path, const LogCheckpoint& checkpoint, LogWrites writes)
{
    const auto fresh = std::filesystem::path(path).concat(".new");
    const int fd = open(fresh.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_DSYNC | O_CLOEXEC, 0600);
    if (fd < 0) ThrowErrno("create " + fresh.string());
    CommitLog log{fd, 0};
    log.OpenDirect(fresh, writes);
    log.Reserve(kLogRecordsOffset + RESERVE_STEP);
    log.Restart(checkpoint);
    if (rename(fresh.c_str(), path.c_str()) != 0) ThrowErrno("rename " + fresh.string());
    SyncDirectory(path.parent_path());
    return log;
}

CommitLog CommitLog::Resume(const std::filesystem::path& path, const LogCheckpoint& checkpoint, LogWrites writes)
{
    const int fd = open(path.c_str(), O_RDWR | O_DSYNC | O_CLOEXEC);
    if (fd < 0) ThrowErrno("open " + path.string());
    const off_t size = lseek(fd, 0, SEEK_END);
    if (size < 0) {
        close(fd);
        ThrowErrno("size of " + path.string());
    }
    CommitLog log{fd, static_cast<uint64_t>(size)};
    log.OpenDirect(path, writes);
    log.Restart(checkpoint);
    return log;
}

CommitLog::CommitLog(int fd, uint64_t allocated) : m_fd{fd}, m_allocated{allocated} {}

CommitLog::CommitLog(CommitLog&& other) noexcept
    : m_fd{std::exchange(other.m_fd, -1)}, m_direct_fd{std::exchange(other.m_direct_fd, -1)},
      m_direct_proven{other.m_direct_proven}, m_buffer{std::move(other.m_buffer)},
      m_buffer_size{std::exchange(other.m_buffer_size, 0)}, m_generation{other.m_generation}, m_offset{other.m_offset},
      m_allocated{other.m_allocated}, m_records{other.m_records}
{
}

CommitLog::~CommitLog()
{
    if (m_fd >= 0) close(m_fd);
    if (m_direct_fd >= 0) close(m_direct_fd);
}

void CommitLog::OpenDirect(const std::filesystem::path& path, LogWrites writes)
{
    // The record region starts on a block boundary, so a record's block is never a header's.
    static_assert(kLogRecordsOffset % DIRECT_ALIGN == 0 && kLogSlotSize % DIRECT_ALIGN == 0);
    if (writes != LogWrites::DIRECT_IF_SUPPORTED) return;
    // A file system without direct I/O refuses the open (EINVAL): appends then go through the
    // page cache, as durable, a little slower.
    m_direct_fd = open(path.c_str(), O_RDWR | O_DSYNC | O_DIRECT | O_CLOEXEC);
}

void CommitLog::Append(uint64_t txnid, LogRecordKind kind, std::span<const LoggedOp> ops)
{
    const Bytes record = EncodeLogRecord(m_generation, txnid, kind, ops);
    if (m_direct_fd < 0 || !AppendDirect(record)) {
        Reserve(m_offset + record.size());
        WriteAllAt(m_fd, record, m_offset, "append to the commit log");
    }
    m_offset += record.size();
    ++m_records;
}

bool CommitLog::AppendDirect(ByteSpan record)
{
    // The block the records end in is written again whole: its bytes so far as they are, then
    // the record, then zeros to the block's end (past the log's end: nothing a reader takes).
    const size_t tail = static_cast<size_t>(m_offset % DIRECT_ALIGN);
    const uint64_t start = m_offset - tail;
    const size_t end = tail + record.size();
    const size_t length = (end + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN;
    if (length > m_buffer_size) {
        std::unique_ptr<uint8_t, FreeDeleter> bigger{static_cast<uint8_t*>(std::aligned_alloc(DIRECT_ALIGN, length))};
        if (!bigger) throw std::bad_alloc();
        if (tail > 0) std::memcpy(bigger.get(), m_buffer.get(), tail);
        m_buffer = std::move(bigger);
        m_buffer_size = length;
    }
    uint8_t* const buffer = m_buffer.get();
    std::memcpy(buffer + tail, record.data(), record.size());
    std::memset(buffer + end, 0, length - end);
    Reserve(start + length);
    for (size_t written = 0; written < length;) {
        const ssize_t n = pwrite(m_direct_fd, buffer + written, length - written, static_cast<off_t>(start + written));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EINVAL && !m_direct_proven && written == 0) {
            // Direct I/O opened but not taken as aligned here: nothing was written.
            close(std::exchange(m_direct_fd, -1));
            return false;
        }
        if (n <= 0) ThrowErrno("append to the commit log");
        written += static_cast<size_t>(n);
    }
    m_direct_proven = true;
    // The new last partial block moves to the buffer's start for the next append.
    const size_t new_tail = static_cast<size_t>((m_offset + record.size()) % DIRECT_ALIGN);
    std::memmove(buffer, buffer + end - new_tail, new_tail);
    return true;
}

void CommitLog::Restart(const LogCheckpoint& checkpoint)
{
    // The slots alternate by generation: the header this replaces stays whole until then.
    WriteAllAt(m_fd, EncodeLogHeader(checkpoint), (checkpoint.generation % 2) * kLogSlotSize, "write the commit log header");
    m_generation = checkpoint.generation;
    m_offset = kLogRecordsOffset;
    m_records = 0;
}

void CommitLog::Reserve(uint64_t end)
{
    if (end <= m_allocated) return;
    const uint64_t target = (end + RESERVE_STEP - 1) / RESERVE_STEP * RESERVE_STEP;
    const Bytes zeros(static_cast<size_t>(RESERVE_STEP), 0);
    for (uint64_t at = m_allocated; at < target; at += RESERVE_STEP) {
        WriteAllAt(m_fd, ByteSpan{zeros}.first(static_cast<size_t>(std::min(RESERVE_STEP, target - at))), at, "extend the commit log");
    }
    m_allocated = target;
}

} // namespace sidebolt::store
