#!/usr/bin/env node
// Builds the prebuilt addons that ship in the package (`npm run prebuild`, and `npm run package`).
//
//   node scripts/prebuild.js                 linux-x64 (this machine)
//   node scripts/prebuild.js --arch arm64    linux-arm64, cross-compiled (g++-aarch64-linux-gnu)
//   node scripts/prebuild.js --arch x64,arm64
//
// Each one is prebuilds/linux-<arch>/deepconv.node, built with DEEPCONV_PORTABLE=1 (see binding.gyp:
// static libstdc++, old glibc symbol versions, ISA chosen at run time), plus the OpenMP runtime it
// loads from beside itself, libgomp.so.1. That library comes from Debian 11's libgomp1 (GCC 10,
// built against glibc 2.31, needing only glibc 2.17 symbols), fetched through apt from the Debian
// archive into build-portable/ (scripts/debian-fetch.js); where that fails, the toolchain's own
// libgomp.so.1 is bundled
// and the report says the glibc it then needs. DEEPCONV_LIBGOMP=<file> bundles a given one.
// Every build is checked before it is kept: the libraries it needs, the highest glibc symbol
// version of both files, and that the bundled libgomp defines every OpenMP version the addon asks
// for. The report goes to stdout and prebuilds/linux-<arch>/BUILD-INFO.json; the library's licence
// and source to libgomp.NOTICE beside it.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { fetchDebs, run } = require('./debian-fetch');

const root = path.resolve(__dirname, '..');
const work = path.join(root, 'build-portable');

const ARCHES = {
  x64: { deb: 'amd64', cross: '', loader: 'ld-linux-x86-64.so.2' },
  arm64: { deb: 'arm64', cross: 'aarch64-linux-gnu-', loader: 'ld-linux-aarch64.so.1' },
};
// The libraries a prebuild may need: glibc's, libgcc_s (everywhere glibc's pthread_cancel is)
// and the bundled libgomp.
const ALLOWED_NEEDED = new Set(['libc.so.6', 'libm.so.6', 'libpthread.so.0', 'libdl.so.2', 'libgcc_s.so.1', 'libgomp.so.1']);
// The floor binding.gyp's portable build aims at (native/portable/glibc_compat.cc says why).
const GLIBC_FLOOR = '2.18';
const LIBGOMP_SUITE = 'bullseye';

function fail(msg) {
  console.error(`prebuild: ${msg}`);
  process.exit(1);
}

function versionCmp(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] || 0) - (y[i] || 0);
    if (d) return d;
  }
  return 0;
}

/** What an ELF file needs: NEEDED libraries, versioned undefined symbols, versions it defines. */
function elfInfo(file) {
  const dyn = run('readelf', ['-dW', file]);
  const syms = run('readelf', ['--dyn-syms', '-W', file]);
  const vers = run('readelf', ['-VW', file]);
  if (!dyn.ok || !syms.ok || !vers.ok) fail(`readelf failed on ${file}: ${dyn.err || syms.err || vers.err}`);
  const needed = [...dyn.out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const runpath = (dyn.out.match(/\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[([^\]]+)\]/) || [])[1] || '';
  const undef = [];
  for (const line of syms.out.split('\n')) {
    const m = line.match(/\s(?:FUNC|OBJECT|NOTYPE)\s+(?:GLOBAL|WEAK)\s+\w+\s+UND\s+(\S+)/);
    if (m) undef.push(m[1]);
  }
  const defined = new Set();
  const defSection = vers.out.split(/Version needs section/)[0];
  for (const m of defSection.matchAll(/Name: (\S+)/g)) defined.add(m[1]);
  const needs = [];
  const needSection = vers.out.split(/Version needs section/)[1] || '';
  for (const m of needSection.matchAll(/Name: ([A-Z_]+[0-9.]*)\s+Flags/g)) needs.push(m[1]);
  return { needed, runpath, undef, defined, needs };
}

function highest(needs, prefix) {
  const vs = needs.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length));
  return vs.sort(versionCmp).pop() || null;
}

/** Debian 11's libgomp.so.1 for `debArch` (scripts/debian-fetch.js). */
function fetchLibgomp(debArch) {
  const r = fetchDebs(LIBGOMP_SUITE, debArch, path.join(work, `debian-${LIBGOMP_SUITE}-${debArch}`), ['libgomp1']);
  if (r.error) return { error: r.error };
  const lib = run('find', [r.root, '-name', 'libgomp.so.1*', '-type', 'f']).out.trim().split('\n')[0];
  if (!lib) return { error: `${r.debs.libgomp1} holds no libgomp.so.1` };
  return { lib, source: `Debian ${LIBGOMP_SUITE} ${r.debs.libgomp1}` };
}

