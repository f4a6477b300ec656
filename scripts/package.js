#!/usr/bin/env node
// The release command (`npm run package`): builds the prebuilt binaries and packs
// deepconv-<version>.tgz with them, the compiled TypeScript, the sources a build from source needs,
// and nothing else (package.json "files" decides; tests, benchmarks and the CUDA emulator stay out).
//
//   node scripts/package.js [--arch x64,arm64] [--out <dir>] [--no-prebuild]
//
// --arch defaults to x64, plus arm64 where the cross compiler (g++-aarch64-linux-gnu) is installed.
// Prebuilds for other platforms (darwin-arm64, win32-x64), collected from the hosted CI matrix
// (.github/workflows/prebuild.yml) into prebuilds/, are packed as they are. Prints the tarball's path
// last.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

function step(cmd, argv, what) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    console.error(`package: ${what} failed`);
    process.exit(1);
  }
}

const hasCross = spawnSync('aarch64-linux-gnu-g++', ['--version'], { stdio: 'ignore' }).status === 0;
let arches = opt('--arch');
if (!arches) {
  arches = hasCross ? 'x64,arm64' : 'x64';
  if (!hasCross) console.warn('package: linux-arm64 skipped: no aarch64-linux-gnu-g++ (apt-get install g++-aarch64-linux-gnu)');
}
if (!args.includes('--no-prebuild')) step(process.execPath, [path.join(__dirname, 'prebuild.js'), '--arch', arches], 'the prebuild');
step(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], 'tsc');

const out = path.resolve(opt('--out') || root);
fs.mkdirSync(out, { recursive: true });
const pack = spawnSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
if (pack.status !== 0) {
  console.error(`package: npm pack failed\n${pack.stdout}`);
  process.exit(1);
}
const info = JSON.parse(pack.stdout)[0];
const prebuilds = info.files.map((f) => f.path).filter((p) => /^prebuilds\/.*\.node$/.test(p));
if (!prebuilds.length) {
  console.error('package: the tarball holds no prebuilt binary');
  process.exit(1);
}
const leaked = info.files.map((f) => f.path).filter((p) => /^(test|bench|native\/(emulator|test))\/|\.map$|\.test\./.test(p));
if (leaked.length) {
  console.error(`package: the tarball holds files users do not need: ${leaked.join(', ')}`);
  process.exit(1);
}
console.log(`package: ${info.files.length} files, ${(info.size / 1024).toFixed(0)} kB packed (${(info.unpackedSize / 1024).toFixed(0)} kB unpacked); prebuilt: ${prebuilds.join(', ')}`);
console.log(path.join(out, info.filename));
