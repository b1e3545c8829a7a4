#!/usr/bin/env node
// Runs every test tier that fits in CI, in one node:test run (files one at a time: the system
// tests start whole stacks and the machine has two cores).
//   unit + integration:  packages/*/src/**/*.test.ts, services/*/src/**/*.test.ts
//   system + differential: test/src/**/*.test.ts (real nats-server, ctr, containerd; needs root)
//   benchmark harness smoke test: bench/src/harness.test.ts (not timed)
// Usage: node scripts/run-tests.mjs [substring filters of test file paths]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));

function findTests(dir, out = []) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e === 'node_modules' || e === 'dist') continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (e.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const roots = ['packages', 'services', 'shim', 'test/src', 'bench/src'];
const filters = process.argv.slice(2);
const files = roots
  .flatMap((r) => findTests(join(repo, r)))
  .map((f) => relative(repo, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort((a, b) => (a.startsWith('test/') === b.startsWith('test/') ? a.localeCompare(b) : a.startsWith('test/') ? 1 : -1));

if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}
if (process.getuid && process.getuid() !== 0) console.error('run-tests: warning: system tests need root');
console.error(`run-tests: ${files.length} files`);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=600000', ...files], { cwd: repo, stdio: 'inherit' });
process.exit(r.status ?? 1);
