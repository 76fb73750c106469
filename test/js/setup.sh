#!/usr/bin/env bash
# Installs the pinned vega and vega-lite npm packages (test/js/package.json and
# package-lock.json) into target/js/node_modules, where dlnlab's plot tests look
# for them. Does nothing when that install is already current. Needs node and npm.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dest="$root/target/js"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "[setup.sh] node and npm are needed to check Vega-Lite specs (apt-get install nodejs npm)" >&2
  exit 1
fi

if [ -f "$dest/node_modules/.dlnlab-installed" ] \
   && cmp -s "$here/package.json" "$dest/package.json" \
   && cmp -s "$here/package-lock.json" "$dest/package-lock.json"; then
  exit 0
fi

echo "[setup.sh] installing vega and vega-lite into $dest" >&2
mkdir -p "$dest"
cp "$here/package.json" "$here/package-lock.json" "$dest/"
(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >&2)
touch "$dest/node_modules/.dlnlab-installed"
