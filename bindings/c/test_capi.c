/* The C API from C: two embedded nodes on free loopback ports (the second
 * joins the first) with a C loader, a client against them, and the error
 * paths; then a CURVE mesh of two embedded nodes and clients with and
 * without an allowed key. Prints one line per failed check and "N passed, M failed" last;
 * exits non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "meshcache/c.h"

static int passed = 0;
static int failed = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) {                                                                \
      ++passed;                                                                \
    } else {                                                                   \
      ++failed;                                                                \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

/* ---- the loader: "origin:K" -> "loaded(origin:K)", "absent:K" -> not found,
 * "broken:K" -> an error; counts its calls per kind. */
static atomic_int origin_calls;
static atomic_int other_calls;

static char* dup_bytes(const char* s, size_t n) {
  char* out = malloc(n + 1);
  memcpy(out, s, n);
  out[n] = '\0';
  return out;
}

static int has_prefix(const char* key, size_t keylen, const char* prefix) {
  size_t n = strlen(prefix);
  return keylen >= n && memcmp(key, prefix, n) == 0;
}

static char* test_loader(void* state, const char* key, size_t keylen, size_t* vallen,
                         uint64_t* ttl_ms, char** errptr) {
  (void)ttl_ms;
  if (state != &origin_calls) {
    *errptr = dup_bytes("wrong state pointer", 19);
    return NULL;
  }
  if (has_prefix(key, keylen, "origin:")) {
    atomic_fetch_add(&origin_calls, 1);
    char buf[256];
    int n = snprintf(buf, sizeof buf, "loaded(%.*s)", (int)keylen, key);
    *vallen = (size_t)n;
    return dup_bytes(buf, (size_t)n);
  }
  atomic_fetch_add(&other_calls, 1);
  if (has_prefix(key, keylen, "broken:")) *errptr = dup_bytes("origin is down", 14);
  return NULL;
}

/* ---- helpers ---------------------------------------------------------- */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A loopback TCP port free right now (the kernel's choice), or 0. */
static uint16_t free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  uint16_t port = 0;
  if (fd >= 0 && bind(fd, (struct sockaddr*)&addr, sizeof addr) == 0 &&
      getsockname(fd, (struct sockaddr*)&addr, &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) close(fd);
  return port;
}

/* CURVE key pairs (Z85): the mesh's and an allowed client's are the
 * examples of the zmq_curve(7) manual; the stranger's is on no list. */
static const char mesh_public[] = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
static const char mesh_secret[] = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
static const char client_public[] = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
static const char client_secret[] = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
static const char stranger_public[] = "lq]{)vk3FXu^!3U3EfEEr8pyIV*n8pF%35jK893Y";
static const char stranger_secret[] = "FtE8H>iZ+XVT(B=hLwOm+^)*EutA:f6-a)vTMPS?";

/* Starts a node with the test loader on fresh ports, joining `join` if not
 * NULL, with the mesh's CURVE key pair and the client's key allowed if
 * `curve`; retries when a port was taken between the probe and the bind. */
static meshcache_node_t* start_node(const char* join, int curve) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    meshcache_node_options_t* o = meshcache_node_options_create();
    meshcache_node_options_set_port(o, free_port());
    meshcache_node_options_set_gossip_port(o, free_port());
    meshcache_node_options_set_heartbeat_ms(o, 50);
    meshcache_node_options_set_dead_ms(o, 1000);
    if (join) meshcache_node_options_add_join(o, join);
    if (curve) {
      meshcache_node_options_set_curve_secret_key(o, mesh_secret);
      meshcache_node_options_add_curve_client(o, client_public);
    }
    char* err = NULL;
    meshcache_node_t* node = meshcache_node_start(o, test_loader, &origin_calls, &err);
    meshcache_node_options_destroy(o);
    if (node) return node;
    fprintf(stderr, "start_node: %s\n", err);
    meshcache_free(err);
  }
  return NULL;
}

