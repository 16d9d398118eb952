#pragma once

#include <string_view>

namespace chorus::focus {

// The web console (one self-contained HTML page: markup, style and script,
// nothing fetched from elsewhere), served at "/" by the admin listener.
std::string_view console_page();

}  // namespace chorus::focus
