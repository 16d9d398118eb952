# Shared by deploy/run and deploy/test: paths and the configure+build step.
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="$(nproc 2>/dev/null || echo 2)"

# build DIR CMAKE-ARGS...: configure (once) and build with Ninja.
build() {
  local dir="$1"; shift
  cmake -S "$top" -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}