/** What the bundled libgomp is, its licence and where its source is. */
function libgompNotice(gomp) {
  const m = /libgomp1_([^_]+)_/.exec(gomp.source);
  const src = m
    ? `Its corresponding source is Debian's source package for GCC ${m[1].split('-')[0]} (gcc-${m[1].split('.')[0]}, version ${m[1]}), at ` +
      `https://deb.debian.org/debian/pool/main/g/gcc-${m[1].split('.')[0]}/ or from the GNU project (https://gcc.gnu.org/).`
    : 'Its corresponding source is the GCC release of the toolchain that built this package (https://gcc.gnu.org/).';
  return (
    'libgomp.so.1 is the GNU Offloading and Multi Processing Runtime Library (OpenMP), part of GCC.\n' +
    'Copyright (C) Free Software Foundation, Inc. It is free software, licensed under the GNU General\n' +
    'Public License version 3 or later with the GCC Runtime Library Exception, version 3.1\n' +
    '(https://www.gnu.org/licenses/gpl-3.0.html, https://www.gnu.org/licenses/gcc-exception-3.1.html).\n' +
    `This copy: ${gomp.source}.\n${src}\n`
  );
}

function toolchainLibgomp(cross) {
  const r = run(`${cross}g++`, ['-print-file-name=libgomp.so.1']);
  const lib = r.ok ? fs.realpathSync(r.out.trim()) : '';
  if (!lib || !fs.existsSync(lib)) fail(`no libgomp.so.1 from ${cross}g++ -print-file-name`);
  return { lib, source: `the toolchain's ${lib}` };
}

