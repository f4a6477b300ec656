// Why the native addon did not load, in words a user can act on: what is missing (a library, a
// glibc version, a build for this platform or CPU) and the command that fixes it. Used by the
// loader (lib/binding.ts) and by npm's install step (scripts/install.js); explainLoadError is
// pure, so it is tested on the messages the dynamic loader and node-gyp-build really give.
import * as fs from 'fs';
import * as path from 'path';

/** The command that builds the addon from source, and what that needs. */
export const BUILD_FROM_SOURCE =
  'build it from source: `DEEPCONV_BUILD_FROM_SOURCE=1 npm rebuild deepconv` (needs a C++17 compiler with OpenMP, make and python3; ' +
  'on Debian/Ubuntu `apt-get install g++ make python3`, on Fedora/RHEL `dnf install gcc-c++ make python3`)';

/** How to install a shared library the addon needs, by its file name. */
const LIBRARY_FIX: Array<[RegExp, string]> = [
  [/^libgomp\.so/, 'the GCC OpenMP runtime: `apt-get install libgomp1` (Debian/Ubuntu), `dnf install libgomp` (Fedora/RHEL), `apk add libgomp` (Alpine); the prebuilt binary bundles its own, so reinstalling without --build-from-source also works'],
  [/^libomp\.(so|dylib)|libomp/, 'the LLVM OpenMP runtime: `brew install libomp` (macOS) or `apt-get install libomp5`'],
  [/^libstdc\+\+\.so/, 'the C++ runtime: `apt-get install libstdc++6` (Debian/Ubuntu) or `dnf install libstdc++` (Fedora/RHEL)'],
  [/^libgcc_s\.so/, 'the GCC support library: `apt-get install libgcc-s1` (Debian/Ubuntu) or `dnf install libgcc` (Fedora/RHEL)'],
  [/^lib(cudart|cublas|cublasLt)\.so/, 'the CUDA runtime and cuBLAS of the toolkit this build used (put their lib64 folder on LD_LIBRARY_PATH), or a CPU-only build: `npm rebuild deepconv` without DEEPCONV_CUDA'],
];

export interface LoadFailure {
  /** What is missing or wrong, in one line. */
  problem: string;
  /** What to run or change. */
  fixes: string[];
}

export interface LoadContext {
  platform: string;
  arch: string;
  /** The running C library's version (glibc), where known. */
  glibc?: string | null;
  /** The platform-arch folders under prebuilds/ this package ships. */
  shipped?: string[];
}

/** The platform-arch folders under `root`/prebuilds/ that hold a binary. */
export function shippedPrebuilds(root: string): string[] {
  const dir = path.join(root, 'prebuilds');
  try {
    return fs.readdirSync(dir).filter((d) => fs.readdirSync(path.join(dir, d)).some((f) => f.endsWith('.node')));
  } catch {
    return [];
  }
}

/** This process's platform, architecture and glibc version, and the prebuilds the package at `root` ships. */
export function loadContext(root: string): LoadContext {
  const shipped = shippedPrebuilds(root);
  let glibc: string | null = null;
  try {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
    glibc = header?.glibcVersionRuntime ?? null;
  } catch {
    glibc = null;
  }
  return { platform: process.platform, arch: process.arch, glibc, shipped };
}

/** Reads a loader or dlopen message and says what is missing and how to get it. */
export function explainLoadError(message: string, ctx: LoadContext): LoadFailure {
  const here = `${ctx.platform}-${ctx.arch}`;
  const shipped = ctx.shipped && ctx.shipped.length ? ctx.shipped.join(', ') : 'none';

  if (/No native build was found/.test(message)) {
    const libc = /libc=(\w+)/.exec(message)?.[1];
    return {
      problem: `no prebuilt binary for ${here}${libc ? ` (${libc})` : ''} and no build from source (this package ships prebuilt binaries for: ${shipped})`,
      fixes: [BUILD_FROM_SOURCE],
    };
  }
  const version = /version [`'"]?((GLIBC|GLIBCXX|CXXABI|GOMP|OMP)_[\d.]+)[`'"]? not found/.exec(message);
  if (version) {
    const [, wanted, lib] = version;
    const what =
      lib === 'GLIBC'
        ? `the C library (glibc ${ctx.glibc ?? 'version unknown'} here) is older than the binary needs (${wanted})`
        : lib === 'GOMP' || lib === 'OMP'
          ? `the OpenMP runtime (libgomp) found is older than the binary needs (${wanted})`
          : `the C++ runtime (libstdc++) found is older than the binary needs (${wanted})`;
    return { problem: what, fixes: [BUILD_FROM_SOURCE] };
  }
  const missing = /([\w.+-]+\.(?:so[\d.]*|dylib|dll)): cannot open shared object file/.exec(message);
  if (missing && !/\.node$/.test(missing[1])) {
    const lib = missing[1];
    const fix = LIBRARY_FIX.find(([re]) => re.test(lib))?.[1];
    return { problem: `a shared library the addon needs is missing: ${lib}`, fixes: [fix ? `install ${fix}` : `install the package that provides ${lib}`, BUILD_FROM_SOURCE] };
  }
  const dylib = /Library not loaded: .*?(lib\w+\.dylib)/.exec(message);
  if (dylib) {
    const lib = dylib[1];
    const fix = LIBRARY_FIX.find(([re]) => re.test(lib))?.[1];
    return { problem: `a shared library the addon needs is missing: ${lib}`, fixes: [fix ? `install ${fix}` : `install the package that provides ${lib}`] };
  }
  if (/wrong ELF class|invalid ELF header|Exec format error|mach-o file, but is an incompatible architecture|not a valid Win32 application/.test(message)) {
    return {
      problem: `the addon file was built for another platform or CPU architecture than this ${here} Node (or is damaged)`,
      fixes: ['reinstall so that the matching prebuilt binary is chosen: `npm rebuild deepconv`', BUILD_FROM_SOURCE],
    };
  }
  const symbol = /undefined symbol: (\S+)/.exec(message);
  if (symbol) {
    return {
      problem: `the addon refers to a symbol this Node or system lacks (${symbol[1]}): it was built elsewhere or against other libraries`,
      fixes: [BUILD_FROM_SOURCE],
    };
  }
  const absent = /Cannot find module '([^']+\.node)'/.exec(message);
  if (absent) {
    return {
      problem: `the addon file ${absent[1]} does not exist`,
      fixes: ['point DEEPCONV_ADDON at a built addon, or unset it', 'reinstall: `npm rebuild deepconv`', BUILD_FROM_SOURCE],
    };
  }
  if (/cannot open shared object file|Cannot find module|ENOENT/.test(message)) {
    return { problem: 'the addon file is missing (the install did not build it, or it was removed)', fixes: [BUILD_FROM_SOURCE] };
  }
  return { problem: 'the addon failed to load', fixes: [BUILD_FROM_SOURCE] };
}

/** The loader's whole message: where it looked, what the system said, the diagnosis, the fixes. */
export function loadErrorMessage(where: string, message: string, ctx: LoadContext): string {
  const f = explainLoadError(message, ctx);
  return (
    `deepconv: could not load the native addon (${where}): ${f.problem}.\n` +
    `  ${message.trim().split('\n').join('\n  ')}\n` +
    'To fix it:\n' +
    f.fixes.map((x) => `  - ${x}`).join('\n')
  );
}
