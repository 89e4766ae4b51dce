#include "tests/test_util.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sidebolt::test {

std::string ReadVectorFile(const std::string& relative_path)
{
    const std::string path = std::string(SIDEBOLT_VECTORS_DIR) + "/" + relative_path;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("missing test vector file " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

nlohmann::json ReadJsonVectors(const std::string& relative_path)
{
    return nlohmann::json::parse(ReadVectorFile(relative_path));
}

ScratchDir::ScratchDir(const std::string& prefix)
{
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    m_path = pattern;
}

ScratchDir::~ScratchDir() { std::filesystem::remove_all(m_path); }

} // namespace sidebolt::test
