// Anchor of the tests' precompiled header (tests/CMakeLists.txt).
