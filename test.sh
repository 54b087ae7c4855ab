#!/usr/bin/env bash
# Sets up what the tests need (Docker engine, Python runtime image, docker-compose), builds everything and runs
# every test against real services and real containers. Ends with "N passed, N failed" from the TRX results.
set -uo pipefail
cd "$(dirname "$0")"

eng/prerequisites.sh --compose || exit 1

results=TestResults
rm -rf "$results"
dotnet test Executor.sln --logger "trx" --results-directory "$results" "$@"
status=$?

passed=0
failed=0
shopt -s nullglob
for trx in "$results"/*.trx; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # the build or a test host failed before any test could report
fi
echo "$passed passed, $failed failed"
exit "$status"
