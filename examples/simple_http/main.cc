// simple_http: an HTTP gateway that is also a node of a meshcache mesh.
//
//   simple_http -port 9000                  # the first node
//   simple_http -port 9001 -regport 9000    # joins through the node of 9000
//   curl -d '{"key":"user","userid":100}' -H 'Content-Type: application/json' 127.0.0.1:9001
//   curl -i '127.0.0.1:9000?key=user'       # the same body, from any node
//
// POST / stores the body, byte for byte as sent, under the value of its
// string member "key". GET /?key=K returns it (404 when absent), DELETE
// /?key=K removes it, GET /nodes lists the members this node sees and
// GET /stats its counters. Answers are JSON, errors {"error": "..."}; a
// stored value that is not JSON (a simple_cmd shell may set one) comes back
// as application/octet-stream.
// SIGINT or SIGTERM stop the HTTP server, then the node (which announces
// that it leaves the mesh).
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/mesh_flags.h"
#include "meshcache/node.hpp"

namespace {

using json = nlohmann::json;
using meshcache::Code;
using meshcache::Result;
using meshcache::Status;

constexpr const char* kJson = "application/json";

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), kJson);
}

void ReplyError(httplib::Response& res, int status, const std::string& message) {
  Reply(res, status, json{{"error", message}});
}

// The mesh's errors as HTTP: the client's fault, too big, or the mesh cannot
// answer right now.
int HttpStatusOf(const Status& s) {
  switch (s.code()) {
    case Code::kBadRequest:
    case Code::kInvalidArgument:
      return 400;
    case Code::kTooLarge:
      return 413;
    case Code::kUnavailable:
    case Code::kTimeout:
    case Code::kOverloaded:
      return 503;
    default:
      return 500;
  }
}

void ReplyStatus(httplib::Response& res, const Status& s) {
  ReplyError(res, HttpStatusOf(s), s.ToString());
}

// The value of the body's "key" member, or why the body cannot be stored.
Result<std::string> KeyOfBody(const std::string& body) {
  auto bad = [](const std::string& m) { return Status::Error(Code::kBadRequest, m); };
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return bad("body is not valid JSON");
  if (!doc.is_object()) return bad("body must be a JSON object, like {\"key\":\"user\",...}");
  auto it = doc.find("key");
  if (it == doc.end() || !it->is_string()) return bad("body needs a string member \"key\"");
  std::string key = it->get<std::string>();
  if (key.empty()) return bad("\"key\" must not be empty");
  return key;
}

// The ?key= of a request, or why there is none.
Result<std::string> KeyOfQuery(const httplib::Request& req) {
  std::string key = req.get_param_value("key");
  if (key.empty()) {
    return Status::Error(Code::kBadRequest, "missing ?key=NAME, e.g. GET /?key=user");
  }
  return key;
}

// Counters are text in the API; numbers become JSON numbers.
json StatValue(const std::string& text) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec == std::errc() && end == text.data() + text.size()) return n;
  return text;
}

class Gateway {
 public:
  explicit Gateway(meshcache::Node& node) : node_(node) {}

  void Route(httplib::Server& svr) {
    svr.Post("/", [this](const auto& req, auto& res) { Post(req, res); });
    svr.Get("/", [this](const auto& req, auto& res) { Get(req, res); });
    svr.Delete("/", [this](const auto& req, auto& res) { Delete(req, res); });
    svr.Get("/nodes", [this](const auto&, auto& res) { Nodes(res); });
    svr.Get("/stats", [this](const auto&, auto& res) { Stats(res); });
  }

 private:
  void Post(const httplib::Request& req, httplib::Response& res) {
    auto key = KeyOfBody(req.body);
    if (!key.ok()) return ReplyError(res, 400, key.status().message());
    if (Status s = node_.Set(*key, req.body); !s.ok()) return ReplyStatus(res, s);
    Reply(res, 200, json{{"stored", *key}, {"bytes", req.body.size()}});
  }

  void Get(const httplib::Request& req, httplib::Response& res) {
    auto key = KeyOfQuery(req);
    if (!key.ok()) return ReplyError(res, 400, key.status().message());
    auto value = node_.Get(*key);
    if (!value.ok()) return ReplyStatus(res, value.status());
    if (!value->has_value()) return Reply(res, 404, json{{"error", "not found"}, {"key", *key}});
    res.status = 200;
    // Values other writers stored (a simple_cmd shell, say) need not be JSON.
    res.set_content(**value, json::accept(**value) ? kJson : "application/octet-stream");
  }

