/* netPlan(text): the network executor as a call of berthd's addon. */
#include "net.h"
#include <node_api.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static napi_value js_net_plan(napi_env env, napi_callback_info info) {
  size_t argc = 1, n = 0;
  napi_value arg;
  if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_string_utf8(env, arg, NULL, 0, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "netPlan(text)");
    return NULL;
  }
  char *text = malloc(n + 1), err[512];
  if (!text) {
    napi_throw_error(env, NULL, "netPlan: out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, arg, text, n + 1, &n);
  int rc = net_run_plan(text, err, sizeof(err));
  free(text);
  if (rc < 0) napi_throw_error(env, "ENETPLAN", err);
  return NULL;
}

/* netSocket(nsPath, tcp, ip, port): a bound socket in that network namespace, as an fd */
static napi_value js_net_socket(napi_env env, napi_callback_info info) {
  size_t argc = 4, n;
  napi_value argv[4], out;
  char ns[256], ip[64], err[512];
  bool tcp = false;
  int32_t port = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || napi_get_value_string_utf8(env, argv[0], ns, sizeof(ns), &n) != napi_ok ||
      napi_get_value_bool(env, argv[1], &tcp) != napi_ok || napi_get_value_string_utf8(env, argv[2], ip, sizeof(ip), &n) != napi_ok ||
      napi_get_value_int32(env, argv[3], &port) != napi_ok) {
    napi_throw_type_error(env, NULL, "netSocket(nsPath, tcp, ip, port)");
    return NULL;
  }
  int fd = net_socket_in(ns, tcp, ip, port, err, sizeof(err));
  if (fd < 0) {
    napi_throw_error(env, "ENETSOCKET", err);
    return NULL;
  }
  napi_create_int32(env, fd, &out);
  return out;
}

/* netBpf(op, ...): 'map' name -> fd; 'load' name insns -> fd; 'set' fd key ifindex; 'del' fd key; 'attach' dev prog name -> ifindex */
static napi_value js_net_bpf(napi_env env, napi_callback_info info) {
  size_t argc = 4, n;
  napi_value argv[4], out;
  char op[8] = "", name[64] = "", err[512];
  int32_t fd = -1, value = 0, rc = -1;
  void *buf = NULL;
  size_t len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_get_value_string_utf8(env, argv[0], op, sizeof(op), &n) != napi_ok) goto usage;
  if (!strcmp(op, "map") || !strcmp(op, "load") || !strcmp(op, "attach")) {
    if (napi_get_value_string_utf8(env, argv[1], name, sizeof(name), &n) != napi_ok) goto usage;
  } else if (napi_get_value_int32(env, argv[1], &fd) != napi_ok) goto usage;
  if (!strcmp(op, "map")) rc = net_bpf_map(name, err, sizeof(err));
  else if (!strcmp(op, "load") && argc >= 3 && napi_get_buffer_info(env, argv[2], &buf, &len) == napi_ok) rc = net_bpf_load(name, buf, len, err, sizeof(err));
  else if ((!strcmp(op, "set") || !strcmp(op, "del")) && argc >= 3 && napi_get_buffer_info(env, argv[2], &buf, &len) == napi_ok && len == 8) {
    int set = !strcmp(op, "set");
    if (set && (argc < 4 || napi_get_value_int32(env, argv[3], &value) != napi_ok)) goto usage;
    rc = net_bpf_set(fd, buf, set, (uint32_t)value, err, sizeof(err));
  } else if (!strcmp(op, "attach") && argc >= 4 && napi_get_value_int32(env, argv[2], &fd) == napi_ok &&
             napi_get_value_string_utf8(env, argv[3], err, 64, &n) == napi_ok) {
    char prog_name[64];
    memcpy(prog_name, err, sizeof(prog_name));
    rc = net_bpf_attach(name, fd, prog_name, err, sizeof(err));
  } else goto usage;
  if (rc < 0) {
    napi_throw_error(env, "ENETBPF", err);
    return NULL;
  }
  napi_create_int32(env, rc, &out);
  return out;
usage:
  napi_throw_type_error(env, NULL, "netBpf(op, ...)");
  return NULL;
}

void net_register(napi_env env, napi_value exports) {
  napi_property_descriptor p[] = {
      {"netPlan", NULL, js_net_plan, NULL, NULL, NULL, napi_enumerable, NULL},
      {"netSocket", NULL, js_net_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"netBpf", NULL, js_net_bpf, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, 3, p);
}
