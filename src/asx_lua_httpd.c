/* Lua binding of the HTTP server (src/asx_httpd.h), used by lua/asx/http.lua:
 *
 *   local srv = core.http_listen{
 *     host = "127.0.0.1", port = 8080,        -- port 0: any free port
 *     on_request = function(method, path, body)
 *       return status, content_type, body     -- or return "stream"
 *     end,
 *     every = 0.25, on_tick = function() end, -- optional: called every
 *                                              -- `every` wall seconds
 *     post = "/api/control",                  -- optional: the one path
 *                                              -- POST may go to (and
 *                                              -- no other method)
 *     post_off = true,                        -- optional: that path
 *                                              -- takes no method at all
 *     write_timeout = 10,                     -- optional: seconds a
 *                                              -- response may wait with
 *                                              -- nothing taken before its
 *                                              -- connection is cut (0.01
 *   }                                          -- to 1e9; src/asx_httpd.h)
 *   srv:port()  srv:broadcast(text)  srv:dropped()  srv:close()
 *
 * Other methods than GET and HEAD elsewhere (and POST to `post`) are
 * refused with 405 and an Allow header before on_request (src/asx_httpd.h). Returns nil, err when it cannot
 * listen. The callbacks run from libuv
 * callbacks on a Lua thread of the server's own, outside any agent; an
 * error escaping one, or an answer HTTP cannot carry (a status outside
 * 100-599, a content type with a control character, a body neither a
 * string nor nil), is printed on stderr and answered with status 500.
 * While open, the userdata pins itself in the registry.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "asx_httpd.h"
#include "asx_lua.h"
#include "asx_lua_sched.h"

#define HTTP_MT "asx.httpd"

typedef struct lhttp {
  asx_httpd *h; /* NULL once closed */
  lua_State *T;
  uv_timer_t *timer;
  int calls; /* callbacks running on T */
  int ref_self, ref_thread, ref_on_request, ref_on_tick;
} lhttp;

/* Lets go of what the open server pinned: the callbacks, T and u itself.
 * Not while a callback runs on T (srv:close() inside on_request): T would
 * be unreachable while it runs, and a coroutine's collection would free it
 * under the call, which then returned into freed memory; the last callback
 * to return lets go instead. */
static void release(lua_State *L, lhttp *u) {
  int refs[4];
  size_t i;
  refs[0] = u->ref_on_request;
  refs[1] = u->ref_on_tick;
  refs[2] = u->ref_thread;
  refs[3] = u->ref_self;
  u->ref_on_request = u->ref_on_tick = u->ref_thread = u->ref_self = LUA_NOREF;
  u->T = NULL;
  for (i = 0; i < 4; i++)
    luaL_unref(L, LUA_REGISTRYINDEX, refs[i]);
}

/* Callbacks of any server running: they run inside the libuv loop, which
 * what waits on it (an InfluxDB logger's flush) must not run again from
 * inside itself (core.http_in_callback). */
static int calls_running;

static void begin_call(lhttp *u) {
  u->calls++;
  calls_running++;
}

/* After a callback: the release that a close during it left to it. */
static void end_call(lhttp *u, lua_State *T) {
  calls_running--;
  if (--u->calls == 0 && !u->h)
    release(T, u);
}

static void report(lua_State *T, const char *where) {
  char num[ASX__LUA_ERROR_TEXT_SIZE];
  const char *msg = asx__lua_error_text(T, -1, num, sizeof num);
  fprintf(stderr, "asx http: error in %s: %s\n", where, msg);
  fflush(stderr);
  lua_pop(T, 1);
}

/* Checks on_request's answer (status, content type, body at -3, -2, -1).
 * Returns 1, or pushes the reason and returns 0 for one HTTP cannot carry:
 * a status outside 100-599 (h2o never answers those: the client would wait
 * for ever), a content type with a control character (a CR or LF would let
 * the handler's data write headers of its own), a body neither a string
 * nor nil. */