function build(arch) {
  const a = ARCHES[arch];
  if (!a) fail(`unknown --arch ${arch}: expected ${Object.keys(ARCHES).join(', ')}`);
  if (os.platform() !== 'linux') fail('the portable prebuild is a Linux build (see .github/workflows/prebuild.yml for the others)');
  const cxx = `${a.cross}g++`;
  if (!run(cxx, ['--version']).ok) {
    fail(`${cxx} not found${a.cross ? ' (apt-get install g++-aarch64-linux-gnu)' : ''}`);
  }
  const env = { JOBS: 'max', ...process.env, DEEPCONV_PORTABLE: '1' };  // node-gyp: make -j<cores>
  // N-API headers are the same for every Node version: build against this Node's own, so that
  // node-gyp downloads nothing (npm run passes npm's nodedir setting; a direct call may not).
  const prefix = path.resolve(process.execPath, '..', '..');
  if (!env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;
  if (a.cross) Object.assign(env, { CC: `${a.cross}gcc`, CXX: cxx, LINK: cxx, AR: `${a.cross}ar`, PREBUILD_STRIP_BIN: `${a.cross}strip` });
  console.log(`== prebuild linux-${arch} (${cxx})`);
  // node-gyp rebuilds in a copy of the sources, so that the checkout's own build/ (a source build,
  // or the other architecture's) stays as it is.
  const tree = path.join(work, `tree-${arch}`);
  fs.rmSync(tree, { recursive: true, force: true });
  fs.mkdirSync(path.join(tree, 'scripts'), { recursive: true });
  for (const f of ['binding.gyp', 'package.json', 'native', 'scripts/glibc-wraps.js']) {
    fs.cpSync(path.join(root, f), path.join(tree, f), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(tree, 'node_modules'), 'dir');
  const pb = spawnSync(
    process.execPath,
    [require.resolve('prebuildify/bin.js'), '--napi', '--strip', '--tag-libc', `--arch=${arch}`, `--out=${root}`],
    { cwd: tree, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  if (pb.status !== 0) {
    process.stderr.write((pb.stdout || '') + (pb.stderr || ''));
    fail(`prebuildify failed for linux-${arch}`);
  }
  const dir = path.join(root, 'prebuilds', `linux-${arch}`);
  // --tag-libc names it deepconv.glibc.node, so that a musl system (Alpine) is not offered it.
  const addon = path.join(dir, 'deepconv.glibc.node');
  if (!fs.existsSync(addon)) fail(`prebuildify wrote no ${addon}`);
  for (const f of fs.readdirSync(dir)) if (f.endsWith('.node') && f !== path.basename(addon)) fs.rmSync(path.join(dir, f));

  let gomp;
  if (process.env.DEEPCONV_LIBGOMP) {
    gomp = { lib: path.resolve(process.env.DEEPCONV_LIBGOMP), source: `DEEPCONV_LIBGOMP=${process.env.DEEPCONV_LIBGOMP}` };
  } else {
    gomp = fetchLibgomp(a.deb);
    if (gomp.error) {
      console.warn(`prebuild: could not fetch Debian ${LIBGOMP_SUITE}'s libgomp1 (${gomp.error}); bundling the toolchain's`);
      gomp = toolchainLibgomp(a.cross);
    }
  }
  fs.copyFileSync(gomp.lib, path.join(dir, 'libgomp.so.1'));
  fs.writeFileSync(path.join(dir, 'libgomp.NOTICE'), libgompNotice(gomp));

  // The checks: what users' machines must provide.
  const ai = elfInfo(addon);
  const gi = elfInfo(path.join(dir, 'libgomp.so.1'));
  const extra = ai.needed.filter((n) => !ALLOWED_NEEDED.has(n) && n !== a.loader);
  if (extra.length) fail(`linux-${arch}: the addon needs ${extra.join(', ')}, which a prebuild must not (link it statically)`);
  if (ai.runpath !== '$ORIGIN') fail(`linux-${arch}: the addon's RUNPATH is "${ai.runpath}", expected $ORIGIN (the bundled libgomp)`);
  const wraps = ai.undef.filter((s) => s.startsWith('__wrap_'));
  if (wraps.length) fail(`linux-${arch}: unresolved glibc wrappers ${wraps.join(', ')} (native/portable/glibc_compat.cc not built?)`);
  const missingOmp = [...new Set(ai.needs.filter((n) => /^(GOMP|OMP)_/.test(n) && !gi.defined.has(n)))];
  if (missingOmp.length) fail(`linux-${arch}: the bundled libgomp (${gomp.source}) lacks ${missingOmp.join(', ')}`);
  const glibcAddon = highest(ai.needs, 'GLIBC_');
  const glibcGomp = highest(gi.needs, 'GLIBC_');
  const glibc = [glibcAddon, glibcGomp].filter(Boolean).sort(versionCmp).pop();
  if (versionCmp(glibcAddon, GLIBC_FLOOR) > 0) {
    const over = run('readelf', ['--dyn-syms', '-W', addon]).out.split('\n').filter((l) => /GLIBC_(\d+\.\d+)/.test(l) && versionCmp(l.match(/GLIBC_([\d.]+)/)[1], GLIBC_FLOOR) > 0);
    fail(`linux-${arch}: the addon needs GLIBC_${glibcAddon}, above the ${GLIBC_FLOOR} floor; add these to native/portable/glibc_compat.cc:\n${over.join('\n')}`);
  }
  if (a.cross === '' && !process.env.DEEPCONV_SKIP_LOAD_CHECK) {
    // It loads and runs a kernel here (the cross build is tested under qemu by scripts/test-package.sh).
    const probe = run(process.execPath, ['-e', `const b=require(${JSON.stringify(addon)}); const c=new Float32Array(1); b.gemm(false,false,1,1,1,1,0,false,c,new Float32Array([2]),new Float32Array([3])); if (c[0]!==6) throw new Error('gemm gave '+c[0]); console.log(b.isaInfo().available.join(','))`]);
    if (!probe.ok) fail(`linux-${arch}: the prebuild does not load here:\n${probe.err}`);
  }
  const info = {
    platform: 'linux',
    arch,
    compiler: run(cxx, ['--version']).out.split('\n')[0],
    needed: ai.needed,
    glibc,
    glibcAddon,
    glibcLibgomp: glibcGomp,
    glibcxx: highest(ai.needs, 'GLIBCXX_'),
    libgomp: gomp.source,
    bytes: { 'deepconv.node': fs.statSync(addon).size, 'libgomp.so.1': fs.statSync(path.join(dir, 'libgomp.so.1')).size },
  };
  fs.writeFileSync(path.join(dir, 'BUILD-INFO.json'), JSON.stringify(info, null, 2) + '\n');
  console.log(
    `linux-${arch}: needs ${ai.needed.join(' ')}; highest glibc symbol GLIBC_${glibc} ` +
      `(addon ${glibcAddon}, libgomp ${glibcGomp}); libstdc++ linked in (no GLIBCXX); libgomp from ${gomp.source}`,
  );
  return info;
}

function main() {
  const i = process.argv.indexOf('--arch');
  const arches = (i > 0 ? process.argv[i + 1] || '' : 'x64').split(',').filter(Boolean);
  if (!arches.length) fail('--arch needs a value: x64, arm64 or x64,arm64');
  for (const arch of arches) build(arch);
}

main();
