#include "plugin/datadir.h"
#include "plugin/seed.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>

using namespace sidebolt;

namespace {
std::filesystem::path FreshDir(const std::string& name)
{
    const auto dir = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}


PubKey NodeIdOf(const NodeSeed& seed) { return seed.NodeKey().GetPubKey(); }
} // namespace

TEST_CASE("seed is created 0600, reloaded identically, and gives a stable node id")
{
    const auto dir = FreshDir("sb_seed_create");
    CHECK_FALSE(NodeSeed::Load(dir));
    const auto first = NodeIdOf(NodeSeed::Create(dir));
    struct stat st{};
    REQUIRE(::stat((dir / NodeSeed::FILE_NAME).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    const auto loaded = NodeSeed::Load(dir);
    REQUIRE(loaded);
    CHECK(NodeIdOf(*loaded) == first);
    CHECK(NodeIdOf(NodeSeed::Create(FreshDir("sb_seed_other"))) != first);
    CHECK_THROWS_WITH_AS(NodeSeed::Create(dir), doctest::Contains("already exists"), DatadirError);
    CHECK(NodeIdOf(*NodeSeed::Load(dir)) == first);
}

TEST_CASE("a damaged or exposed seed file is refused, never replaced")
{
    const auto dir = FreshDir("sb_seed_bad");
    std::ofstream(dir / NodeSeed::FILE_NAME) << "short";
    ::chmod((dir / NodeSeed::FILE_NAME).c_str(), 0600);
    CHECK_THROWS_WITH_AS(NodeSeed::Load(dir), doctest::Contains("not 32 bytes"), DatadirError);
    CHECK_THROWS_AS(NodeSeed::LoadForStore(dir, true, std::nullopt), DatadirError);
    CHECK(std::filesystem::file_size(dir / NodeSeed::FILE_NAME) == 5);
    std::ofstream(dir / NodeSeed::FILE_NAME) << std::string(33, 'x');
    CHECK_THROWS_WITH_AS(NodeSeed::Load(dir), doctest::Contains("not 32 bytes"), DatadirError);
    const auto open_dir = FreshDir("sb_seed_open");
    NodeSeed::Create(open_dir);
    ::chmod((open_dir / NodeSeed::FILE_NAME).c_str(), 0644);
    CHECK_THROWS_WITH_AS(NodeSeed::Load(open_dir), doctest::Contains("chmod 600"), DatadirError);
    const auto dir_seed = FreshDir("sb_seed_is_dir");
    std::filesystem::create_directory(dir_seed / NodeSeed::FILE_NAME);
    ::chmod((dir_seed / NodeSeed::FILE_NAME).c_str(), 0700);
    CHECK_THROWS_AS(NodeSeed::Load(dir_seed), DatadirError);
}

TEST_CASE("the seed must match the store: created only with a new store, refused when missing or foreign")
{
    SUBCASE("a fresh datadir gets a seed")
    {
        const auto dir = FreshDir("sb_seed_store_fresh");
        const auto id = NodeIdOf(NodeSeed::LoadForStore(dir, /*store_is_new=*/true, std::nullopt));
        REQUIRE(NodeSeed::Load(dir));
        CHECK(NodeIdOf(*NodeSeed::Load(dir)) == id);
        // A crash after the seed was written but before the store recorded it: the same seed.
        CHECK(NodeIdOf(NodeSeed::LoadForStore(dir, true, std::nullopt)) == id);
    }
    SUBCASE("the recorded node id accepts its own seed")
    {
        const auto dir = FreshDir("sb_seed_store_match");
        const auto id = NodeIdOf(NodeSeed::Create(dir));
        CHECK(NodeIdOf(NodeSeed::LoadForStore(dir, false, id)) == id);
        // A store from before node ids were recorded takes the seed beside it.
        CHECK(NodeIdOf(NodeSeed::LoadForStore(dir, false, std::nullopt)) == id);
    }
    SUBCASE("a missing seed beside an existing store is refused, not recreated")
    {
        const auto dir = FreshDir("sb_seed_store_missing");
        const auto id = NodeIdOf(NodeSeed::Create(FreshDir("sb_seed_store_missing_origin")));
        CHECK_THROWS_WITH_AS(NodeSeed::LoadForStore(dir, false, id), doctest::Contains("is missing"), DatadirError);
        CHECK_THROWS_WITH_AS(NodeSeed::LoadForStore(dir, false, std::nullopt), doctest::Contains("is missing"), DatadirError);
        CHECK_FALSE(std::filesystem::exists(dir / NodeSeed::FILE_NAME));
    }
    SUBCASE("another node's seed is refused and left alone")
    {
        const auto dir = FreshDir("sb_seed_store_foreign");
        const auto recorded = NodeIdOf(NodeSeed::Create(FreshDir("sb_seed_store_foreign_origin")));
        const auto other = NodeIdOf(NodeSeed::Create(dir));
        const std::string expected = "belongs to node " + ToHex(recorded.span());
        CHECK_THROWS_WITH_AS(NodeSeed::LoadForStore(dir, false, recorded), doctest::Contains(expected.c_str()), DatadirError);
        CHECK(NodeIdOf(*NodeSeed::Load(dir)) == other);
    }
}

TEST_CASE("derived secrets are domain separated")
{
    const auto seed = NodeSeed::FromBytes(Bytes(32, 7));
    CHECK_FALSE(seed.DeriveSecret("a") == seed.DeriveSecret("b"));
    CHECK(seed.DeriveSecret("a") == seed.DeriveSecret("a"));
}

TEST_CASE("datadir lock is exclusive and released on destruction")
{
    const auto dir = FreshDir("sb_lock");
    {
        DatadirLock lock(dir);
        CHECK_THROWS_WITH_AS(DatadirLock{dir}, doctest::Contains("already in use"), DatadirError);
    }
    CHECK_NOTHROW(DatadirLock{dir});
}
