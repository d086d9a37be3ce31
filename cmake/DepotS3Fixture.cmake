# The Ceph RADOS Gateway that the S3 integration tests run against, as a CTest fixture.
#
# object_s3_gateway_start (FIXTURES_SETUP s3_gateway) runs scripts/ceph-up.sh with
# CEPH_DIR=${DEPOT_TEST_CEPH_DIR} (default <build>/ceph) and the cache's ports, and
# object_s3_gateway_stop (FIXTURES_CLEANUP s3_gateway) runs scripts/ceph-down.sh (KEEP=1 in
# ctest's environment keeps the logs). CTest adds both to any run
# that selects a test needing the gateway, also under -L/-R filters. When the start fails, every
# test that needs the gateway is reported "Not Run" and the run fails: none passes silently.
#
# Ceph not installed (checked at configure time with ceph-up.sh --check): the start test prints
# a loud message and passes, the tests get no DEPOT_TEST_S3_ENDPOINT and skip (gtest:
# DEPOT_REQUIRE_GATEWAY; scripts: exit 77), except with DEPOT_TEST_INTEGRATION=1 in ctest's
# environment, where the start test fails and with it every dependent test.
#
#   depot_s3_test(NAME n SOURCES a.cc ... [LIBS ...] [TIMEOUT s])
#       a depot_test linked with depot_s3_testing (gateway.h, fault_proxy.h)
#   depot_s3_script_test(NAME n COMMAND prog args ... [TIMEOUT s])
#       a script; exit 77 means skipped
# Both: labels object;s3;integration, FIXTURES_REQUIRED and RESOURCE_LOCK s3_gateway (one test at
# a time uses the gateway), and the environment DEPOT_TEST_S3_ENDPOINT (when Ceph is installed),
# DEPOT_TEST_S3_ACCESS_KEY, DEPOT_TEST_S3_SECRET_KEY, DEPOT_TEST_CEPH_DIR, DEPOT_TEST_SCRIPTS_DIR.
include_guard(GLOBAL)

set(DEPOT_TEST_RGW_PORT 7480 CACHE STRING "Port of the RADOS Gateway started for the S3 tests")
set(DEPOT_TEST_CEPH_MON_PORT 40789 CACHE STRING
    "msgr v1 port of the Ceph monitor started for the S3 tests (v2 uses the next one)")

get_filename_component(DEPOT_TEST_SCRIPTS_DIR "${CMAKE_CURRENT_LIST_DIR}/../scripts" ABSOLUTE)
set(DEPOT_TEST_CEPH_DIR "${CMAKE_BINARY_DIR}/ceph" CACHE PATH
    "Directory of the Ceph cluster started for the S3 tests (deleted when they end)")
set(DEPOT_TEST_S3_ACCESS_KEY TESTACCESS)
set(DEPOT_TEST_S3_SECRET_KEY TESTSECRET)

execute_process(COMMAND "${DEPOT_TEST_SCRIPTS_DIR}/ceph-up.sh" --check
                RESULT_VARIABLE _depot_ceph_check OUTPUT_QUIET ERROR_QUIET)
set(_depot_s3_env
    "DEPOT_TEST_S3_ACCESS_KEY=${DEPOT_TEST_S3_ACCESS_KEY}"
    "DEPOT_TEST_S3_SECRET_KEY=${DEPOT_TEST_S3_SECRET_KEY}"
    "DEPOT_TEST_CEPH_DIR=${DEPOT_TEST_CEPH_DIR}"
    "DEPOT_TEST_SCRIPTS_DIR=${DEPOT_TEST_SCRIPTS_DIR}")

