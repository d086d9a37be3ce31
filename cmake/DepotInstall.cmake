# Installs libdepot, its public headers and a package config, so that after `cmake --install`
# a consumer writes find_package(depot) and links depot::depot.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS depot EXPORT depotTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/src/depot DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h" PATTERN "testing" EXCLUDE)
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
