#pragma once

// The configuration file of `chorus` (TOML, toml++), read into Options.
//
// Precedence, lowest first: the embedded default (deploy/chorus.toml.example,
// compiled in), the file named by --config, then the other command-line
// flags. Every key is checked: unknown keys, wrong types and out-of-range
// values are errors naming the key, the value and what is allowed.

#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "focus/ops/options.hpp"

namespace chorus::focus {

struct ConfigError {
  // One line per problem: "FILE:LINE: key = value: what is allowed".
  std::string message;
  // True when a command-line flag was wrong (print the usage text too).
  bool bad_flag = false;
};

// The text of deploy/chorus.toml.example as built into the binary.
std::string_view embedded_config();

// Applies the settings in `toml` on top of `base`. `source` names the text in
// messages (a path, or "<embedded>"). Never throws.
std::variant<Options, ConfigError> apply_config(std::string_view toml, std::string_view source,
                                                Options base);

// Reads `path` and applies it on top of `base`.
std::variant<Options, ConfigError> load_config_file(const std::string& path, Options base);

// The whole chain for argv (without the program name): embedded default,
// --config FILE if given, then the flags. Also used on SIGHUP.
std::variant<Options, ConfigError> configure(std::span<const char* const> args);

}  // namespace chorus::focus
