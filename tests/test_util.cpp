#include "tests/test_util.h"

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

} // namespace sidebolt::test
