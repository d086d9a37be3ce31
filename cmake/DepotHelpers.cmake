# Compiler settings shared by every depot target, as an interface library rather than global flags.
add_library(depot_build_flags INTERFACE)
# -Wmissing-field-initializers is off: depot's option structs are built with designated
# initializers ({.prefix = "a/"}) and every member has a default, which that warning flags.
target_compile_options(depot_build_flags INTERFACE -Wall -Wextra -Wpedantic
                       -Wno-missing-field-initializers $<$<BOOL:${DEPOT_WERROR}>:-Werror>)
# Clang checks the lock discipline written into the types (core/thread_annotations.h): any
# access to a DEPOT_GUARDED_BY field without its mutex is an error. The `fuzz` preset is the clang
# build that runs it over the library in `make test`.
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  target_compile_options(depot_build_flags INTERFACE -Wthread-safety -Werror=thread-safety)
endif()
if(DEPOT_SANITIZE)
  target_compile_options(depot_build_flags INTERFACE -fsanitize=${DEPOT_SANITIZE}
                         -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(depot_build_flags INTERFACE -fsanitize=${DEPOT_SANITIZE})
endif()
install(TARGETS depot_build_flags EXPORT depotTargets)

# depot_test(NAME name SOURCES a.cc ... LABELS object ... [LIBS extra ...] [TIMEOUT s])
# One gtest executable, one CTest entry, labelled by module.
function(depot_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SOURCES;LABELS;LIBS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE depot::depot depot_build_flags GTest::gmock
                        GTest::gtest_main ${ARG_LIBS})
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()
