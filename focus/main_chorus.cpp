// `chorus`: the conference focus server.

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <span>
#include <variant>

#include "focus/options.hpp"
#include "focus/server.hpp"
#include "signaling/asio.hpp"

int main(int argc, char** argv) {
  using chorus::focus::Options;
  using chorus::focus::OptionsError;
  const auto parsed = chorus::focus::parse_options(std::span<const char* const>(
      const_cast<const char* const*>(argv) + 1, static_cast<size_t>(argc > 0 ? argc - 1 : 0)));
  if (const auto* error = std::get_if<OptionsError>(&parsed)) {
    std::cerr << "chorus: " << error->message << "\n" << chorus::focus::usage();
    return 2;
  }
  const Options& options = std::get<Options>(parsed);
  if (options.help) {
    std::cout << chorus::focus::usage();
    return 0;
  }
  try {
    boost::asio::io_context io(1);
    chorus::focus::Server server(io, options);
    // Installed before anything is printed: whoever waits for our banner may
    // signal us right after it.
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& error, int signal_number) {
      if (error) return;
      std::cout << "chorus: signal " << signal_number << ", shutting down\n" << std::flush;
      server.stop();
      io.stop();
    });
    server.start();
    for (const chorus::sip::Endpoint& endpoint : server.stack().listening()) {
      std::cout << "chorus: SIP listening on " << endpoint.to_string() << "\n";
    }
    const std::string host = server.stack().sent_by(chorus::sip::TransportKind::kUdp);
    std::cout << "chorus: dial sip:<room>@" << host << " to join a conference (e.g. sip:demo@"
              << host << "); OPTIONS sip:" << host << " shows what the focus supports\n"
              << std::flush;
    io.run();
  } catch (const std::exception& error) {
    std::cerr << "chorus: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
