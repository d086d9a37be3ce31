# Compiler settings shared by every depot target, as an interface library rather than global flags.
add_library(depot_build_flags INTERFACE)
# -Wmissing-field-initializers is off: depot's option structs are built with designated
# initializers ({.prefix = "a/"}) and every member has a default, which that warning flags.
target_compile_options(depot_build_flags INTERFACE -Wall -Wextra -Wpedantic
                       -Wno-missing-field-initializers $<$<BOOL:${DEPOT_WERROR}>:-Werror>)
# Clang checks the lock discipline written into the types (core/thread_annotations.h): any
# access to a DEPOT_GUARDED_BY field without its mutex is an error. The `asan` preset is the clang
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

include(GNUInstallDirs)

# depot_library(NAME name SOURCES a.cc ... [DEPS lib ...] [PRIVATE_DEPS lib ...])
# One layer (or backend) of depot as its own static library, depot::<name without depot_> for
# users. DEPS are the layers below it that its public headers use; nothing else reaches it, so a
# call into a higher layer fails to link. Every library is installed and exported
# (DepotInstall.cmake) and listed in the global property DEPOT_LIBRARIES.
function(depot_library)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${ARG_NAME} STATIC ${ARG_SOURCES})
  string(REGEX REPLACE "^depot_" "" export_name ${ARG_NAME})
  set_target_properties(${ARG_NAME} PROPERTIES EXPORT_NAME ${export_name})
  add_library(depot::${export_name} ALIAS ${ARG_NAME})
  target_include_directories(${ARG_NAME} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>
                                                $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${ARG_NAME} PUBLIC ${ARG_DEPS} PRIVATE depot_build_flags ${ARG_PRIVATE_DEPS})
  set_property(GLOBAL APPEND PROPERTY DEPOT_LIBRARIES ${ARG_NAME})
endfunction()

# depot_test(NAME name SOURCES a.cc ... LIBS depot_object ... [LABELS object ...] [TIMEOUT s]
#            [ARGS --gtest_filter=...])
# One gtest executable, one CTest entry, labelled by module. It links only the libraries it
# names (the layer under test and its test support), not the umbrella: a test that reaches a layer
# above its own fails to link.
function(depot_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SOURCES;LABELS;LIBS;ARGS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE depot_build_flags GTest::gmock GTest::gtest_main
                        ${ARG_LIBS})
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME} ${ARG_ARGS})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()
