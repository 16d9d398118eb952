#pragma once
// The one way rtp/ includes Asio: Boost 1.74 under C++20 with GCC 12 needs
// <utility> before <boost/asio.hpp> (a known header bug).

#include <utility>

#include <boost/asio.hpp>
