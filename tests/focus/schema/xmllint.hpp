#pragma once

// Validation of a document against one of the schemas in this folder with
// `xmllint --schema` (libxml2-utils), for the event package tests.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

namespace chorus::focus::testing {

inline bool have_xmllint() {
  return std::system("command -v xmllint >/dev/null 2>&1") == 0;
}

struct SchemaCheck {
  bool valid = false;
  std::string output;  // xmllint's messages
};

// `schema` is a file name in tests/focus/schema/.
inline SchemaCheck validate_against(std::string_view schema, const std::string& document) {
  char path[] = "/tmp/chorus_xml_XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return {false, "mkstemp failed"};
  close(fd);
  const std::string file(path);
  const std::string log = file + ".log";
  std::ofstream(file, std::ios::binary) << document;
  const std::string command = "xmllint --noout --nonet --schema '" +
                              std::string(CHORUS_SOURCE_DIR) + "/tests/focus/schema/" +
                              std::string(schema) + "' '" + file + "' >'" + log + "' 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(log);
  SchemaCheck check{status == 0, std::string(std::istreambuf_iterator<char>(in),
                                             std::istreambuf_iterator<char>())};
  std::remove(file.c_str());
  std::remove(log.c_str());
  return check;
}

}  // namespace chorus::focus::testing
