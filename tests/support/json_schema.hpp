// Validating JSON against the contract's schemas (proto/schemas) with Debian's python3-jsonschema,
// through tests/support/validate_json.py.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace herald::test {

// proto/ in the source tree.
std::filesystem::path proto_dir();

// Validates each instance file against `schema`: the validator's exit code (0 all valid, 1 some
// invalid) and its complaints, one line each naming the file and the path in it.
std::pair<int, std::string> validate_json(const std::filesystem::path& schema,
                                          const std::vector<std::filesystem::path>& instances);

}  // namespace herald::test
