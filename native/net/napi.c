/* netPlan(text): the network executor as a call of berthd's addon. */
#include "net.h"
#include <node_api.h>
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

void net_register(napi_env env, napi_value exports) {
  napi_property_descriptor p = {"netPlan", NULL, js_net_plan, NULL, NULL, NULL, napi_enumerable, NULL};
  napi_define_properties(env, exports, 1, &p);
}