static meshcache_client_t* open_client(const char* seed, unsigned char smart) {
  meshcache_client_options_t* o = meshcache_client_options_create();
  meshcache_client_options_add_seed(o, seed);
  meshcache_client_options_set_smart_routing(o, smart);
  meshcache_client_options_set_timeout_ms(o, 2000);
  char* err = NULL;
  meshcache_client_t* c = meshcache_client_open(o, &err);
  meshcache_client_options_destroy(o);
  if (err) fprintf(stderr, "open_client: %s\n", err);
  meshcache_free(err);
  return c;
}

/* A client of seed with CURVE keys (server NULL: plaintext), smart routing
 * on or off, and a deadline of timeout_ms per request. */
static meshcache_client_t* open_curve_client(const char* seed, const char* server,
                                             const char* public_key, const char* secret_key,
                                             unsigned char smart, int64_t timeout_ms) {
  meshcache_client_options_t* o = meshcache_client_options_create();
  meshcache_client_options_add_seed(o, seed);
  meshcache_client_options_set_smart_routing(o, smart);
  meshcache_client_options_set_timeout_ms(o, timeout_ms);
  if (server) meshcache_client_options_set_curve(o, server, public_key, secret_key);
  char* err = NULL;
  meshcache_client_t* c = meshcache_client_open(o, &err);
  meshcache_client_options_destroy(o);
  if (err) fprintf(stderr, "open_curve_client: %s\n", err);
  meshcache_free(err);
  return c;
}

static size_t count(const char* haystack, const char* needle) {
  size_t n = 0;
  for (const char* p = haystack; (p = strstr(p, needle)) != NULL; p += strlen(needle)) ++n;
  return n;
}

/* True once `node` reports `alive` members in its ring, within 10 s. */
static int wait_alive(meshcache_client_t* c, const char* node, size_t alive) {
  for (int64_t deadline = now_ms() + 10000; now_ms() < deadline; pause_ms(20)) {
    char* err = NULL;
    char* ring = meshcache_client_ring(c, node, &err);
    size_t n = ring ? count(ring, "\"state\":\"alive\"") : 0;
    meshcache_free(ring);
    meshcache_free(err);
    if (n == alive) return 1;
  }
  return 0;
}

/* The value of key as a NUL-terminated string, or NULL; *err receives any
 * error (caller frees both). */
static char* get_str(meshcache_client_t* c, const char* key, char** err) {
  size_t len = 0;
  return meshcache_client_get(c, key, strlen(key), &len, err);
}

static int get_equals(meshcache_client_t* c, const char* key, const char* want) {
  char* err = NULL;
  char* v = get_str(c, key, &err);
  int ok = v != NULL && err == NULL && strcmp(v, want) == 0;
  if (!ok) fprintf(stderr, "get %s: %s / %s\n", key, v ? v : "(null)", err ? err : "no error");
  meshcache_free(v);
  meshcache_free(err);
  return ok;
}

static void set_str(meshcache_client_t* c, const char* key, const char* value, int64_t ttl,
                    char** err) {
  meshcache_client_set(c, key, strlen(key), value, strlen(value), ttl, err);
}

/* ---- tests ------------------------------------------------------------ */

