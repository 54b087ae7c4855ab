#!/usr/bin/env bash
# Sets up what Executor needs (a Docker engine, the Python runtime image) and runs the whole stack under the
# Aspire AppHost. Ctrl+C stops it, and every container it started goes with it.
#
#   ./run.sh                    every sandbox under the engine's default runtime (runc) with Executor's seccomp profile
#   ./run.sh --runtime runsc    every sandbox under gVisor (installs and registers runsc first)
#   ./run.sh --distributed      PostgreSQL, two SessionService replicas and two runner hosts (the second on a Docker
#                               engine of its own); with ConnectionStrings__executor set, that server instead
#   ./run.sh --dev              Debug builds in the Development environment (the framework's development behaviour);
#                               without it the services run optimized (Release) in Production, as the benchmark measures
#
# Any setting of docs/operations.md (Configuration) can be given as an environment variable, e.g.
#   Sandbox__MemoryMb=256 Pool__TargetSize=4 ./run.sh
set -euo pipefail
cd "$(dirname "$0")"

runtime=""
distributed=""
configuration=Release
while [ $# -gt 0 ]; do
  case $1 in
    --distributed) distributed=1; shift ;;
    --dev) configuration=Debug; export Executor__Environment=Development; shift ;;
    --runtime) runtime=${2:?--runtime needs a value, e.g. runsc}; shift 2 ;;
    --runtime=*) runtime=${1#--runtime=}; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "error: unknown option $1 (see ./run.sh --help)" >&2; exit 2 ;;
  esac
done

prerequisites=()
[ "$runtime" = runsc ] && prerequisites+=(--runsc)
[ -n "$distributed" ] && [ -z "${ConnectionStrings__executor:-}" ] && prerequisites+=(--postgres)
eng/prerequisites.sh "${prerequisites[@]}"
command -v dotnet >/dev/null 2>&1 || { echo "error: the .NET 10 SDK (dotnet) is required: https://dot.net" >&2; exit 1; }
[ -n "$runtime" ] && export Executor__Runtime="$runtime"
[ -n "$distributed" ] && export Executor__Mode=distributed

cat <<TXT
==> starting Executor ($configuration build; the first start builds the solution)${runtime:+, sandboxes under $runtime}${distributed:+, distributed: PostgreSQL, 2 replicas, 2 runner hosts}
    Playground   http://localhost:5000/
    API          http://localhost:5000          e.g. curl -F file=@hello.py http://localhost:5000/execute
    MCP          http://localhost:5000/mcp      (for AI agents: see the README)
    API docs     http://localhost:5000/apidocs  (Swagger UI)   http://localhost:5000/scalar (Scalar)
    Dashboard    http://localhost:15080         (the login link with its token is printed below)
TXT
exec dotnet run -c "$configuration" --project AppHost --launch-profile http