static int good_answer(lua_State *T) {
  lua_Number status = lua_tonumber(T, -3);
  const char *ctype;
  size_t len, i;
  if (lua_type(T, -3) != LUA_TNUMBER || !(status >= 100 && status <= 599) ||
      status != (lua_Number)(int)status) {
    lua_pushvalue(T, -3);
    lua_pushfstring(T, "bad result #1 (HTTP status from 100 to 599 expected, got %s)",
                    lua_type(T, -1) == LUA_TNUMBER ? lua_tostring(T, -1) : luaL_typename(T, -1));
    lua_remove(T, -2);
    return 0;
  }
  if (!lua_isnil(T, -2) && lua_type(T, -2) != LUA_TSTRING) {
    lua_pushfstring(T, "bad result #2 (string expected, got %s)", luaL_typename(T, -2));
    return 0;
  }
  ctype = lua_tolstring(T, -2, &len);
  for (i = 0; ctype && i < len; i++)
    if ((unsigned char)ctype[i] < 0x20 || ctype[i] == 0x7f) {
      lua_pushfstring(T,
                      "bad result #2 (content type without control characters expected, got one "
                      "at byte %d)",
                      (int)i + 1);
      return 0;
    }
  if (!lua_isnil(T, -1) && lua_type(T, -1) != LUA_TSTRING && lua_type(T, -1) != LUA_TNUMBER) {
    lua_pushfstring(T, "bad result #3 (string expected, got %s)", luaL_typename(T, -1));
    return 0;
  }
  return 1;
}

/* One request, for run_request. */
typedef struct request {
  lhttp *u;
  asx_httpd_req *req;
  const char *method, *path, *body;
  size_t method_len, path_len, body_len;
} request;

/* Calls on_request and answers, under lua_cpcall: pushing the request,
 * converting a number body and the reason for a bad answer all allocate,
 * and memory running out there outside a protected call would unwind
 * through h2o and libuv. An error leaves the answer to asx_httpd (500). */
static int run_request(lua_State *T) {
  request *r = lua_touserdata(T, 1);
  const char *ctype, *text;
  size_t len;
  lua_rawgeti(T, LUA_REGISTRYINDEX, r->u->ref_on_request);
  lua_pushlstring(T, r->method, r->method_len);
  lua_pushlstring(T, r->path, r->path_len);
  lua_pushlstring(T, r->body ? r->body : "", r->body_len);
  lua_call(T, 3, 3);
  if (lua_type(T, -3) == LUA_TSTRING && strcmp(lua_tostring(T, -3), "stream") == 0) {
    asx_httpd_stream(r->req);
  } else if (!good_answer(T)) {
    return lua_error(T);
  } else {
    ctype = lua_tostring(T, -2);
    text = lua_tolstring(T, -1, &len);
    asx_httpd_respond(r->req, (int)lua_tointeger(T, -3), ctype ? ctype : "text/plain",
                     text ? text : "", text ? len : 0);
  }
  return 0;
}

static void on_request(void *data, asx_httpd_req *req, const char *method, size_t method_len,
                       const char *path, size_t path_len, const char *body, size_t body_len) {
  request r = { data, req, method, path, body, method_len, path_len, body_len };
  lua_State *T = r.u->T;
  if (!T)
    return;
  begin_call(r.u);
  if (lua_cpcall(T, run_request, &r) != 0)
    report(T, "on_request"); /* asx_httpd answers 500 */
  end_call(r.u, T);
}

static void on_timer(uv_timer_t *t) {
  lhttp *u = t->data;
  lua_State *T = u->T;
  if (!T || u->ref_on_tick == LUA_NOREF)
    return;
  begin_call(u);
  lua_rawgeti(T, LUA_REGISTRYINDEX, u->ref_on_tick);
  if (lua_pcall(T, 0, 0, 0) != 0)
    report(T, "on_tick");
  end_call(u, T);
}

/* core.http_in_callback(): whether a server's on_request or on_tick runs. */
static int l_in_callback(lua_State *L) {
  lua_pushboolean(L, calls_running > 0);
  return 1;
}