static void test_bad_options(void) {
  char* err = NULL;
  meshcache_client_options_t* co = meshcache_client_options_create();
  CHECK(meshcache_client_open(co, &err) == NULL);
  CHECK(err != NULL && strncmp(err, "invalid_argument: ", 18) == 0);
  meshcache_client_options_destroy(co);
  meshcache_free(err);
  err = NULL;
  meshcache_node_options_t* no = meshcache_node_options_create();
  meshcache_node_options_set_port(no, 0);
  CHECK(meshcache_node_start(no, NULL, NULL, &err) == NULL);
  CHECK(err != NULL && strstr(err, "port") != NULL);
  meshcache_node_options_destroy(no);
  meshcache_free(err);
  err = NULL;
  /* CURVE keys: all three or none, each a Z85 key. */
  co = meshcache_client_options_create();
  meshcache_client_options_add_seed(co, "tcp://127.0.0.1:1");
  meshcache_client_options_set_curve(co, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", NULL, NULL);
  CHECK(meshcache_client_open(co, &err) == NULL);
  CHECK(err != NULL && strstr(err, "CURVE") != NULL);
  meshcache_free(err);
  err = NULL;
  meshcache_client_options_set_curve(co, "short", "short", "short");
  CHECK(meshcache_client_open(co, &err) == NULL);
  CHECK(err != NULL && strstr(err, "Z85") != NULL);
  meshcache_free(err);
  meshcache_client_options_destroy(co);
}

static void test_set_get_del(meshcache_client_t* c) {
  char* err = NULL;
  set_str(c, "k1", "v1", -1, &err);
  CHECK(err == NULL);
  CHECK(get_equals(c, "k1", "v1"));

  static const char bin[] = {'a', '\0', 'b'};
  meshcache_client_set(c, "bin", 3, bin, sizeof bin, 0, &err);
  size_t len = 0;
  char* v = meshcache_client_get(c, "bin", 3, &len, &err);
  CHECK(v != NULL && len == 3 && memcmp(v, bin, 3) == 0 && v[3] == '\0');
  meshcache_free(v);

  meshcache_client_set(c, "empty", 5, "", 0, -1, &err);
  v = meshcache_client_get(c, "empty", 5, &len, &err);
  CHECK(v != NULL && len == 0);
  meshcache_free(v);

  CHECK(meshcache_client_del(c, "k1", 2, &err) == 1);
  CHECK(meshcache_client_del(c, "k1", 2, &err) == 0);
  v = get_str(c, "k1", &err);
  CHECK(v == NULL && err == NULL);
  meshcache_free(v);
  CHECK(err == NULL);
  meshcache_free(err);
}

static void test_mget(meshcache_client_t* c) {
  char* err = NULL;
  set_str(c, "m1", "one", -1, &err);
  set_str(c, "m3", "three", -1, &err);
  const char* keys[] = {"m1", "m2", "m3"};
  size_t keylens[] = {2, 2, 2};
  char* values[3];
  size_t lens[3];
  meshcache_client_mget(c, 3, keys, keylens, values, lens, &err);
  CHECK(err == NULL);
  CHECK(values[0] && lens[0] == 3 && strcmp(values[0], "one") == 0);
  CHECK(values[1] == NULL && lens[1] == 0);
  CHECK(values[2] && strcmp(values[2], "three") == 0);
  for (int i = 0; i < 3; ++i) meshcache_free(values[i]);
  meshcache_free(err);
}

static void test_loader_once(meshcache_client_t* c, meshcache_client_t* via_b) {
  int before = atomic_load(&origin_calls);
  CHECK(get_equals(c, "origin:1", "loaded(origin:1)"));
  CHECK(get_equals(c, "origin:1", "loaded(origin:1)"));
  CHECK(get_equals(via_b, "origin:1", "loaded(origin:1)"));
  CHECK(atomic_load(&origin_calls) - before == 1);

  char* err = NULL;
  char* v = get_str(c, "absent:1", &err);
  CHECK(v == NULL && err == NULL);
  v = get_str(c, "broken:1", &err);
  CHECK(v == NULL && err != NULL && strncmp(err, "load_failed: ", 13) == 0 &&
        strstr(err, "origin is down") != NULL);
  meshcache_free(err);
}

static void test_ttl(meshcache_client_t* c) {
  char* err = NULL;
  set_str(c, "brief", "x", 1, &err);
  CHECK(err == NULL);
  int expired = 0;
  for (int64_t deadline = now_ms() + 5000; !expired && now_ms() < deadline; pause_ms(10)) {
    char* v = get_str(c, "brief", &err);
    expired = v == NULL && err == NULL;
    meshcache_free(v);
  }
  CHECK(expired);
  meshcache_free(err);
}

static void test_info(meshcache_client_t* c, const char* id_a, const char* id_b) {
  char* err = NULL;
  char* ping = meshcache_client_ping(c, id_b, &err);
  CHECK(ping && strstr(ping, id_b) && strstr(ping, "\"proto\":1"));
  char* stats = meshcache_client_stats(c, NULL, &err);
  CHECK(stats && strstr(stats, "\"gets\":") && strstr(stats, "\"peers_alive\":1"));
  char* ring = meshcache_client_ring(c, id_a, &err);
  CHECK(ring && strstr(ring, id_a) && strstr(ring, id_b) && strstr(ring, "\"hash\":\"xxh32\""));
  CHECK(err == NULL);
  meshcache_free(ping);
  meshcache_free(stats);
  meshcache_free(ring);

  char nowhere[64];
  snprintf(nowhere, sizeof nowhere, "tcp://127.0.0.1:%u", (unsigned)free_port());
  CHECK(meshcache_client_ping(c, nowhere, &err) == NULL);
  CHECK(err && strncmp(err, "unavailable: ", 13) == 0);
  meshcache_free(err);
}

/* After B stops, every key is A's: requests that went to B move to A. */
static void test_survives_stop(meshcache_node_t* b, meshcache_client_t* c) {
  meshcache_node_stop(b);
  CHECK(meshcache_node_running(b) == 0);
  meshcache_node_stop(b); /* idempotent */
  int failures = 0;
  for (int i = 0; i < 20; ++i) {
    char key[32], *err = NULL;
    snprintf(key, sizeof key, "after:%d", i);
    set_str(c, key, "v", -1, &err);
    if (err) fprintf(stderr, "set %s after stop: %s\n", key, err);
    failures += err != NULL || !get_equals(c, key, "v");
    meshcache_free(err);
  }
  CHECK(failures == 0);
}

/* Starts a node from o on fresh ports; NULL with *err set when it is
 * refused. */
static meshcache_node_t* try_start(meshcache_node_options_t* o, char** err) {
  meshcache_node_options_set_port(o, free_port());
  meshcache_node_options_set_gossip_port(o, free_port());
  return meshcache_node_start(o, NULL, NULL, err);
}

/* Starting with the node options in `o` fails with an error that starts with
 * "invalid_argument: " and holds `want`; frees o. */
static int refused(meshcache_node_options_t* o, const char* want) {
  char* err = NULL;
  meshcache_node_t* node = try_start(o, &err);
  int ok = node == NULL && err != NULL && strncmp(err, "invalid_argument: ", 18) == 0 &&
           strstr(err, want) != NULL;
  if (!ok) fprintf(stderr, "want refusal with \"%s\": %s\n", want, err ? err : "started");
  meshcache_node_destroy(node);
  meshcache_node_options_destroy(o);
  meshcache_free(err);
  return ok;
}

static void test_bad_curve_options(void) {
  meshcache_node_options_t* o = meshcache_node_options_create();
  meshcache_node_options_set_curve_secret_key(o, "short");
  CHECK(refused(o, "CURVE secret key"));

  /* 40 characters, but '~' is not in Z85's alphabet. */
  o = meshcache_node_options_create();
  meshcache_node_options_set_curve_secret_key(o, "~TKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6");
  CHECK(refused(o, "CURVE secret key"));

  o = meshcache_node_options_create();
  meshcache_node_options_set_curve_secret_key(o, mesh_secret);
  meshcache_node_options_add_curve_client(o, client_public);
  meshcache_node_options_add_curve_client(o, "not a key");
  CHECK(refused(o, "not a Z85 CURVE public key: not a key"));

  o = meshcache_node_options_create();
  meshcache_node_options_set_curve_secret_key(o, mesh_secret);
  meshcache_node_options_add_curve_peer(o, NULL);
  CHECK(refused(o, "not a Z85 CURVE public key"));

  o = meshcache_node_options_create();
  meshcache_node_options_add_curve_client(o, client_public);
  CHECK(refused(o, "without a CURVE secret key"));

  o = meshcache_node_options_create();
  meshcache_node_options_set_curve_secret_key(o, mesh_secret);
  meshcache_node_options_set_curve_secret_key(o, NULL); /* back to plaintext */
  meshcache_node_options_add_curve_peer(o, mesh_public);
  CHECK(refused(o, "without a CURVE secret key"));
}

/* Beyond loopback without CURVE a node starts only with allow_plaintext. */
static void test_allow_plaintext(void) {
  meshcache_node_options_t* o = meshcache_node_options_create();
  meshcache_node_options_set_bind(o, "0.0.0.0");
  meshcache_node_options_set_advertise(o, "127.0.0.1");
  CHECK(refused(o, "allow plaintext"));

  o = meshcache_node_options_create();
  meshcache_node_options_set_bind(o, "0.0.0.0");
  meshcache_node_options_set_advertise(o, "127.0.0.1");
  meshcache_node_options_set_allow_plaintext(o, 1);
  char* err = NULL;
  meshcache_node_t* node = try_start(o, &err);
  CHECK(node != NULL && err == NULL);
  if (err) fprintf(stderr, "allow_plaintext: %s\n", err);
  meshcache_node_destroy(node);
  meshcache_node_options_destroy(o);
  meshcache_free(err);
}

/* A client the node must not admit: its get and set fail with "timeout" or
 * "unavailable" (no answer by its deadline), never with data. */
static void check_refused_client(meshcache_client_t* c, const char* what) {
  CHECK(c != NULL);
  if (!c) return;
  char* err = NULL;
  char* v = get_str(c, "curve:k", &err);
  int no_data = v == NULL && err != NULL &&
                (strncmp(err, "timeout: ", 9) == 0 || strncmp(err, "unavailable: ", 13) == 0);
  if (!no_data) fprintf(stderr, "%s: get gave %s / %s\n", what, v ? v : "(null)", err);
  CHECK(no_data);
  meshcache_free(v);
  meshcache_free(err);
  err = NULL;
  set_str(c, "curve:k", "forged", -1, &err);
  if (!err) fprintf(stderr, "%s: set succeeded\n", what);
  CHECK(err != NULL);
  meshcache_free(err);
}

/* The number after "name": in JSON text, or -1. */
static long json_int(const char* json, const char* name) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":", name);
  const char* at = json ? strstr(json, pattern) : NULL;
  return at ? strtol(at + strlen(pattern), NULL, 10) : -1;
}

