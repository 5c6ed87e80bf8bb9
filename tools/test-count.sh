#!/usr/bin/env bash
# Reads `cargo test` output on standard input, passes it through, and sums the "N passed" and
# "N failed" of every "test result:" line. Prints "make test: N tests passed", writes N to
# .cache/test-count (or $1), and exits nonzero when a test failed, a test was ignored (an
# #[ignore] is a skip that cargo reports as success) or no test ran at all.
# Use with pipefail so that cargo's own failure (a build error) fails the pipeline too.
set -euo pipefail
out=${1:-.cache/test-count}
passed=0
failed=0
ignored=0
results=0
while IFS= read -r line; do
  printf '%s\n' "$line"
  if [[ $line =~ ^test\ result:\ [A-Za-z]+\.\ ([0-9]+)\ passed\;\ ([0-9]+)\ failed\;\ ([0-9]+)\ ignored\; ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
    ignored=$((ignored + BASH_REMATCH[3]))
    results=$((results + 1))
  fi
done
mkdir -p "$(dirname "$out")"
rm -f "$out"
if ((failed > 0)); then
  echo "make test: $failed tests FAILED ($passed passed, over $results test binaries)"
  exit 1
fi
if ((ignored > 0)); then
  echo "make test: $ignored tests ignored ($passed passed): remove the #[ignore] or the test"
  exit 1
fi
if ((results == 0)); then
  echo "make test: no \"test result:\" line in the output: no test ran"
  exit 1
fi
echo "$passed" >"$out"
echo "make test: $passed tests passed ($results test binaries)"