if(_depot_ceph_check EQUAL 0)
  list(APPEND _depot_s3_env "DEPOT_TEST_S3_ENDPOINT=http://127.0.0.1:${DEPOT_TEST_RGW_PORT}")
  add_test(NAME object_s3_gateway_start COMMAND "${DEPOT_TEST_SCRIPTS_DIR}/ceph-up.sh")
  set_tests_properties(object_s3_gateway_start PROPERTIES ENVIRONMENT
    "CEPH_DIR=${DEPOT_TEST_CEPH_DIR};RGW_PORT=${DEPOT_TEST_RGW_PORT};MON_PORT=${DEPOT_TEST_CEPH_MON_PORT};S3_ACCESS_KEY=${DEPOT_TEST_S3_ACCESS_KEY};S3_SECRET_KEY=${DEPOT_TEST_S3_SECRET_KEY}")
else()
  message(WARNING "Ceph (ceph, radosgw) is not installed: the S3 integration tests will skip, "
                  "or fail with DEPOT_TEST_INTEGRATION=1. Install it (scripts/install-deps) and "
                  "re-run cmake.")
  # A loud message; the test's status is DEPOT_TEST_INTEGRATION's.
  set(_depot_ceph_missing
      "*** NO CEPH: ceph and radosgw were not installed when cmake ran, so the S3 integration "
      "tests skip (and fail with DEPOT_TEST_INTEGRATION=1). Install them (scripts/install-deps) "
      "and re-run cmake. ***")
  string(JOIN "" _depot_ceph_missing ${_depot_ceph_missing})
  add_test(NAME object_s3_gateway_start
           COMMAND sh -c "echo \"$0\" >&2; test \"$DEPOT_TEST_INTEGRATION\" != 1"
                   "${_depot_ceph_missing}")
endif()
set_tests_properties(object_s3_gateway_start PROPERTIES
  FIXTURES_SETUP s3_gateway LABELS "object;s3;integration" TIMEOUT 300)

add_test(NAME object_s3_gateway_stop COMMAND "${DEPOT_TEST_SCRIPTS_DIR}/ceph-down.sh")
set_tests_properties(object_s3_gateway_stop PROPERTIES
  FIXTURES_CLEANUP s3_gateway LABELS "object;s3;integration" TIMEOUT 120
  ENVIRONMENT "CEPH_DIR=${DEPOT_TEST_CEPH_DIR}")

# A global property, not a variable: the functions below are called from other directories.
set_property(GLOBAL PROPERTY DEPOT_S3_TEST_ENVIRONMENT "${_depot_s3_env}")

# What every test of the gateway shares.
function(_depot_s3_test_properties name timeout)
  if(NOT timeout)
    set(timeout 600)
  endif()
  get_property(environment GLOBAL PROPERTY DEPOT_S3_TEST_ENVIRONMENT)
  set_tests_properties(${name} PROPERTIES
    LABELS "object;s3;integration" TIMEOUT ${timeout}
    FIXTURES_REQUIRED s3_gateway RESOURCE_LOCK s3_gateway
    ENVIRONMENT "${environment}")
endfunction()

function(depot_s3_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS OR NOT ARG_NAME OR NOT ARG_SOURCES)
    message(FATAL_ERROR "depot_s3_test(NAME n SOURCES ... [LIBS ...] [TIMEOUT s]): got ${ARGN}")
  endif()
  if(NOT DEPOT_BUILD_INTEGRATION_TESTS)
    return()  # the sanitizer builds run only the unit tests: nothing to build for the gateway
  endif()
  depot_test(NAME ${ARG_NAME} SOURCES ${ARG_SOURCES} LABELS object s3 integration
             LIBS depot_s3_testing ${ARG_LIBS})
  _depot_s3_test_properties(${ARG_NAME} "${ARG_TIMEOUT}")
endfunction()

function(depot_s3_script_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "COMMAND" ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS OR NOT ARG_NAME OR NOT ARG_COMMAND)
    message(FATAL_ERROR "depot_s3_script_test(NAME n COMMAND ... [TIMEOUT s]): got ${ARGN}")
  endif()
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_COMMAND})
  _depot_s3_test_properties(${ARG_NAME} "${ARG_TIMEOUT}")
  set_tests_properties(${ARG_NAME} PROPERTIES SKIP_RETURN_CODE 77)
endfunction()