/* Writes curve:0..31 (some owned by each node: 2^-31 odds otherwise) and
 * curve:k through the allowed client. */
static void fill_curve_mesh(meshcache_client_t* good) {
  char* err = NULL;
  for (int i = 0; i < 32; ++i) {
    char key[32];
    snprintf(key, sizeof key, "curve:%d", i);
    set_str(good, key, key, -1, &err);
  }
  set_str(good, "curve:k", "the real value", -1, &err);
  CHECK(err == NULL);
  if (err) fprintf(stderr, "curve set: %s\n", err);
  meshcache_free(err);
  CHECK(get_equals(good, "curve:k", "the real value"));
}

/* Clients the node at `seed` must not admit get no data and write nothing;
 * the allowed client still reads the value they tried to overwrite. */
static void check_strangers(const char* seed, meshcache_client_t* good) {
  static const struct {
    const char* what;
    const char* server;
    const char* public_key;
    const char* secret_key;
  } strangers[] = {
      {"a client without keys", NULL, NULL, NULL},
      {"a key not on the allow list", mesh_public, stranger_public, stranger_secret},
      {"the wrong server key", stranger_public, client_public, client_secret},
  };
  for (size_t i = 0; i < sizeof strangers / sizeof strangers[0]; ++i) {
    meshcache_client_t* c = open_curve_client(seed, strangers[i].server, strangers[i].public_key,
                                              strangers[i].secret_key, 1, 300);
    check_refused_client(c, strangers[i].what);
    meshcache_client_close(c);
    CHECK(get_equals(good, "curve:k", "the real value"));
  }
}

