// A CLI11 config formatter backed by toml++ (Debian's libtomlplusplus-dev):
// `--config FILE` reads a TOML file whose keys are the long flag names
// (port = 7400, join = ["tcp://..."], memory = "256MiB"). Flags given on the
// command line win over the file. Nested tables are not used. A name that is
// no setting, and a syntax error, are refused with their line.
#pragma once

#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <sstream>
#include <utility>

namespace meshcache::tools {

class TomlConfig : public CLI::Config {
 public:
  // known(name): whether name is a setting (a long flag without its "--").
  explicit TomlConfig(std::function<bool(const std::string&)> known) : known_(std::move(known)) {}

  std::string to_config(const CLI::App*, bool, bool, std::string) const override { return ""; }

  std::vector<CLI::ConfigItem> from_config(std::istream& in) const override {
    std::stringstream text;
    text << in.rdbuf();
    toml::table table;
    try {
      table = toml::parse(text.str());
    } catch (const toml::parse_error& e) {
      std::ostringstream where;
      where << e.description() << " (line " << e.source().begin.line << ")";
      throw CLI::ConfigError("config: " + where.str());
    }
    std::vector<CLI::ConfigItem> items;
    for (const auto& [key, node] : table) {
      CLI::ConfigItem item;
      item.name = std::string(key.str());
      if (!known_(item.name)) {
        throw CLI::ConfigError("config: unknown setting \"" + item.name + "\" (line " +
                               std::to_string(key.source().begin.line) +
                               "; the settings are the long flags of --help)");
      }
      if (const toml::array* arr = node.as_array()) {
        for (const auto& v : *arr) item.inputs.push_back(Scalar(item.name, v));
      } else {
        item.inputs.push_back(Scalar(item.name, node));
      }
      items.push_back(std::move(item));
    }
    return items;
  }

 private:
  static std::string Scalar(const std::string& name, const toml::node& v) {
    if (auto s = v.value<std::string>()) return *s;
    if (auto i = v.value<int64_t>()) return std::to_string(*i);
    if (auto b = v.value<bool>()) return *b ? "true" : "false";
    if (auto d = v.value<double>()) return std::to_string(*d);
    throw CLI::ConfigError("config: " + name +
                           " must be a string, number, boolean or array of them");
  }

  std::function<bool(const std::string&)> known_;
};

}  // namespace meshcache::tools
