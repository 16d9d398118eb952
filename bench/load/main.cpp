// chorus-load: a SIP conference load generator (see bench/LOAD.md).
#include <cstdio>
#include <exception>
#include <variant>

#include "bench/load/load_run.hpp"
#include "bench/load/options.hpp"

int main(int argc, char** argv) {
  using namespace chorus::load;
  const auto parsed =
      parse_options(std::span<const char* const>(argv + 1, static_cast<size_t>(argc - 1)));
  if (const auto* error = std::get_if<OptionsError>(&parsed)) {
    std::fprintf(stderr, "chorus-load: %s\n%s", error->message.c_str(), usage().c_str());
    return 2;
  }
  const Options& options = std::get<Options>(parsed);
  if (options.help) {
    std::printf("%s", usage().c_str());
    return 0;
  }
  try {
    LoadRun run(options);
    return run.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chorus-load: %s\n", e.what());
    return 2;
  }
}
