# Shared by deploy/run and deploy/test: paths and the configure+build step.
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="$(nproc 2>/dev/null || echo 2)"

# build DIR CMAKE-ARGS... [-- BUILD-ARGS...]: configure and build with Ninja
# (BUILD-ARGS such as `--target x` limit what is built).
build() {
  local dir="$1"; shift
  local configure=() rest=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do configure+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  rest=("$@")
  cmake -S "$top" -B "$dir" -G Ninja "${configure[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs" "${rest[@]}"
}
