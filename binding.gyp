{
  # DEEPCONV_PORTABLE=1 (set by `npm run prebuild`, scripts/prebuild.js): the binary shipped in
  # prebuilds/. libstdc++ is linked statically with its symbols kept local (--exclude-libs), the
  # OpenMP runtime (libgomp.so.1) is bundled beside the addon, and native/portable/glibc_compat.cc
  # binds the glibc symbols that newer glibc versions re-versioned to their oldest versions, so
  # the file needs libc, libm, libgcc_s and the bundled libgomp, from glibc 2.18 on. libgomp
  # cannot be linked in: its archive uses local-exec TLS, which a shared object cannot hold.
  # A plain source build links the system's shared libraries as usual.
  "variables": {
    "deepconv_portable%": "<!(node -p \"/^(1|true|on|yes)$/i.test(process.env.DEEPCONV_PORTABLE || '') ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "deepconv",
      "sources": [
        "<!@(node -p \"const s=require('./native/sources.json'); s.addon.concat(s.cpu).join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/include",
        "native"
      ],
      "defines": [
        "<!@(node -p \"require('./native/sources.json').defines.join(' ')\")"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fno-math-errno", "-fno-trapping-math"],
      "conditions": [
        ["OS=='linux' and deepconv_portable==1", {
          "sources": ["<!@(node -p \"require('./native/sources.json').portable.join(' ')\")"],
          "ldflags": ["-fopenmp", "-static-libstdc++", "-Wl,--exclude-libs,ALL",
                      "<!@(node scripts/glibc-wraps.js)"],
          # libgomp.so.1 lies beside the addon in prebuilds/ ($ORIGIN); libpthread.so.0 is named
          # so that the old pthread versions resolve on glibc < 2.34 (a stub on newer ones).
          "libraries": ["-Wl,-rpath,'$$ORIGIN'", "-Wl,--no-as-needed", "-l:libpthread.so.0"]
        }],
        ["OS=='linux' and deepconv_portable==0", {
          "ldflags": ["-fopenmp"]
        }],
        ["OS=='mac'", {
          # Apple's clang has no OpenMP runtime of its own: libomp from Homebrew
          # (`brew install libomp`), found under `brew --prefix libomp` or LIBOMP_PREFIX.
          "variables": {
            "libomp%": "<!(node -p \"process.env.LIBOMP_PREFIX || require('child_process').execSync('brew --prefix libomp 2>/dev/null || echo /opt/homebrew/opt/libomp').toString().trim()\")"
          },
          "include_dirs": ["<(libomp)/include"],
          "libraries": ["-L<(libomp)/lib", "-lomp", "-Wl,-rpath,<(libomp)/lib"],
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "GCC_ENABLE_CPP_RTTI": "YES",
            "CLANG_CXX_LIBRARY": "libc++",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "11.0",
            "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3", "-Xpreprocessor", "-fopenmp", "-fno-math-errno"]
          }
        }],
        ["OS=='win'", {
          # MSVC: /openmp:llvm is the OpenMP 3.1+ runtime (simd, unsigned loop variables, the
          # if-clauses the kernels use); the classic /openmp is OpenMP 2.0.
          "msvs_settings": {
            "VCCLCompilerTool": {
              "ExceptionHandling": 1,
              "RuntimeTypeInfo": "true",
              "AdditionalOptions": ["/std:c++17", "/O2", "/openmp:llvm", "/fp:fast", "/Zc:__cplusplus"]
            }
          },
          "defines": ["NOMINMAX", "_USE_MATH_DEFINES"]
        }]
      ]
    }
  ]
}
