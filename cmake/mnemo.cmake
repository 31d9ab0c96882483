# Helpers shared by every layer: one place for warnings, sanitizers and test registration.
include_guard(GLOBAL)

set(MNEMO_WARNINGS -Wall -Wextra -Werror -Wno-unused-parameter)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND MNEMO_WARNINGS -Wno-missing-field-initializers)
endif()

if(MNEMO_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Floating-point contraction is explicit (Highway MulAdd) so scalar references are reproducible.
add_compile_options(-ffp-contract=off)

# mnemo_add_library(NAME SOURCES a.cc b.cc DEPS lib...)
# A static library of one layer. Its headers are reached as "layer/file.h" from src/.
function(mnemo_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)
  target_compile_options(${name} PRIVATE ${MNEMO_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# mnemo_add_test(NAME SOURCES a_test.cc DEPS lib... LABELS unit|model|asan|slow)
# One GoogleTest executable; each TEST is its own ctest case carrying LABELS.
function(mnemo_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_compile_options(${name} PRIVATE ${MNEMO_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} mnemo_test_util GTest::gtest GTest::gtest_main GTest::gmock)
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  include(GoogleTest)
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST
                       PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()

if(MNEMO_FUZZ)
  # Libraries get coverage instrumentation; fuzz targets link the libFuzzer driver.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
