#include "plugin/datadir.h"
#include "plugin/seed.h"

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
} // namespace

TEST_CASE("seed is created 0600, reloaded identically, and gives a stable node id")
{
    const auto dir = FreshDir("sb_seed_create");
    const auto first = NodeSeed::LoadOrCreate(dir).NodeKey().GetPubKey();
    struct stat st{};
    REQUIRE(::stat((dir / NodeSeed::FILE_NAME).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(NodeSeed::LoadOrCreate(dir).NodeKey().GetPubKey() == first);
    CHECK(NodeSeed::LoadOrCreate(FreshDir("sb_seed_other")).NodeKey().GetPubKey() != first);
}

TEST_CASE("a damaged or exposed seed file is refused, never replaced")
{
    const auto dir = FreshDir("sb_seed_bad");
    std::ofstream(dir / NodeSeed::FILE_NAME) << "short";
    ::chmod((dir / NodeSeed::FILE_NAME).c_str(), 0600);
    CHECK_THROWS_AS(NodeSeed::LoadOrCreate(dir), DatadirError);
    CHECK(std::filesystem::file_size(dir / NodeSeed::FILE_NAME) == 5);
    const auto open_dir = FreshDir("sb_seed_open");
    NodeSeed::LoadOrCreate(open_dir);
    ::chmod((open_dir / NodeSeed::FILE_NAME).c_str(), 0644);
    CHECK_THROWS_WITH_AS(NodeSeed::LoadOrCreate(open_dir), doctest::Contains("chmod 600"), DatadirError);
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
