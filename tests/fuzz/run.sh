#!/usr/bin/env bash
# Builds one libFuzzer target with Debian's clang-14 (ASan + UBSan) and runs it from its seed
# corpus for HERALD_FUZZ_SECONDS (60); a finding (crash, leak, sanitizer report) fails the run.
# The test suite runs each target this way (ctest -L fuzz).
#
#   tests/fuzz/run.sh job|template|trigger|http_request|form_params|xml_request [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
name=${1:?usage: tests/fuzz/run.sh TARGET [BUILD_DIR]}
build=$(realpath -m "${2:-$root/build}")/fuzz
seconds=${HERALD_FUZZ_SECONDS:-60}

src=$root/lib/src
case $name in
  template) sources="templates/template.cpp templates/text.cpp"; libs="-lutf8proc" ;;
  trigger)
    sources="triggers/trigger.cpp templates/template.cpp templates/text.cpp common/json.cpp
             common/json_keys.cpp profiles/profile.cpp profiles/normalize.cpp queue/task.cpp
             delivery/provider_config.cpp"
    libs="-lsimdjson -lutf8proc -lidn2 -lboost_url" ;;
  job)
    sources="profiles/import.cpp profiles/profile.cpp profiles/normalize.cpp profiles/matching.cpp
             log/log.cpp common/json.cpp common/json_keys.cpp providers/message.cpp
             delivery/provider_config.cpp queue/task.cpp asio/asio_impl.cpp"
    libs="-lsimdjson -lutf8proc -lidn2 -lspdlog -lfmt -lboost_url -lssl -lcrypto -lpthread" ;;
  http_request)
    sources="http/request_checks.cpp http/router.cpp http/message.cpp common/json.cpp asio/asio_impl.cpp
             asio/beast_impl.cpp"
    libs="-lssl -lcrypto -lpthread" ;;
  xml_request) sources="api/xml.cpp common/json.cpp"; libs="-lpugixml -lsimdjson" ;;
  form_params) sources="api/form_params.cpp common/json.cpp"; libs="-lsimdjson" ;;
  *) echo "run.sh: unknown target $name" >&2; exit 2 ;;
esac

mkdir -p "$build/obj"
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
  -DSPDLOG_FMT_EXTERNAL -DSPDLOG_COMPILED_LIB -DSPDLOG_SHARED_LIB -DFMT_SHARED -DBOOST_URL_DYN_LINK
  -DBOOST_URL_NO_LIB -DBOOST_ASIO_SEPARATE_COMPILATION -DBOOST_BEAST_SEPARATE_COMPILATION
  -DBOOST_ASIO_NO_DEPRECATED -I"$root/lib/include" -I"$src")
# One object a source, shared by the targets (their flags are the same), rebuilt when the source
# or a header is newer; written under a temporary name, so targets built at once never read a
# half-written object.
objects=()
for s in $sources; do
  obj=$build/obj/${s//\//_}.o
  if [[ ! -f $obj ]] || [[ -n $(find "$src/$s" "$root/lib/include" "$src" -name '*.hpp' -newer "$obj" -print -quit) ]] ||
    [[ $src/$s -nt $obj ]]; then
    tmp=$(mktemp "$obj.XXXXXX")
    clang++-14 "${flags[@]}" -c "$src/$s" -o "$tmp"
    mv "$tmp" "$obj"
  fi
  objects+=("$obj")
done
binary=$build/${name}_fuzz
# Relinked when the target's source or an object is newer than the binary.
if [[ ! -x $binary ]] || [[ -n $(find "$root/tests/fuzz/${name}_fuzz.cpp" "${objects[@]}" -newer "$binary" -print -quit) ]]; then
  clang++-14 "${flags[@]/fuzzer-no-link/fuzzer}" "$root/tests/fuzz/${name}_fuzz.cpp" "${objects[@]}" \
    $libs -o "$binary.tmp"
  mv "$binary.tmp" "$binary"
fi

# New inputs go to a scratch corpus; the checked-in seeds stay as they are.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/herald-fuzz-$name.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
"$binary" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$scratch" "$root/tests/fuzz/corpus/$name" 2>&1 | tail -n 25
