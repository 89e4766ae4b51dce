#ifndef SIDEBOLT_STORE_COMMIT_LOG_H
#define SIDEBOLT_STORE_COMMIT_LOG_H

// The store's write-ahead log: what makes a commit durable with one device sync.
//
// A durable LMDB commit costs two syncs (the data pages, then the meta page), each a full
// device flush. Instead each write transaction's changes are appended here with one
// synchronous write, and wait in memory (store/env.h). A checkpoint now and then applies them to
// LMDB and syncs it, records LMDB's two meta pages in this log's header and starts the log
// afresh.
//
// Recovery after a crash puts the checkpoint's meta pages back, which returns LMDB to the
// checkpoint exactly (Env keeps a read transaction open on the checkpoint's snapshot, so LMDB
// never reuses its pages), and replays the log's records. A record torn by the crash was never
// acknowledged and ends the log.
//
// File layout: two header slots written in turn (a torn header leaves the other), then records.
// Every header and record carries the generation of its checkpoint and a CRC-32; a record of an
// older generation left further in the file ends the log too.

#include "util/bytes.h"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sidebolt::store {

//! One change of a write transaction, as the log replays it.
struct LoggedOp {
    enum class Kind : uint8_t { PUT = 1, DELETE = 2 };
    Kind kind{Kind::PUT};
    std::string db;
    Bytes key;
    Bytes value; //!< Empty for DELETE.

    bool operator==(const LoggedOp&) const = default;
};

//! LMDB synced at transaction `txnid`, with its two meta pages as they then were on disk.
struct LogCheckpoint {
    uint64_t generation{0};
    uint64_t txnid{0};
    Bytes meta_pages;

    bool operator==(const LogCheckpoint&) const = default;
};

enum class LogRecordKind : uint8_t {
    COMMIT = 1, //!< A transaction's changes: the commit itself (they reach LMDB at the checkpoint).
    //! LMDB failed to commit the transaction of the latest COMMIT with this txnid. Written by
    //! the versions whose LMDB committed each transaction; read for the logs they left.
    ABORT = 2,
};

struct LogRecord {
    uint64_t generation{0};
    uint64_t txnid{0};
    LogRecordKind kind{LogRecordKind::COMMIT};
    std::vector<LoggedOp> ops;

    bool operator==(const LogRecord&) const = default;
};

//! Largest LMDB page this log can hold two of in a header slot.
constexpr size_t kLogMaxPageSize = 65536;
//! A header slot: fixed fields and the meta pages, rounded to whole 4 KiB blocks.
constexpr size_t kLogSlotSize = 4096 + 2 * kLogMaxPageSize;
//! Where the records begin: after the two slots.
constexpr uint64_t kLogRecordsOffset = 2 * kLogSlotSize;

Bytes EncodeLogHeader(const LogCheckpoint& checkpoint);
//! nullopt for anything but a whole, intact header.
std::optional<LogCheckpoint> DecodeLogHeader(ByteSpan slot);

Bytes EncodeLogRecord(const LogRecord& record);
Bytes EncodeLogRecord(uint64_t generation, uint64_t txnid, LogRecordKind kind, std::span<const LoggedOp> ops);
//! The records of `generation` from the start of `region`, up to the first that is torn, of
//! another generation or not a record at all.
std::vector<LogRecord> DecodeLogRecords(ByteSpan region, uint64_t generation);
//! The committed transactions' changes in order: a COMMIT an ABORT cancels is left out.
std::vector<std::vector<LoggedOp>> CommittedChanges(std::span<const LogRecord> records);

//! How appends reach the device. DIRECT (O_DIRECT) where the file system takes it: a
//! synchronous write is then the device's write and flush alone, without the page cache's copy
//! and writeback (bench/commit_log_bench.cpp: 61 against 72 us a 5 KB record on this
//! project's VM, 2026-12-06).
enum class LogWrites : uint8_t { DIRECT_IF_SUPPORTED, PAGE_CACHE };

//! The log file. Not thread-safe by itself: Env appends under its writer lock and
//! checkpoints with no commit running.
class CommitLog
{
public:
    struct Contents {
        LogCheckpoint checkpoint;
        std::vector<LogRecord> records;
    };

    //! Reads the log at `path` (nullopt when it does not exist). Throws StoreError when the
    //! file exists but holds no intact header: that is damage, not a crash.
    static std::optional<Contents> Read(const std::filesystem::path& path);

    //! Creates a fresh log starting at `checkpoint` (written aside, synced and renamed in, so a
    //! crash leaves either no log or a whole one).
    static CommitLog Create(const std::filesystem::path& path, const LogCheckpoint& checkpoint,
                            LogWrites writes = LogWrites::DIRECT_IF_SUPPORTED);
    //! Opens an existing log to go on from `checkpoint`, which it writes at once.
    static CommitLog Resume(const std::filesystem::path& path, const LogCheckpoint& checkpoint,
                            LogWrites writes = LogWrites::DIRECT_IF_SUPPORTED);

    CommitLog(CommitLog&& other) noexcept;
    CommitLog& operator=(CommitLog&&) = delete;
    CommitLog(const CommitLog&) = delete;
    ~CommitLog();

    //! Durable when it returns.
    void Append(uint64_t txnid, LogRecordKind kind, std::span<const LoggedOp> ops);
    //! Writes `checkpoint` over the older header slot and starts the records again.
    void Restart(const LogCheckpoint& checkpoint);

    uint64_t Generation() const { return m_generation; }
    uint64_t RecordBytes() const { return m_offset - kLogRecordsOffset; }
    uint64_t Records() const { return m_records; }
    //! Whether appends bypass the page cache (LogWrites::DIRECT_IF_SUPPORTED, and the file
    //! system took the first one).
    bool WritesDirect() const { return m_direct_fd >= 0; }

private:
    //! Direct writes start and end on this boundary, in memory and in the file.
    static constexpr size_t DIRECT_ALIGN = 4096;
    struct FreeDeleter {
        void operator()(uint8_t* p) const { std::free(p); }
    };

    CommitLog(int fd, uint64_t allocated);
    //! Opens the direct descriptor when asked and the file system allows it.
    void OpenDirect(const std::filesystem::path& path, LogWrites writes);
    //! Zero-fills ahead of the records so that a synchronous append changes no file metadata.
    void Reserve(uint64_t end);
    //! Whether the record went out directly; false when the file system refused the first
    //! direct write (nothing written, direct writes given up).
    bool AppendDirect(ByteSpan record);

    int m_fd{-1};
    //! The same file opened O_DIRECT for appends, or -1.
    int m_direct_fd{-1};
    //! Whether a direct write has succeeded: a refusal after that is an error, not a fallback.
    bool m_direct_proven{false};
    //! Aligned staging for direct writes. Its first m_offset % DIRECT_ALIGN bytes are the
    //! records' last partial block as written, which each direct append writes again.
    std::unique_ptr<uint8_t, FreeDeleter> m_buffer;
    size_t m_buffer_size{0};
    uint64_t m_generation{0};
    uint64_t m_offset{kLogRecordsOffset};
    uint64_t m_allocated{0};
    uint64_t m_records{0};
};

} // namespace sidebolt::store

#endif
