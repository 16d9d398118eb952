// The allocation counter the zero-allocation tests rely on: it must see every
// form of operator new, per thread, under ASan and in an optimised (Release)
// build, where unused new-expressions may be omitted unless their pointer
// escapes (alloc::escape).
#include "rtp/alloc_counter.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

CHORUS_DEFINE_COUNTING_NEW();

namespace chorus::rtp {
namespace {

struct alignas(64) Aligned {
  char c[64];
};

// new + escape + delete: the allocation cannot be omitted.
template <class T>
T* kept(T* p) {
  alloc::escape(p);
  return p;
}

TEST(AllocCounter, CountsEveryFormOfNew) {
  const uint64_t before = alloc::count();
  delete kept(new int(1));
  delete[] kept(new int[4]);
  delete kept(new (std::nothrow) int(2));
  delete kept(new Aligned);
  delete[] kept(new Aligned[2]);
  EXPECT_EQ(alloc::count() - before, 5u);
}

TEST(AllocCounter, CountsLibraryAllocations) {
  const uint64_t before = alloc::count();
  std::vector<int> v(100);
  std::string s(200, 'x');
  alloc::escape(v.data());
  alloc::escape(s.data());
  EXPECT_GE(alloc::count() - before, 2u);
  EXPECT_EQ(v.size() + s.size(), 300u);
}

TEST(AllocCounter, StackWorkCountsNothing) {
  const uint64_t before = alloc::count();
  int sum = 0;
  for (int i = 0; i < 1000; ++i) sum += i;
  EXPECT_EQ(sum, 499500);
  EXPECT_EQ(alloc::count() - before, 0u);
}

TEST(AllocCounter, CountIsPerThreadAndTotalIsGlobal) {
  const uint64_t mine = alloc::count();
  const uint64_t total = alloc::total();
  std::thread t([] {
    for (int i = 0; i < 10; ++i) delete kept(new int(i));
  });
  t.join();
  // std::thread itself allocates its state on this thread; the 10 ints were
  // the other thread's.
  EXPECT_LT(alloc::count() - mine, 10u);
  EXPECT_GE(alloc::total() - total, 10u);
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
