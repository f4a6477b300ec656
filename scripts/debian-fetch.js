#!/usr/bin/env node
// Debian packages from another Debian release, unpacked into a folder: no system change (apt runs
// with a private sources list, package lists, cache and an empty dpkg status), nothing installed.
// Used by scripts/prebuild.js (Debian 11's libgomp1, bundled with the prebuilds) and by
// scripts/test-package.sh (Debian 11's glibc 2.31, to load the prebuild under an older C library).
//
//   node scripts/debian-fetch.js <suite> <debian-arch> <dir> <package>...   prints <dir>/root
// Already unpacked packages are not fetched again.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

/** A command's outcome without throwing: { ok, out, err } (also used by scripts/prebuild.js). */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) return { ok: false, out: '', err: r.error.message };
  return { ok: r.status === 0, out: r.stdout || '', err: r.stderr || '' };
}
const lastLine = (s) => s.trim().split('\n').pop();

/**
 * Downloads `packages` of Debian `suite` for `arch` (amd64, arm64) into `dir` and unpacks them into
 * `dir`/root. Returns { root, debs } or { error }.
 */
function fetchDebs(suite, arch, dir, packages) {
  const lists = path.join(dir, 'lists');
  const debs = path.join(dir, 'debs');
  const root = path.join(dir, 'root');
  for (const d of [path.join(lists, 'partial'), path.join(dir, 'cache', 'archives', 'partial'), debs]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(dir, 'sources.list'), `deb [arch=${arch}] http://deb.debian.org/debian ${suite} main\n`);
  fs.writeFileSync(path.join(dir, 'status'), '');
  const o = (k, v) => ['-o', `${k}=${v}`];
  const apt = [
    ...o('Dir::Etc::SourceList', path.join(dir, 'sources.list')),
    ...o('Dir::Etc::SourceParts', '/dev/null'),
    ...o('Dir::State::Lists', lists),
    ...o('Dir::State::status', path.join(dir, 'status')),
    ...o('Dir::Cache', path.join(dir, 'cache')),
    ...o('APT::Architecture', arch),
    ...o('APT::Architectures', arch),
    ...o('APT::Sandbox::User', 'root'),
    '-q',
  ];
  const have = (p) => fs.readdirSync(debs).find((f) => f.startsWith(`${p}_`) && f.endsWith(`_${arch}.deb`));
  const missing = packages.filter((p) => !have(p));
  if (missing.length) {
    const up = run('apt-get', [...apt, 'update']);
    if (!up.ok) return { error: `apt-get update (${suite}): ${lastLine(up.err)}` };
    const dl = run('apt-get', [...apt, 'download', ...missing.map((p) => `${p}:${arch}`)], { cwd: debs });
    if (!dl.ok) return { error: `apt-get download ${missing.join(' ')} (${suite}, ${arch}): ${lastLine(dl.err)}` };
  }
  const files = {};
  for (const p of packages) {
    const f = have(p);
    if (!f) return { error: `no ${p} package for ${arch} in ${suite}` };
    files[p] = f;
    const ex = run('dpkg-deb', ['-x', path.join(debs, f), root]);
    if (!ex.ok) return { error: `dpkg-deb -x ${f}: ${ex.err.trim()}` };
  }
  return { root, debs: files };
}

module.exports = { fetchDebs, run };

if (require.main === module) {
  const [suite, arch, dir, ...packages] = process.argv.slice(2);
  if (!suite || !arch || !dir || !packages.length) {
    console.error('usage: node scripts/debian-fetch.js <suite> <debian-arch> <dir> <package>...');
    process.exit(2);
  }
  const r = fetchDebs(suite, arch, path.resolve(dir), packages);
  if (r.error) {
    console.error(`debian-fetch: ${r.error}`);
    process.exit(1);
  }
  console.log(r.root);
}
