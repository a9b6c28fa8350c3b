#include "support/json_schema.hpp"

#include <chrono>

#include "support/process.hpp"

namespace herald::test {

std::filesystem::path proto_dir() {
  return std::filesystem::path(HERALD_SOURCE_DIR) / "proto";
}

std::pair<int, std::string> validate_json(const std::filesystem::path& schema,
                                          const std::vector<std::filesystem::path>& instances) {
  temp_dir dir("herald-contract");
  std::vector<std::string> argv{"/usr/bin/python3",
                                std::string(HERALD_SOURCE_DIR) + "/tests/support/validate_json.py",
                                schema.string()};
  for (const auto& i : instances) argv.push_back(i.string());
  child_process p(argv, {}, dir / "out.txt");
  auto code = p.wait_for(std::chrono::seconds(30));
  return {code.value_or(-1), p.log()};
}

}  // namespace herald::test
