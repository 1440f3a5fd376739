{
  "targets": [
    {
      "target_name": "berth-exec",
      "type": "executable",
      "sources": [
        "native/executor/main.c",
        "native/executor/plan.c",
        "native/executor/ops.c",
        "native/executor/resolve.c",
        "native/executor/selfclone.c",
        "native/common/sealed.c"
      ],
      "cflags": [
        "-O2",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-std=gnu11",
        "-D_GNU_SOURCE"
      ],
      "ldflags": [
        "-static-libgcc"
      ]
    },
    {
      "target_name": "berth-shim",
      "type": "executable",
      "sources": [
        "native/shim/shim.c"
      ],
      "cflags": [
        "-O2",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-std=gnu11",
        "-D_GNU_SOURCE"
      ],
      "ldflags": [
        "-static-libgcc"
      ],
      "libraries": [
        "-lpthread",
        "-ldl"
      ]
    },
    {
      "target_name": "berth-init",
      "type": "executable",
      "sources": [
        "native/init/init.c"
      ],
      "cflags": [
        "-O2",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-std=gnu11",
        "-D_GNU_SOURCE"
      ],
      "ldflags": [
        "-static"
      ]
    },
    {
      "target_name": "berth-cli",
      "type": "executable",
      "sources": [
        "native/cli/front.c"
      ],
      "cflags": [
        "-O2",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-std=gnu11",
        "-D_GNU_SOURCE"
      ],
      "ldflags": [
        "-static-libgcc"
      ]
    },
    {
      "target_name": "berth_fsx",
      "sources": [
        "native/fsx/fsx.c",
        "native/common/sealed.c"
      ],
      "cflags": [
        "-O2",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-std=gnu11",
        "-D_GNU_SOURCE"
      ]
    }
  ]
}