/* Every curve:N read through node b alone: those a owns are forwarded over
 * the peers' CURVE link. */
static void check_forwarded(meshcache_client_t* via_b, const char* id_b) {
  int wrong = 0;
  for (int i = 0; i < 32; ++i) {
    char key[32];
    snprintf(key, sizeof key, "curve:%d", i);
    wrong += !get_equals(via_b, key, key);
  }
  CHECK(wrong == 0);
  char* err = NULL;
  char* stats = meshcache_client_stats(via_b, id_b, &err);
  CHECK(json_int(stats, "forwards") > 0);
  meshcache_free(stats);
  meshcache_free(err);
}

/* Two embedded nodes with the mesh's key pair form a mesh and serve a client
 * with the mesh's public key and an allowed key pair, forwarding to each
 * other. A client without keys, with a key not on the allow list, or with
 * the wrong server key gets no data and writes nothing; the mesh serves the
 * allowed client throughout. */
static void test_curve_mesh(void) {
  meshcache_node_t* a = start_node(NULL, 1);
  CHECK(a != NULL);
  char* id_a = a ? meshcache_node_id(a) : NULL;
  meshcache_node_t* b = a ? start_node(id_a, 1) : NULL;
  CHECK(b != NULL);
  char* id_b = b ? meshcache_node_id(b) : NULL;
  meshcache_client_t* good =
      b ? open_curve_client(id_a, mesh_public, client_public, client_secret, 1, 2000) : NULL;
  meshcache_client_t* via_b =
      b ? open_curve_client(id_b, mesh_public, client_public, client_secret, 0, 2000) : NULL;
  CHECK(good != NULL && via_b != NULL);
  if (good && via_b) {
    CHECK(wait_alive(good, id_a, 2) && wait_alive(good, id_b, 2));
    fill_curve_mesh(good);
    check_strangers(id_a, good);
    check_forwarded(via_b, id_b);
  }
  meshcache_client_close(via_b);
  meshcache_client_close(good);
  meshcache_node_destroy(b);
  meshcache_node_destroy(a);
  meshcache_free(id_b);
  meshcache_free(id_a);
}

