#pragma once

// Boost 1.74's Asio under C++20 with GCC 12 uses std::exchange and friends
// without including <utility>; include it first, and include Asio only here.
#include <utility>

#include <boost/asio.hpp>
