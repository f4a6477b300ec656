#!/usr/bin/env node
// npm's install step for deepconv.
//   default               node-gyp-build: a prebuilt binary from prebuilds/ when one matches,
//                         else a CPU-only build from source with node-gyp
//   DEEPCONV_CUDA=1       the CUDA backend, built from source with cmake-js and nvcc
//                         (scripts/cmake-build.js cuda); prebuilt binaries are CPU-only
'use strict';

const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const wantCuda = /^(1|true|on|yes)$/i.test(process.env.DEEPCONV_CUDA || '');

const script = wantCuda
  ? [path.join(__dirname, 'cmake-build.js'), 'cuda']
  : [require.resolve('node-gyp-build/bin.js')];
const r = spawnSync(process.execPath, script, { cwd: root, stdio: 'inherit' });
if (r.error) {
  console.error(`deepconv install: ${r.error.message}`);
  process.exit(1);
}
if (wantCuda && r.status !== 0) {
  console.error(
    'deepconv install: the CUDA build failed (DEEPCONV_CUDA=1). It needs nvcc on PATH (or CUDACXX) and cuBLAS ' +
      '(or DEEPCONV_CUBLAS_ROOT); unset DEEPCONV_CUDA for the CPU-only build.',
  );
}
process.exit(r.status === null ? 1 : r.status);
