/* netPlan(text): the network executor as a call of berthd's addon. */
#include "net.h"
#include <node_api.h>
#include <stdbool.h>
#include <stdlib.h>

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

void net_register(napi_env env, napi_value exports) {
  napi_property_descriptor p[] = {
      {"netPlan", NULL, js_net_plan, NULL, NULL, NULL, napi_enumerable, NULL},
      {"netSocket", NULL, js_net_socket, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, 2, p);
}
