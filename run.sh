#!/usr/bin/env bash
# Sets up what Executor needs (a Docker engine, the Python runtime image) and runs the whole stack under the
# Aspire AppHost. Ctrl+C stops it.
set -euo pipefail
cd "$(dirname "$0")"

eng/prerequisites.sh
command -v dotnet >/dev/null 2>&1 || { echo "error: the .NET 10 SDK (dotnet) is required: https://dot.net" >&2; exit 1; }

cat <<'TXT'
==> starting Executor (first start builds the solution)
    API          http://localhost:5000          e.g. curl -F file=@hello.py http://localhost:5000/execute
    API docs     http://localhost:5000/apidocs  (Swagger UI)   http://localhost:5000/scalar (Scalar)
    Dashboard    http://localhost:15080         (the login link with its token is printed below)
TXT
exec dotnet run --project AppHost --launch-profile http
