#!/usr/bin/env python3
"""After the whole test suite: no secret the suite gave heraldd appears in any log heraldd wrote.

The archive (tests/support/secrets.hpp) holds secrets.txt, every secret clear and as its SHA-256
digest, one a line, and logs/, a copy of each heraldd log. A secret found in a log fails the check,
naming the log and line but never quoting the secret.
"""
import pathlib
import sys

MIN_LENGTH = 6  # shorter values would match ordinary words

archive = pathlib.Path(sys.argv[1])
secrets_file = archive / "secrets.txt"
secrets = set()
if secrets_file.exists():
    secrets = {s for s in secrets_file.read_text(errors="replace").splitlines() if len(s) >= MIN_LENGTH}
logs = sorted((archive / "logs").glob("*.log")) if (archive / "logs").exists() else []

if not secrets and not logs:
    print("no heraldd ran in this test run: nothing to check")
    sys.exit(0)
if not logs:
    print(f"FAIL: {len(secrets)} secrets were recorded but no heraldd log was archived")
    sys.exit(1)
if not secrets:
    # A part of the suite (ctest -R) may run only heraldd given no token or password.
    print(f"{len(logs)} heraldd logs were archived, and no test of this run gave heraldd a secret")
    sys.exit(0)

found = 0
total_bytes = 0
for log in logs:
    text = log.read_text(errors="replace")
    total_bytes += len(text)
    for number, line in enumerate(text.splitlines(), 1):
        for s in secrets:
            if s in line:
                found += 1
                masked = s[:2] + "***"
                print(f"FAIL: {log.name}:{number} holds a secret ({masked}, {len(s)} chars)")
print(f"scanned {len(logs)} heraldd logs ({total_bytes} bytes) for {len(secrets)} secrets: "
      f"{found} found")
sys.exit(1 if found else 0)
