// One durable commit-log append (the device write a payment waits for four times), through the
// page cache or bypassing it. The log lives under $TMPDIR (or /tmp): point it at the disk the
// node's datadir is on, a tmpfs measures no device at all.
#include "store/commit_log.h"
#include "tests/support/scratch_dir.h"

#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace sidebolt;
using namespace sidebolt::store;

namespace {

void AppendRecords(benchmark::State& state, LogWrites writes)
{
    const test::ScratchDir dir{"sidebolt-log"};
    CommitLog log = CommitLog::Create(dir.Path() / "log", LogCheckpoint{1, 1, Bytes(100, 0)}, writes);
    // A channel record's size as a payment writes it (5 to 9 KB in the benchmark's traces).
    const std::vector<LoggedOp> ops{LoggedOp{LoggedOp::Kind::PUT, "channels", Bytes(32, 1), Bytes(static_cast<size_t>(state.range(0)), 7)}};
    uint64_t txnid = 0;
    for (auto _ : state) {
        log.Append(++txnid, LogRecordKind::COMMIT, ops);
        // Started again now and then, as checkpoints do, so that the file stops growing.
        if (log.RecordBytes() > (uint64_t{64} << 20)) log.Restart(LogCheckpoint{log.Generation() + 1, txnid, Bytes(100, 0)});
    }
    state.SetLabel(std::string(log.WritesDirect() ? "direct" : "page cache") + " under " + std::filesystem::temp_directory_path().string());
}

void CommitLogAppendDirect(benchmark::State& state) { AppendRecords(state, LogWrites::DIRECT_IF_SUPPORTED); }
void CommitLogAppendPageCache(benchmark::State& state) { AppendRecords(state, LogWrites::PAGE_CACHE); }

} // namespace

BENCHMARK(CommitLogAppendDirect)->Arg(512)->Arg(5000)->Arg(9000)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(CommitLogAppendPageCache)->Arg(512)->Arg(5000)->Arg(9000)->UseRealTime()->Unit(benchmark::kMicrosecond);
