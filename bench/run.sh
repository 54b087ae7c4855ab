#!/usr/bin/env bash
# The benchmark: one command, every figure measured side by side in one run on this machine.
#   bench/run.sh            full run (about 20 minutes)
#   bench/run.sh --quick    shorter runs, for a first look
#   bench/run.sh --traffic  warm hello world under traffic (settled, a steady 3 runs/s, back to back, 3 runs/s beside a docker run
#                           every second), each interleaved with the host's python3; then postgres settled and at 3 runs/s (~5 min)
#   bench/run.sh --latency  the warm path only (embedded and postgres, settled and at a steady 3 runs/s)
#   bench/run.sh --live     the first byte of output to a live client (SSE, WebSocket), embedded and postgres
#   bench/run.sh --runtimes import numpy, pandas, matplotlib: Executor's warm data runtime vs docker run vs host python3
#   bench/run.sh --sandboxes stateful sandboxes: create to first result, a call vs host python3, pandas, idle memory
#   bench/run.sh --clients  E2B's SDK and @jupyterlab/services vs the native API: a sandbox created, then 1 + 1
#   bench/run.sh --egress   egress to a loopback server: print(1) with and without it (warm, cold), 64 MiB through the proxy vs direct
#   bench/run.sh --languages C, Java, JavaScript warm hello world vs the host's gcc, java, node and docker run; 20 cases in one submission vs 20 submissions
#   bench/run.sh --scale    the distributed mode's central tier (gateway, replicas, PostgreSQL) against 2-100 simulated runner hosts and
#                           1, 2, 4 replicas: throughput, claim latency, what the tier spends, nothing lost (--quick: fewer steps;
#                           --replicas 1,2 --hosts 10,100 to choose them; ~12 min)
#   bench/run.sh --load     overload: 1,000 submissions at concurrency 50; every one refused or ended, none lost
#   bench/run.sh --load --postgres   the same in the distributed mode's store (PostgreSQL)
#   bench/run.sh --draw bench/results/full.json [bench/results/load.json]   redraw the pictures from saved figures alone
# Every mode prints markdown tables, writes what it measured (raw samples, the machine) to bench/results/<mode>.json and
# draws it as PNG files into docs/perf/<mode>-*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
# The pictures' text: DejaVu Sans (without it the renderer falls back to whatever font it finds).
if [ ! -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing fonts-dejavu-core (the pictures' text)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core >/dev/null
  else
    echo "note: no DejaVu Sans (Debian: fonts-dejavu-core); the pictures use a fallback font" >&2
  fi
fi
if [ "${1:-}" = "--draw" ]; then
  exec dotnet run -c Release --project bench/Executor.Bench -- "$@"
fi
eng/prerequisites.sh --runsc --postgres $([[ " $* " == *" --clients "* ]] && echo --test-clients)
# The data runtime's baseline: the host's own interpreter with Debian's same packages.
if ! /usr/bin/python3 -c 'import numpy, pandas, matplotlib' 2>/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "error: install python3-numpy, python3-pandas and python3-matplotlib on the host first" >&2; exit 1; }
  echo "==> installing python3-numpy, python3-pandas, python3-matplotlib on the host (the data runtime's baseline)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-numpy python3-pandas python3-matplotlib python3-scipy >/dev/null
fi
# The languages' baselines: the host's own gcc, node and java (Debian's packages, as in the image).
if [[ " $* " == *" --languages "* ]]; then
  for tool in gcc:gcc node:nodejs javac:openjdk-17-jdk-headless; do
    command -v "${tool%%:*}" >/dev/null 2>&1 && continue
    [ "$(id -u)" = 0 ] || { echo "error: install ${tool#*:} on the host first" >&2; exit 1; }
    echo "==> installing ${tool#*:} on the host (a languages baseline)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool#*:}" >/dev/null
  done
fi
exec dotnet run -c Release --project bench/Executor.Bench -- "$@"
