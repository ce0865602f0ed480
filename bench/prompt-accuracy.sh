#!/usr/bin/env bash
# The whole test split of a data set exported as the data set's own PNG files and typed at the real prompt
# (./submit.sh terminal --json, a directory at a time), against the trainer's own test accuracy: what the
# input contract promises, measured end to end.
#   bench/prompt-accuracy.sh [fashion|digits] [CHECKPOINT_DIR]
# Without a checkpoint directory it trains one epoch first (bench/work/prompt-DATA).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
data="${1:-fashion}"
ckpt="${2:-$ROOT/bench/work/prompt-$data}"
case "$data" in
  fashion) dir=/usr/share/datasets/fashion-mnist; images=t10k-images-idx3-ubyte.gz; labels=t10k-labels-idx1-ubyte.gz ;;
  digits) echo "digits: use ParityTest (the bundled test split is chosen by the split, not a file)"; exit 2 ;;
  *) echo "usage: $0 [fashion] [CHECKPOINT_DIR]"; exit 2 ;;
esac
[ -f "$dir/$images" ] || { echo "$dir/$images not found: apt-get install dataset-fashion-mnist"; exit 2; }
log=$(mktemp); png=$(mktemp -d); trap 'rm -rf "$log" "$png"' EXIT
if [ ! -f "$ckpt/best.json" ]; then
  "$ROOT/submit.sh" train --data "$data" --epochs 1 --checkpoint-dir "$ckpt" | tee "$log"
  trainer=$(grep -o 'test accuracy [0-9.]*' "$log" | tail -n1 | awk '{print $3}')
else
  trainer=$(python3 -c "import json,glob,sys; r=[json.load(open(f)) for f in glob.glob('$ckpt/runs/*/run.json')]; print(max((x.get('test_accuracy') or 0) for x in r))")
fi
python3 - "$dir/$images" "$dir/$labels" "$png" <<'PY'
import gzip, struct, sys, zlib
imgs = gzip.open(sys.argv[1]).read(); labs = gzip.open(sys.argv[2]).read(); out = sys.argv[3]
n = struct.unpack(">I", imgs[4:8])[0]
def chunk(t, b): return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
for i in range(n):
    px = imgs[16 + i * 784:16 + (i + 1) * 784]
    raw = b"".join(b"\0" + px[r * 28:(r + 1) * 28] for r in range(28))
    open(f"{out}/{labs[8 + i]}_{i:05d}.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
printf '%s\nq\n' "$png" | "$ROOT/submit.sh" terminal --checkpoint-dir "$ckpt" --json 2>/dev/null | python3 -c '
import json, os, sys
names = ["T-shirt/top","Trouser","Pullover","Dress","Coat","Sandal","Shirt","Sneaker","Bag","Ankle boot"]
ok = n = 0
for line in sys.stdin:
    if not line.startswith("{"): continue
    r = json.loads(line); n += 1
    ok += r.get("prediction") == names[int(os.path.basename(r["path"]).split("_")[0])]
print(f"{n} test images typed at the prompt: {ok / n:.4f} right; the trainer measured a test accuracy of '"$trainer"'")'
