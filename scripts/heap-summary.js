/**
 * Sums up a V8 heap snapshot (from v8.writeHeapSnapshot, or PILLION_MEM_PROBE_SNAPSHOTS with
 * scripts/memory-parts.js): bytes by node type, and the largest groups by type and name.
 *
 *   node scripts/heap-summary.js FILE.heapsnapshot [TOP]
 */
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node scripts/heap-summary.js FILE.heapsnapshot [TOP]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const snap = JSON.parse(readFileSync(file, 'utf8'));
const meta = snap.snapshot.meta;
const fields = meta.node_fields;
const types = meta.node_types[0];
const width = fields.length;
const iType = fields.indexOf('type');
const iName = fields.indexOf('name');
const iSize = fields.indexOf('self_size');
const byType = new Map();
const byName = new Map();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + iType]];
  const size = snap.nodes[i + iSize];
  total += size;
  byType.set(type, (byType.get(type) ?? 0) + size);
  let name = snap.strings[snap.nodes[i + iName]];
  if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = name.length > 40 ? '(strings over 40 chars)' : '(short strings)';
  else if (type === 'code') name = name.startsWith('(') ? name : '(code of functions)';
  else if (name.length > 60) name = name.slice(0, 57) + '...';
  const key = `${type}: ${name}`;
  byName.set(key, (byName.get(key) ?? 0) + size);
}
const mb = (n) => (n / 1048576).toFixed(2).padStart(7);
console.log(`${mb(total)} MB in ${snap.nodes.length / width} nodes (${file})`);
console.log('\nby type:');
for (const [k, v] of [...byType].sort((a, b) => b[1] - a[1])) console.log(`${mb(v)}  ${k}`);
console.log(`\nlargest ${top} by type and name:`);
for (const [k, v] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${mb(v)}  ${k}`);
