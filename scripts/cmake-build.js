#!/usr/bin/env node
// Builds the addon with CMake (cmake-js) in one of two flavours:
//
//   node scripts/cmake-build.js cuda        the CUDA backend (needs nvcc and cuBLAS) into build/,
//                                           where the loader looks first: `npm run build:cuda`,
//                                           and `DEEPCONV_CUDA=1 npm install` (scripts/install.js)
//   node scripts/cmake-build.js emulator    the host CUDA emulator (native/emulator) into
//                                           build-emulator/, for tests of the device path on
//                                           machines without a GPU; never a release build
//   [--force]                               build even when the output looks up to date
//
// The emulator build is skipped when build-emulator/Release/deepconv.node is newer than every file
// under native/ and CMakeLists.txt, so repeated test runs stay fast; the CUDA build always runs
// (from a clean folder: build/ may hold node-gyp's Makefiles). Prints one line (built, or up to
// date); on failure prints cmake-js's output and exits non-zero.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const FLAVOURS = {
  cuda: { outDir: 'build', define: 'DEEPCONV_CUDA=ON', command: 'rebuild', always: true },
  emulator: { outDir: 'build-emulator', define: 'DEEPCONV_CUDA_EMULATOR=ON', command: 'compile', always: false },
};
const flavourName = process.argv[2];
const flavour = FLAVOURS[flavourName];
if (!flavour) {
  console.error(`usage: node scripts/cmake-build.js cuda|emulator [--force] (got ${JSON.stringify(flavourName)})`);
  process.exit(2);
}
const { outDir } = flavour;
const addon = path.join(root, outDir, 'Release', 'deepconv.node');
const jobs = Math.max(1, require('os').availableParallelism?.() ?? require('os').cpus().length);
const tag = `cmake-build ${flavourName}`;

// Newest modification time (ms) of the build's inputs: every file under native/, CMakeLists.txt.
function newestInput() {
  let newest = fs.statSync(path.join(root, 'CMakeLists.txt')).mtimeMs;
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile()) newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  walk(path.join(root, 'native'));
  return newest;
}

function upToDate() {
  let built;
  try {
    built = fs.statSync(addon).mtimeMs;
  } catch {
    return false;
  }
  return built >= newestInput();
}

// The running Node's own headers (<prefix>/include/node, as Linux and macOS installs ship them), when
// they are this very version: cmake-js then needs no download (offline CI). On Windows it also needs
// node.lib, which installs lack, so it downloads as usual. An npm_config_nodedir already set wins.
function localNodeDir() {
  if (process.platform === 'win32' || process.env.npm_config_nodedir) return null;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  try {
    const header = fs.readFileSync(path.join(prefix, 'include', 'node', 'node_version.h'), 'utf8');
    const part = (name) => (header.match(new RegExp(`#define NODE_${name}_VERSION (\\d+)`)) || [])[1];
    const version = `v${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
    return version === process.version && fs.existsSync(path.join(prefix, 'include', 'node', 'node.h')) ? prefix : null;
  } catch {
    return null;
  }
}

function main() {
  const rel = path.relative(root, addon);
  if (!flavour.always && !process.argv.includes('--force') && upToDate()) {
    console.log(`${tag}: ${rel} is up to date`);
    return 0;
  }
  // cmake-js's own entry point, run by this Node: no shell, no .cmd shim on Windows.
  // Resolved as Node resolves packages: installed as a dependency, cmake-js is usually hoisted
  // next to deepconv rather than inside it.
  let cmakeJs;
  try {
    cmakeJs = path.join(path.dirname(require.resolve('cmake-js/package.json', { paths: [root] })), 'bin', 'cmake-js');
  } catch {
    cmakeJs = null;
  }
  if (!cmakeJs || !fs.existsSync(cmakeJs)) {
    console.error(
      `${tag}: cmake-js not found from ${root}. It is a development dependency (CUDA and emulator builds only): ` +
        'in a clone run `npm install`; where deepconv is installed as a dependency run `npm install cmake-js@8` in your app first.',
    );
    return 1;
  }
  const args = [cmakeJs, flavour.command, '--out', outDir, `--CD${flavour.define}`, '--parallel', String(jobs)];
  if (flavourName === 'cuda' && process.env.DEEPCONV_CUBLAS_ROOT) args.push(`--CDDEEPCONV_CUBLAS_ROOT=${process.env.DEEPCONV_CUBLAS_ROOT}`);
  const started = Date.now();
  const env = { ...process.env };
  const nodeDir = localNodeDir();
  if (nodeDir) env.npm_config_nodedir = nodeDir;
  console.log(`${tag}: building ${rel} (${flavour.define}) ...`);
  const r = spawnSync(process.execPath, args, { cwd: root, env, encoding: 'utf8', maxBuffer: 256 << 20 });
  const output = `${r.stdout || ''}${r.stderr || ''}`;
  if (r.error || r.status !== 0 || !fs.existsSync(addon)) {
    process.stderr.write(output);
    const why = r.error
      ? r.error.message
      : r.status !== 0
        ? `cmake-js exited with ${r.status === null ? `signal ${r.signal}` : `code ${r.status}`}`
        : `cmake-js succeeded but ${rel} is missing`;
    const command = ['node', path.relative(root, cmakeJs), ...args.slice(1)].join(' ');
    console.error(`${tag}: build failed (${why}): ${command}`);
    return 1;
  }
  // The build can leave the addon's mtime as it was (nothing relinked) while an input is newer:
  // touch it so the next run sees it up to date.
  const now = new Date();
  fs.utimesSync(addon, now, now);
  console.log(`${tag}: built ${rel} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

process.exitCode = main();
