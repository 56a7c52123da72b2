/* An installed meshcache used from C: an embedded node on the loopback ports
 * given, and a client that sets and gets through it. Prints one line per
 * failed check; exits non-zero on any.
 *
 *   c_consumer PORT GOSSIP_PORT VERSION */
#include <meshcache/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed = 0;

static void check(int ok, const char* what, char** err) {
  if (!ok) {
    fprintf(stderr, "c_consumer: failed: %s (%s)\n", what, *err ? *err : "no error");
    ++failed;
  }
}

int main(int argc, char** argv) {
  char* err = NULL;
  meshcache_node_options_t* no;
  meshcache_node_t* node;
  meshcache_client_options_t* co;
  meshcache_client_t* client;
  char* id;
  char* value;
  size_t len = 0;

  if (argc != 4) {
    fprintf(stderr, "usage: c_consumer PORT GOSSIP_PORT VERSION\n");
    return 2;
  }
  check(strcmp(meshcache_version(), argv[3]) == 0, "meshcache_version names the installed one",
        &err);
  no = meshcache_node_options_create();
  meshcache_node_options_set_port(no, (uint16_t)atoi(argv[1]));
  meshcache_node_options_set_gossip_port(no, (uint16_t)atoi(argv[2]));
  node = meshcache_node_start(no, NULL, NULL, &err);
  meshcache_node_options_destroy(no);
  if (node == NULL) {
    fprintf(stderr, "c_consumer: meshcache_node_start: %s\n", err);
    meshcache_free(err);
    return 1;
  }
  id = meshcache_node_id(node);
  co = meshcache_client_options_create();
  meshcache_client_options_add_seed(co, id);
  meshcache_client_options_set_timeout_ms(co, 5000);
  client = meshcache_client_open(co, &err);
  meshcache_client_options_destroy(co);
  check(client != NULL, "meshcache_client_open", &err);
  if (client != NULL) {
    meshcache_client_set(client, "user:1", 6, "alice", 5, -1, &err);
    check(err == NULL, "meshcache_client_set", &err);
    value = meshcache_client_get(client, "user:1", 6, &len, &err);
    check(value != NULL && len == 5 && memcmp(value, "alice", 5) == 0,
          "meshcache_client_get returns what was set", &err);
    meshcache_free(value);
    meshcache_client_close(client);
  }
  meshcache_free(id);
  meshcache_node_stop(node);
  check(!meshcache_node_running(node), "the node stops", &err);
  meshcache_node_destroy(node);
  meshcache_free(err);
  if (failed == 0) printf("c_consumer: ok\n");
  return failed == 0 ? 0 : 1;
}
