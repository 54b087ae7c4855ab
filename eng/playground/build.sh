#!/usr/bin/env bash
# Rebuilds the playground's editor bundle (Gateway/wwwroot/playground/editor.js) from src/ with the versions the lock
# file pins: CodeMirror 6 and its Python mode, bundled by esbuild. The bundle is committed, so the service needs no
# npm, no CDN and no network at build or run time; run this after changing src/ or package.json.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run build