static int l_http_listen(lua_State *L) {
  lhttp *u;
  const char *host, *post, *err = NULL;
  lua_Number port, every, write_timeout;
  int post_on;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "host");
  host = luaL_optstring(L, -1, "127.0.0.1");
  lua_getfield(L, 1, "port");
  port = luaL_checknumber(L, -1);
  if (!(port >= 0 && port <= 65535 && port == (int)port))
    return luaL_argerror(L, 1, "port: integer from 0 to 65535 expected");
  lua_getfield(L, 1, "on_request");
  luaL_checktype(L, -1, LUA_TFUNCTION);
  lua_getfield(L, 1, "every");
  every = luaL_optnumber(L, -1, 0);
  lua_getfield(L, 1, "post");
  post = luaL_optstring(L, -1, NULL);
  lua_getfield(L, 1, "post_off");
  post_on = !lua_toboolean(L, -1);
  lua_getfield(L, 1, "write_timeout");
  write_timeout = lua_isnil(L, -1) ? ASX_HTTPD_WRITE_TIMEOUT_MS / 1000.0 : lua_tonumber(L, -1);
  if (!(lua_isnil(L, -1) || lua_type(L, -1) == LUA_TNUMBER) ||
      !(write_timeout >= 0.01 && write_timeout <= 1e9))
    return luaL_argerror(L, 1, "write_timeout: seconds from 0.01 to 1e9 expected");
  lua_pop(L, 4);
  u = lua_newuserdata(L, sizeof *u);
  memset(u, 0, sizeof *u);
  u->ref_self = u->ref_thread = u->ref_on_request = u->ref_on_tick = LUA_NOREF;
  luaL_getmetatable(L, HTTP_MT);
  lua_setmetatable(L, -2);
  if (asx_httpd_open(uv_default_loop(), host, (int)port, on_request, u, &u->h, &err) == 0 && post &&
      asx_httpd_set_post(u->h, post, post_on) != 0) {
    asx_httpd_close(u->h);
    u->h = NULL;
    err = "out of memory";
  }
  if (!u->h) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  asx_httpd_set_write_timeout(u->h, (uint64_t)(write_timeout * 1000));
  lua_pushvalue(L, -2); /* on_request */
  u->ref_on_request = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getfield(L, 1, "on_tick");
  if (lua_isfunction(L, -1) && every > 0) {
    u->ref_on_tick = luaL_ref(L, LUA_REGISTRYINDEX);
    u->timer = malloc(sizeof *u->timer);
    if (u->timer) {
      uv_timer_init(uv_default_loop(), u->timer);
      u->timer->data = u;
      /* At most a billion seconds: a longer wait (inf) in milliseconds
       * would be past what uint64_t holds. */
      uint64_t ms = (uint64_t)(fmin(every, 1e9) * 1000);
      uv_timer_start(u->timer, on_timer, ms, ms);
      uv_unref((uv_handle_t *)u->timer);
    }
  } else {
    lua_pop(L, 1);
  }
  u->T = lua_newthread(L);
  u->ref_thread = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, -1);
  u->ref_self = luaL_ref(L, LUA_REGISTRYINDEX);
  return 1;
}

static lhttp *check(lua_State *L) { return luaL_checkudata(L, 1, HTTP_MT); }

static int l_port(lua_State *L) {
  lhttp *u = check(L);
  if (!u->h)
    return luaL_error(L, "port: this server is closed");
  lua_pushinteger(L, asx_httpd_port(u->h));
  return 1;
}

static int l_broadcast(lua_State *L) {
  lhttp *u = check(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  lua_pushinteger(L, u->h ? asx_httpd_broadcast(u->h, s, len) : 0);
  return 1;
}

static int l_dropped(lua_State *L) {
  lhttp *u = check(L);
  lua_pushnumber(L, u->h ? (lua_Number)asx_httpd_dropped(u->h) : 0);
  return 1;
}

static int l_close(lua_State *L) {
  lhttp *u = check(L);
  if (!u->h)
    return 0;
  /* Inside the loop (an agent of a running session, or this server's own
   * callback) the loop must not run again: closing would wait for the
   * streams' last bytes by running it, and with it the session's scheduler,
   * which resumed other agents in the middle of this one's call. */
  if (asx__lua_running || u->calls)
    asx_httpd_end(u->h);
  else
    asx_httpd_close(u->h);
  u->h = NULL;
  if (u->timer) {
    uv_timer_stop(u->timer);
    uv_close((uv_handle_t *)u->timer, (uv_close_cb)free);
    u->timer = NULL;
  }
  if (!u->calls)
    release(L, u);
  return 0;
}

int asx__lua_open_httpd(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"port", l_port}, {"broadcast", l_broadcast}, {"dropped", l_dropped},
      {"close", l_close}, {NULL, NULL}};
  static const luaL_Reg functions[] = {
      {"http_listen", l_http_listen}, {"http_in_callback", l_in_callback}, {NULL, NULL}};
  if (luaL_newmetatable(L, HTTP_MT)) {
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    luaL_register(L, NULL, methods);
    /* Hidden from getmetatable: a __gc that Lua code set there would run
     * at any allocation, and one that raises crashes LuaJIT. */
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  luaL_register(L, NULL, functions);
  return 0;
}
