#pragma once
// Names the calling thread as `top -H`, `perf` and gdb show it, so that an
// operator can tell the I/O workers from the store's writer and from each
// exporter. Linux keeps at most 15 characters; longer names are cut.
#include <pthread.h>

#include <string>

namespace strata {

inline void name_this_thread(std::string name) {
    if (name.size() > 15) name.resize(15);
    pthread_setname_np(pthread_self(), name.c_str());
}

}  // namespace strata
