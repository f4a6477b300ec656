{
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
      "ldflags": ["-fopenmp"],
      "conditions": [
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LIBRARY": "libc++",
            "MACOSX_DEPLOYMENT_TARGET": "10.15",
            "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3", "-Xpreprocessor", "-fopenmp"]
          }
        }]
      ]
    }
  ]
}
