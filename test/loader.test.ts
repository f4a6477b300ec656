// The loader's and the install step's diagnoses: what is missing and the command that fixes it.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { explainLoadError, loadErrorMessage } from '../lib/load-error';
import { addonPath } from '../lib';
import { tempDir, removeTempDirs } from './fixtures';

afterAll(removeTempDirs);

const ctx = { platform: 'linux', arch: 'x64', glibc: '2.17', shipped: ['linux-x64', 'linux-arm64'] };
const root = path.resolve(__dirname, '..');

describe('explainLoadError on the messages the dynamic loader and node-gyp-build give', () => {
  test('a missing OpenMP runtime names the library and the package that provides it', () => {
    const f = explainLoadError('libgomp.so.1: cannot open shared object file: No such file or directory', ctx);
    expect(f.problem).toBe('a shared library the addon needs is missing: libgomp.so.1');
    expect(f.fixes[0]).toMatch(/apt-get install libgomp1/);
    expect(f.fixes[0]).toMatch(/dnf install libgomp/);
  });
  test('a missing CUDA runtime says how to get it or build CPU-only', () => {
    const f = explainLoadError('libcudart.so.12: cannot open shared object file: No such file or directory', ctx);
    expect(f.problem).toMatch(/libcudart\.so\.12/);
    expect(f.fixes[0]).toMatch(/LD_LIBRARY_PATH|without DEEPCONV_CUDA/);
  });
  test('too old a glibc names the version wanted and the one running', () => {
    const msg = "/x/prebuilds/linux-x64/deepconv.glibc.node: /lib64/libc.so.6: version `GLIBC_2.18' not found (required by /x/deepconv.glibc.node)";
    const f = explainLoadError(msg, ctx);
    expect(f.problem).toBe('the C library (glibc 2.17 here) is older than the binary needs (GLIBC_2.18)');
    expect(f.fixes[0]).toMatch(/DEEPCONV_BUILD_FROM_SOURCE=1 npm rebuild deepconv/);
  });
  test('too old a libstdc++ (a build from source moved elsewhere)', () => {
    const f = explainLoadError("version `GLIBCXX_3.4.30' not found (required by build/Release/deepconv.node)", ctx);
    expect(f.problem).toMatch(/C\+\+ runtime.*GLIBCXX_3\.4\.30/);
  });
  test('no prebuild for the platform lists those the package ships', () => {
    const msg = 'No native build was found for platform=linux arch=riscv64 runtime=node abi=115 uv=1 libc=glibc node=20.20.2\n    loaded from: /x\n';
    const f = explainLoadError(msg, { ...ctx, arch: 'riscv64' });
    expect(f.problem).toBe('no prebuilt binary for linux-riscv64 (glibc) and no build from source (this package ships prebuilt binaries for: linux-x64, linux-arm64)');
    expect(f.fixes).toEqual([expect.stringMatching(/DEEPCONV_BUILD_FROM_SOURCE=1 npm rebuild deepconv.*g\+\+ make python3/)]);
  });
  test('musl (Alpine) is told that no glibc prebuild fits', () => {
    const f = explainLoadError('No native build was found for platform=linux arch=x64 runtime=node abi=115 uv=1 libc=musl node=20.20.2', ctx);
    expect(f.problem).toMatch(/^no prebuilt binary for linux-x64 \(musl\)/);
  });
  test('a binary for another CPU architecture', () => {
    const f = explainLoadError('/x/deepconv.node: wrong ELF class: ELFCLASS32', ctx);
    expect(f.problem).toMatch(/another platform or CPU architecture than this linux-x64 Node/);
    expect(f.fixes[0]).toMatch(/npm rebuild deepconv/);
  });
  test('an undefined symbol names it', () => {
    expect(explainLoadError('/x/deepconv.node: undefined symbol: napi_foo', ctx).problem).toMatch(/napi_foo/);
  });
  test('the whole message keeps what the system said', () => {
    const m = loadErrorMessage('/pkg', 'libgomp.so.1: cannot open shared object file', ctx);
    expect(m).toMatch(/^deepconv: could not load the native addon \(\/pkg\): a shared library the addon needs is missing: libgomp\.so\.1\.\n {2}libgomp\.so\.1: cannot open/);
    expect(m).toMatch(/To fix it:\n {2}- install the GCC OpenMP runtime/);
  });
});

describe('the real loader', () => {
  test('a damaged addon file gives the diagnosis, not a crash', () => {
    const dir = tempDir();
    const bad = path.join(dir, 'bad.node');
    fs.writeFileSync(bad, Buffer.alloc(4096, 0x41));
    const r = spawnSync(process.execPath, ['-e', "require('./dist/lib')"], { cwd: root, encoding: 'utf8', env: { ...process.env, DEEPCONV_ADDON: bad } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/could not load the native addon \(DEEPCONV_ADDON=.*bad\.node\): the addon file was built for another platform or CPU architecture/);
    expect(r.stderr).toMatch(/invalid ELF header/);
  });
  test('the addon in use is the one node-gyp-build picks (the prebuilt one under PREBUILDS_ONLY=1)', () => {
    expect(fs.existsSync(addonPath())).toBe(true);
    if (process.env.PREBUILDS_ONLY) expect(addonPath()).toMatch(/[\\/]prebuilds[\\/]linux-[^\\/]+[\\/]deepconv\.glibc\.node$/);
    else if (process.env.DEEPCONV_ADDON) expect(addonPath()).toBe(path.resolve(process.env.DEEPCONV_ADDON));
    else expect(addonPath()).toMatch(/deepconv(\.glibc)?\.node$/);
  });
});

describe('the install step', () => {
  // A package folder with no prebuilds and no build, and a PATH that holds only node.
  function bareInstall(extraEnv: Record<string, string> = {}) {
    const pkg = tempDir();
    fs.mkdirSync(path.join(pkg, 'scripts'));
    fs.copyFileSync(path.join(root, 'scripts', 'install.js'), path.join(pkg, 'scripts', 'install.js'));
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'deepconv', version: '0.0.0' }));
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(pkg, 'node_modules'), 'dir');
    const bin = path.join(pkg, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    const env: Record<string, string> = { PATH: bin, HOME: pkg, ...extraEnv };
    return spawnSync(process.execPath, [path.join(pkg, 'scripts', 'install.js')], { cwd: pkg, encoding: 'utf8', env });
  }
  test('without a prebuild and without build tools it names each missing tool and how to install them', () => {
    const r = bareInstall();
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/building from source instead needs python3, make, g\+\+, not found on PATH/);
    expect(r.stderr).toMatch(/apt-get install g\+\+ make python3/);
  });
  test('--build-from-source is honoured (and still checks the tools)', () => {
    const r = bareInstall({ npm_config_build_from_source: 'true' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^building from source was asked for \(--build-from-source\)/);
  });
});
