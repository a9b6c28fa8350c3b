// The secrets the test suite hands heraldd (API tokens, provider tokens, passwords and signing
// secrets) and the logs heraldd wrote, both kept past each test in the build's test archive, so
// that one check after the whole suite (suite.no_secrets_in_logs, tests/CMakeLists.txt) can look
// for every secret, clear and as its SHA-256 digest, in every log heraldd wrote.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace herald::test {

// Records `clear` (and its SHA-256 hex digest, the form tokens files hold) as a secret, and
// returns it.
std::string secret(std::string_view clear);

// Records the secrets in heraldd's environment and config: the values of HERALD_* variables named
// like a secret (TOKEN, PASSWORD, SECRET, PASS), the digests of a tokens file
// (HERALD_TOKENS_FILE), and `token`/`password`/`secret` keys of a `--config` INI file.
void record_secrets(const std::vector<std::string>& env, const std::vector<std::string>& argv);

// Copies the heraldd log at `path` into the archive, under a name of its own.
void archive_heraldd_log(const std::filesystem::path& path);

}  // namespace herald::test