int main(void) {
  test_bad_options();
  test_bad_curve_options();
  test_allow_plaintext();
  meshcache_node_t* a = start_node(NULL, 0);
  CHECK(a != NULL);
  char* id_a = a ? meshcache_node_id(a) : NULL;
  meshcache_node_t* b = a ? start_node(id_a, 0) : NULL;
  CHECK(b != NULL);
  if (a && b) {
    char* id_b = meshcache_node_id(b);
    CHECK(strncmp(id_a, "tcp://127.0.0.1:", 16) == 0 && strcmp(id_a, id_b) != 0);
    meshcache_client_t* probe = open_client(id_a, 0);
    CHECK(wait_alive(probe, id_a, 2) && wait_alive(probe, id_b, 2));
    meshcache_client_t* c = open_client(id_a, 1);
    meshcache_client_t* via_b = open_client(id_b, 0);
    CHECK(c != NULL && via_b != NULL);
    if (c && via_b) {
      test_set_get_del(c);
      test_mget(c);
      test_loader_once(c, via_b);
      test_ttl(c);
      test_info(c, id_a, id_b);
      test_survives_stop(b, c);
    }
    meshcache_client_close(via_b);
    meshcache_client_close(c);
    meshcache_client_close(probe);
    meshcache_free(id_b);
  }
  meshcache_node_destroy(b);
  meshcache_node_destroy(a);
  meshcache_free(id_a);
  test_curve_mesh();
  meshcache_node_destroy(NULL);
  meshcache_client_close(NULL);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
