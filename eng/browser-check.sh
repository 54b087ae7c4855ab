#!/usr/bin/env bash
# The browser check: starts the stack under its AppHost, runs one execution, and renders in headless Chromium the
# Aspire dashboard's trace of it, Swagger UI (/apidocs) and Scalar (/scalar), asserting the four routes appear.
# Screenshots go to docs/ (the README shows them). Needs Debian's chromium (installed when missing, as root) and npm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=eng/common.sh
. "$here/common.sh"

"$here/prerequisites.sh"
if [ ! -x /usr/bin/chromium ]; then
  is_root && is_debian_like || die "headless Chromium is needed at /usr/bin/chromium (Debian package chromium)"
  say "installing chromium from the distribution"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
work=$(mktemp -d /var/tmp/executor-browser.XXXXXX)
trap 'kill "${apphost:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
say "installing puppeteer-core (no browser download)"
cp "$here/browser/check.mjs" "$work/"
(cd "$work" && PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-save --no-package-lock --silent puppeteer-core@24 >/dev/null)

say "starting the stack (Release)"
dotnet build "$root/AppHost" -c Release -v quiet -nologo >/dev/null
# The dashboard without a login, for this local check only.
ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS=true dotnet run -c Release --no-build --project "$root/AppHost" --launch-profile http \
  >"$work/apphost.log" 2>&1 &
apphost=$!
for _ in $(seq 1 120); do curl -sf http://localhost:5000/health >/dev/null 2>&1 && break; sleep 1; done
curl -sf http://localhost:5000/health >/dev/null || die "the stack did not start; see $work/apphost.log"

say "running one execution (after a few to warm the services up)"
printf 'print("Hello from Python")\n' >"$work/hello.py"
for _ in $(seq 1 20); do curl -sf -F file=@"$work/hello.py" 'http://localhost:5000/execute?wait=true' >/dev/null; sleep 0.3; done
sleep 1
session=$(curl -sf -F file=@"$work/hello.py" 'http://localhost:5000/execute?wait=true' | sed 's/.*"session_id":"\([^"]*\)".*/\1/')
trace=""
for _ in $(seq 1 60); do
  trace=$(curl -sf 'http://localhost:15080/api/telemetry/traces?limit=200' | python3 -c '
import json, sys
session = sys.argv[1]
for rs in json.load(sys.stdin)["data"]["resourceSpans"]:
    for ss in rs["scopeSpans"]:
        for span in ss["spans"]:
            if any(a["key"] == "executor.session_id" and a["value"].get("stringValue") == session for a in span.get("attributes", [])):
                print(span["traceId"]); sys.exit()
' "$session" || true)
  [ -n "$trace" ] && break
  sleep 1
done
[ -n "$trace" ] || die "the dashboard never received the trace of session $session"

say "rendering the dashboard's trace, Swagger UI and Scalar"
mkdir -p "$root/docs"
node "$work/check.mjs" http://localhost:15080 http://localhost:5000 "$trace" "$root/docs"
