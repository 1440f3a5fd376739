{
  "targets": [
    {
      "target_name": "berth-exec",
      "type": "none",
      "actions": [
        {
          "action_name": "musl_static",
          "inputs": [
            "native/musl-static.sh",
            "native/executor/main.c",
            "native/executor/plan.c",
            "native/executor/ops.c",
            "native/executor/ops-fs.c",
            "native/executor/ops-console.c",
            "native/executor/ops-process.c",
            "native/executor/resolve.c",
            "native/executor/selfclone.c",
            "native/executor/report.c",
            "native/executor/supervise.c",
            "native/common/sealed.c",
            "native/common/io.c",
            "native/common/io.h",
            "native/executor/executor.h",
            "native/executor/ops.h",
            "native/executor/plan.h",
            "native/common/sealed.h"
          ],
          "outputs": [
            "<(PRODUCT_DIR)/berth-exec"
          ],
          "action": [
            "sh",
            "native/musl-static.sh",
            "<(PRODUCT_DIR)/berth-exec",
            "dynamic",
            "native/executor/main.c",
            "native/executor/plan.c",
            "native/executor/ops.c",
            "native/executor/ops-fs.c",
            "native/executor/ops-console.c",
            "native/executor/ops-process.c",
            "native/executor/resolve.c",
            "native/executor/selfclone.c",
            "native/executor/report.c",
            "native/executor/supervise.c",
            "native/common/sealed.c",
            "native/common/io.c"
          ]
        }
      ]
    },
    {
      "target_name": "berth-shim",
      "type": "none",
      "actions": [
        {
          "action_name": "musl_static",
          "inputs": [
            "native/musl-static.sh",
            "native/shim/main.c",
            "native/shim/clients.c",
            "native/shim/log-entry.c",
            "native/shim/log-file.c",
            "native/shim/shim.h",
            "native/common/io.c",
            "native/common/io.h"
          ],
          "outputs": [
            "<(PRODUCT_DIR)/berth-shim"
          ],
          "action": [
            "sh",
            "native/musl-static.sh",
            "<(PRODUCT_DIR)/berth-shim",
            "dynamic",
            "native/shim/main.c",
            "native/shim/clients.c",
            "native/shim/log-entry.c",
            "native/shim/log-file.c",
            "native/common/io.c"
          ]
        }
      ]
    },
    {
      "target_name": "berth-proxy",
      "type": "none",
      "actions": [
        {
          "action_name": "musl_static",
          "inputs": [
            "native/musl-static.sh",
            "native/proxy/proxy.c"
          ],
          "outputs": [
            "<(PRODUCT_DIR)/berth-proxy"
          ],
          "action": [
            "sh",
            "native/musl-static.sh",
            "<(PRODUCT_DIR)/berth-proxy",
            "static",
            "native/proxy/proxy.c"
          ]
        }
      ]
    },
    {
      "target_name": "berth-init",
      "type": "none",
      "actions": [
        {
          "action_name": "musl_static",
          "inputs": [
            "native/musl-static.sh",
            "native/init/init.c"
          ],
          "outputs": [
            "<(PRODUCT_DIR)/berth-init"
          ],
          "action": [
            "sh",
            "native/musl-static.sh",
            "<(PRODUCT_DIR)/berth-init",
            "static",
            "native/init/init.c"
          ]
        }
      ]
    },
    {
      "target_name": "berth-cli",
      "type": "none",
      "actions": [
        {
          "action_name": "musl_static",
          "inputs": [
            "native/musl-static.sh",
            "native/cli/front.c",
            "native/cli/handover.c",
            "native/cli/handover.h"
          ],
          "outputs": [
            "<(PRODUCT_DIR)/berth-cli"
          ],
          "action": [
            "sh",
            "native/musl-static.sh",
            "<(PRODUCT_DIR)/berth-cli",
            "dynamic",
            "native/cli/front.c",
            "native/cli/handover.c"
          ]
        }
      ]
    },
    {
      "target_name": "berth-runtime-front",
      "type": "none",
      "actions": [
        {
          "action_name": "musl_static",
          "inputs": [
            "native/musl-static.sh",
            "native/cli/runtime-front.c",
            "native/cli/handover.c",
            "native/cli/handover.h"
          ],
          "outputs": [
            "<(PRODUCT_DIR)/berth-runtime-front"
          ],
          "action": [
            "sh",
            "native/musl-static.sh",
            "<(PRODUCT_DIR)/berth-runtime-front",
            "dynamic",
            "native/cli/runtime-front.c",
            "native/cli/handover.c"
          ]
        }
      ]
    },
    {
      "target_name": "berth_fsx",
      "sources": [
        "native/fsx/fsx.c",
        "native/fsx/at.c",
        "native/fsx/proc.c",
        "native/fsx/ops.c",
        "native/fsx/gunzip.c",
        "native/net/net.c",
        "native/net/napi.c",
        "native/net/socket.c",
        "native/net/bpf.c",
        "native/common/io.c",
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
