// The log of the HTLCs in the peer's commitments: ranges of commitment numbers open and close as
// HTLCs come and go, each past commitment's HTLCs read back exactly (what BOLT 5 needs to
// penalize a revoked one), across a reload, and a damaged entry is refused.

#include "node/remote_htlc_log.h"

#include "tests/node/node_test_util.h"

#include <doctest/doctest.h>

#include <memory>

namespace sidebolt {
namespace {

Hash256 Filled(uint8_t byte)
{
    Hash256 out{};
    out.fill(byte);
    return out;
}

using test::FastEnv;
using test::ScratchDir;

//! An HTLC whose amount, hash and expiry derive from its id.
LoggedHtlc Logged(Side offerer, uint64_t id)
{
    return LoggedHtlc{.offerer = offerer,
                      .amount_msat = Msat{1000 * (id + 1)},
                      .payment_hash = Filled(static_cast<uint8_t>(id)),
                      .cltv_expiry = static_cast<uint32_t>(500 + id)};
}

std::vector<KeyedHtlc> HtlcsWith(const std::vector<HtlcKey>& keys)
{
    std::vector<KeyedHtlc> out;
    for (const HtlcKey& key : keys) out.push_back({key, Logged(key.offerer, key.id)});
    return out;
}

struct LogFixture {
    ScratchDir dir;
    std::unique_ptr<store::Env> env = std::make_unique<store::Env>(dir.Path(), FastEnv());
    std::unique_ptr<RemoteHtlcLog> log = std::make_unique<RemoteHtlcLog>(*env);
    const Hash256 channel = Filled(0xc1);

    void Signed(uint64_t number, const std::vector<HtlcKey>& keys, const Hash256& id)
    {
        env->Write([&](store::WriteTxn& txn) { log->OnRemoteCommitment(txn, id, number, HtlcsWith(keys)); });
    }
    void Signed(uint64_t number, const std::vector<HtlcKey>& keys) { Signed(number, keys, channel); }
    std::vector<LoggedHtlc> In(uint64_t number, const Hash256& id) const
    {
        store::ReadTxn txn(*env);
        const RevokedCommitmentHtlcs found = log->Find(txn, id, number);
        CHECK(found.commitment_number == number);
        return found.htlcs;
    }
    std::vector<LoggedHtlc> In(uint64_t number) const { return In(number, channel); }
};

} // namespace

TEST_CASE("remote HTLC log: each of the peer's commitments gives back its HTLCs")
{
    LogFixture f;
    const HtlcKey ours0{Side::LOCAL, 0}, ours1{Side::LOCAL, 1}, theirs0{Side::REMOTE, 0};
    f.Signed(1, {});
    f.Signed(2, {ours0});
    f.Signed(3, {ours0, theirs0});
    f.Signed(4, {theirs0, ours1});
    f.Signed(5, {});

    CHECK(f.In(1).empty());
    CHECK(f.In(2) == std::vector{Logged(Side::LOCAL, 0)});
    CHECK(f.In(3) == std::vector{Logged(Side::LOCAL, 0), Logged(Side::REMOTE, 0)});
    CHECK(f.In(4) == std::vector{Logged(Side::LOCAL, 1), Logged(Side::REMOTE, 0)});
    CHECK(f.In(5).empty());
    // Numbers beyond the newest have nothing logged.
    CHECK(f.In(9).empty());
    // Another channel's log is its own.
    const Hash256 other = Filled(0xc2);
    f.Signed(7, {ours0}, other);
    CHECK(f.In(7, other) == std::vector{Logged(Side::LOCAL, 0)});
    CHECK(f.In(7).empty());
    CHECK(f.In(3).size() == 2);
}

TEST_CASE("remote HTLC log: a reload goes on closing the ranges left open")
{
    LogFixture f;
    const HtlcKey ours0{Side::LOCAL, 0}, ours1{Side::LOCAL, 1};
    f.Signed(10, {ours0, ours1});
    f.Signed(11, {ours0, ours1});
    // A restart: a new log over the same store, loaded.
    f.log = std::make_unique<RemoteHtlcLog>(*f.env);
    {
        store::ReadTxn txn(*f.env);
        f.log->Load(txn);
    }
    f.Signed(12, {ours1});
    f.Signed(13, {});
    CHECK(f.In(11) == std::vector{Logged(Side::LOCAL, 0), Logged(Side::LOCAL, 1)});
    CHECK(f.In(12) == std::vector{Logged(Side::LOCAL, 1)});
    CHECK(f.In(13).empty());
}

TEST_CASE("remote HTLC log: entries round-trip and damaged ones are refused")
{
    const LoggedRange open{.htlc = Logged(Side::REMOTE, 3), .first = 7, .end = std::nullopt};
    const LoggedRange closed{.htlc = Logged(Side::LOCAL, 4), .first = 7, .end = 9};
    CHECK(DecodeLoggedRange(EncodeLoggedRange(open)) == open);
    CHECK(DecodeLoggedRange(EncodeLoggedRange(closed)) == closed);

    Bytes bytes = EncodeLoggedRange(closed);
    SUBCASE("unknown version") { bytes[0] = 2; }
    SUBCASE("unknown offerer") { bytes[1] = 2; }
    SUBCASE("truncated") { bytes.pop_back(); }
    SUBCASE("trailing bytes") { bytes.push_back(0); }
    SUBCASE("a range that ends before it starts")
    {
        const LoggedRange backwards{.htlc = Logged(Side::LOCAL, 4), .first = 9, .end = 9};
        bytes = EncodeLoggedRange(backwards);
    }
    CHECK_FALSE(DecodeLoggedRange(bytes));
}

} // namespace sidebolt
