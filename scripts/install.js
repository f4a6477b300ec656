#!/usr/bin/env node
// npm's install step for deepconv.
//   default               the prebuilt binary in prebuilds/<platform>-<arch>/ when one loads here
//                         (nothing is compiled); else a CPU-only build from source with node-gyp,
//                         after checking that the tools it needs are on PATH
//   --build-from-source   (npm_config_build_from_source, or DEEPCONV_BUILD_FROM_SOURCE=1): always
//                         build from source
//   DEEPCONV_CUDA=1       the CUDA backend, built from source with cmake-js and nvcc
//                         (scripts/cmake-build.js cuda); prebuilt binaries are CPU-only
// With --ignore-scripts none of this runs: the loader then finds the prebuilt binary by itself.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const yes = (v) => /^(1|true|on|yes)$/i.test(v || '');
const wantCuda = yes(process.env.DEEPCONV_CUDA);
const fromSource = yes(process.env.npm_config_build_from_source) || yes(process.env.DEEPCONV_BUILD_FROM_SOURCE);

// The loader's diagnosis (lib/load-error.ts), where the compiled TypeScript is present: the
// published package. A git checkout compiles it after this step, and has no prebuilds before it
// (`npm run prebuild` needs the compiled TypeScript), so there null stands for "none".
function loadErrors() {
  try {
    return require(path.join(root, 'dist', 'lib', 'load-error.js'));
  } catch {
    return null;
  }
}

/** Loads the binary the loader would pick (an earlier build, else the prebuilt one) in a child process. */
function tryPrebuilt() {
  const probe = `const p = require('node-gyp-build').path(${JSON.stringify(root)}); require(p); console.log(p);`;
  const r = spawnSync(process.execPath, ['-e', probe], { cwd: root, encoding: 'utf8' });
  if (r.status === 0) return { ok: true, file: r.stdout.trim() };
  const err = (r.stderr || '').split('\n').filter((l) => /Error|error|not found|cannot/.test(l)).slice(0, 3).join('\n') || String(r.error || 'unknown error');
  return { ok: false, why: err };
}

function onPath(cmd) {
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean);
  const exts = process.platform === 'win32' ? (process.env.PATHEXT || '.EXE;.CMD').split(';') : [''];
  return dirs.some((d) => exts.some((e) => {
    try {
      fs.accessSync(path.join(d, cmd + e), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }));
}

/** The tools node-gyp needs that are not on PATH (Windows: Visual Studio, which node-gyp finds itself). */
function missingTools() {
  if (process.platform === 'win32') return onPath('python') || onPath('python3') || process.env.npm_config_python ? [] : ['python3'];
  const missing = [];
  if (!(process.env.npm_config_python || process.env.PYTHON || onPath('python3') || onPath('python'))) missing.push('python3');
  if (!onPath('make')) missing.push('make');
  const cxx = process.env.CXX;
  if (!(cxx ? onPath(cxx.split(' ')[0]) || fs.existsSync(cxx.split(' ')[0]) : onPath('g++') || onPath('c++') || onPath('clang++'))) missing.push(cxx || 'g++');
  return missing;
}

function nodeGyp() {
  if (process.env.npm_config_node_gyp && fs.existsSync(process.env.npm_config_node_gyp)) return [process.execPath, process.env.npm_config_node_gyp];
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    return ['node-gyp'];
  }
}

function main() {
  if (wantCuda) {
    const r = spawnSync(process.execPath, [path.join(__dirname, 'cmake-build.js'), 'cuda'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) {
      console.error(
        'deepconv install: the CUDA build failed (DEEPCONV_CUDA=1). It needs nvcc on PATH (or CUDACXX), cuBLAS ' +
          '(or DEEPCONV_CUBLAS_ROOT) and cmake-js (`npm install cmake-js`); unset DEEPCONV_CUDA for the CPU-only build.',
      );
    }
    return r.status === null ? 1 : r.status;
  }
  let why = 'building from source was asked for (--build-from-source)';
  if (!fromSource) {
    const pre = tryPrebuilt();
    if (pre.ok) {
      console.log(`deepconv: using ${path.relative(root, pre.file)}`);
      return 0;
    }
    const le = loadErrors();
    why = le && le.shippedPrebuilds(root).length
      ? le.loadErrorMessage(`${process.platform}-${process.arch} prebuilt binary`, pre.why, le.loadContext(root))
      : 'deepconv: this checkout has no prebuilt binaries (`npm run prebuild` makes them)';
  }
  const missing = missingTools();
  if (missing.length) {
    console.error(
      `${why}\n\ndeepconv install: building from source instead needs ${missing.join(', ')}, not found on PATH.\n` +
        'Install them (Debian/Ubuntu: `apt-get install g++ make python3`; Fedora/RHEL: `dnf install gcc-c++ make python3`; ' +
        'macOS: `xcode-select --install` and `brew install libomp`) and run `npm rebuild deepconv`.',
    );
    return 1;
  }
  if (!fromSource) console.log(`${why}\ndeepconv: building from source instead (node-gyp)`);
  const [cmd, ...args] = nodeGyp();
  const r = spawnSync(cmd, [...args, 'rebuild'], { cwd: root, stdio: 'inherit', shell: cmd === 'node-gyp' && process.platform === 'win32' });
  if (r.error) {
    console.error(`deepconv install: could not run node-gyp: ${r.error.message}`);
    return 1;
  }
  return r.status === null ? 1 : r.status;
}

process.exit(main());