  void Delete(const httplib::Request& req, httplib::Response& res) {
    auto key = KeyOfQuery(req);
    if (!key.ok()) return ReplyError(res, 400, key.status().message());
    auto existed = node_.Del(*key);
    if (!existed.ok()) return ReplyStatus(res, existed.status());
    Reply(res, 200, json{{"deleted", *key}, {"existed", *existed}});
  }

  void Nodes(httplib::Response& res) {
    auto members = node_.Members();
    if (!members.ok()) return ReplyStatus(res, members.status());
    json list = json::array();
    for (const auto& [id, state] : *members) list.push_back(json{{"id", id}, {"state", state}});
    Reply(res, 200, json{{"self", node_.id()}, {"members", list}});
  }

  void Stats(httplib::Response& res) {
    auto stats = node_.Stats();
    if (!stats.ok()) return ReplyStatus(res, stats.status());
    json out = json::object();
    for (const auto& [name, value] : *stats) out[name] = StatValue(value);
    Reply(res, 200, out);
  }

  meshcache::Node& node_;
};

// Why cpp-httplib itself refused a request.
std::string Refusal(const httplib::Request& req, int status, size_t max_body) {
  if (status == 404) return "no route for " + req.method + " " + req.path;
  if (status == 413) {
    return "body over " + std::to_string(max_body) + " bytes (form-encoded bodies: 8192)";
  }
  return "HTTP " + std::to_string(status) + " for " + req.method + " " + req.path;
}

// Before binding: the port is this gateway's alone, bodies over max_body
// are refused before they are read, what cpp-httplib refuses by itself is
// answered in JSON too, and every request is logged (debug).
void Configure(httplib::Server& svr, const std::shared_ptr<spdlog::logger>& log, size_t max_body) {
  // cpp-httplib's default, SO_REUSEPORT, would let a second gateway share the
  // port unnoticed; SO_REUSEADDR still allows a quick restart.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  svr.set_payload_max_length(max_body);
  svr.set_error_handler(httplib::Server::HandlerWithResponse(
      [max_body](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        ReplyError(res, res.status, Refusal(req, res.status, max_body));
        return httplib::Server::HandlerResponse::Handled;
      }));
  svr.set_logger([log](const httplib::Request& req, const httplib::Response& res) {
    log->debug("{} {} -> {}", req.method, req.target, res.status);
  });
}

// Serves until SIGINT/SIGTERM or until the node or the server stops by itself.
int Serve(httplib::Server& svr, meshcache::Node& node, const sigset_t& stop_signals) {
  std::atomic<bool> listening_ended{false};
  std::thread http([&] {
    svr.listen_after_bind();
    listening_ended = true;
  });
  // stop() is a no-op until listen has started; the signal stays pending.
  while (!svr.is_running() && !listening_ended) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  int sig =
      examples::WaitForStopSignal(stop_signals, [&] { return node.running() && !listening_ended; });
  svr.stop();
  http.join();
  node.Stop();
  return sig;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("simple_http: an HTTP gateway node of a meshcache mesh", "simple_http");
  examples::MeshFlags flags;
  flags.log_level = "info";
  examples::AddMeshFlags(app, flags, "HTTP port of this gateway");
  if (auto code = examples::ParseFlags(app, argc, argv)) return *code;

  const sigset_t stop_signals = examples::BlockStopSignals();  // before any thread starts
  meshcache::NodeOptions options = examples::NodeOptionsFor(flags, "simple_http");
  auto log = spdlog::get("simple_http");
  httplib::Server svr;
  Configure(svr, log, options.max_value_bytes);  // a larger body would be too_large anyway
  if (!svr.bind_to_port(flags.ip, flags.port)) {
    log->error("cannot listen on http://{}:{} (in use?)", flags.ip, flags.port);
    return 2;
  }
  auto node = meshcache::Node::Start(options);
  if (!node.ok()) {
    log->error("cannot start the node: {} ({})", node.status().ToString(), examples::PortRule());
    return 2;
  }
  Gateway gateway(**node);
  gateway.Route(svr);
  log->info("http://{}:{} serving; node {}{}", flags.ip, flags.port, (*node)->id(),
            options.join.empty() ? " starts the mesh" : " joining via " + options.join[0]);
  int sig = Serve(svr, **node, stop_signals);
  if (sig == 0) {
    log->error("stopped: the node or the HTTP server ended by itself");
    return 1;
  }
  log->info("signal {}: stopped", sig);
  return 0;
}
