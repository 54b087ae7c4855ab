#!/usr/bin/env bash
# The benchmark: one command, every figure measured side by side in one run on this machine.
#   bench/run.sh            full run (about 8 minutes)
#   bench/run.sh --quick    shorter runs, for a first look
#   bench/run.sh --latency  the warm path only (embedded and postgres, settled and at a steady 3 runs/s)
#   bench/run.sh --live     the first byte of output to a live client (SSE, WebSocket), embedded and postgres
#   bench/run.sh --load     overload: 1,000 submissions at concurrency 50; every one refused or ended, none lost
#   bench/run.sh --load --postgres   the same in the distributed mode's store (PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
eng/prerequisites.sh --runsc --postgres
exec dotnet run -c Release --project bench/Executor.Bench -- "$@"
