#!/usr/bin/env bash
# Sets up what the tests need (Docker engine, Python runtime image, docker-compose), builds everything and runs every
# test: the fast tiers first (unit, in-process service, store), then the end-to-end suite against real services and
# real containers. Extra arguments go to every tier's `dotnet test` (e.g. --filter). Ends with "N passed, N failed"
# from the TRX results of all tiers, and fails if any tier failed.
set -uo pipefail
cd "$(dirname "$0")"

eng/prerequisites.sh --compose --runsc --postgres --browser --test-clients || exit 1
# The tests never stop, restart or reconfigure the machine's engine (faults get a private one): checked at the end.
engine_pid=$(cat /var/run/docker.pid 2>/dev/null || true)
engine_bridge=$(ip -br link show docker0 2>/dev/null | awk '{print $1}')

results=TestResults
rm -rf "$results"
status=0
# A broken rule shows in seconds; the end-to-end suite still runs after a fast tier fails, so every count is reported.
for tier in unit:Executor.UnitTests service:Executor.ServiceTests store:Executor.StoreTests end-to-end:Executor.EndToEndTests; do
  started=$SECONDS
  dotnet test "tests/${tier#*:}" --logger "trx;LogFilePrefix=${tier%%:*}" --results-directory "$results" "$@" || status=1
  echo "${tier%%:*} tests: $((SECONDS - started)) s"
done

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
if [ -n "$engine_pid" ] && [ "$(cat /var/run/docker.pid 2>/dev/null || true)" != "$engine_pid" ]; then
  echo "error: the machine's Docker engine (pid $engine_pid) did not keep running through the tests" >&2
  failed=$((failed + 1))
  status=1
fi
if [ -n "$engine_bridge" ] && ! ip link show docker0 >/dev/null 2>&1; then
  echo "error: the machine's Docker bridge docker0 is gone after the tests" >&2
  failed=$((failed + 1))
  status=1
fi
echo "$passed passed, $failed failed"
exit "$status"
