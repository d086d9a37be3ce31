# Installs libdepot, its public headers (not the internal ones) and a package config, so that after `cmake --install`
# a consumer writes find_package(depot) and links depot::depot (every layer), or one layer
# (depot::core, depot::object, depot::object_local, ...).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

get_property(depot_libraries GLOBAL PROPERTY DEPOT_LIBRARIES)
install(TARGETS depot ${depot_libraries} EXPORT depotTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Public headers only. A header whose opening comment says it is internal ("(internal ...",
# "Internal to ...") stays in the source tree, as does test support (testing/ folders);
# tests/find_package checks that no installed header includes one that was left out.
file(GLOB_RECURSE depot_headers RELATIVE ${PROJECT_SOURCE_DIR}/src
     CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/depot/*.h)
foreach(header IN LISTS depot_headers)
  if(header MATCHES "/testing/")
    continue()
  endif()
  file(STRINGS ${PROJECT_SOURCE_DIR}/src/${header} opening LIMIT_COUNT 6)
  if(opening MATCHES "\\(internal|Internal to")
    continue()
  endif()
  get_filename_component(header_dir ${header} DIRECTORY)
  install(FILES ${PROJECT_SOURCE_DIR}/src/${header}
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/${header_dir})
endforeach()
install(EXPORT depotTargets NAMESPACE depot:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/depot)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/depotConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/depotConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/depot)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/depotConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/depotConfig.cmake ${PROJECT_BINARY_DIR}/depotConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/depot)
if(DEPOT_BUILD_TOOLS)
  install(TARGETS depot_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
