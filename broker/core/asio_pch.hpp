// Precompiled header: the heavy Boost headers every broker translation unit uses.
#pragma once

#include <utility>  // before Boost.Asio 1.74: its awaitable.hpp forgets it

#include <boost/asio.hpp>
#include <boost/intrusive_ptr.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>
