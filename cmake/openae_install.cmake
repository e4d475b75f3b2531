# install(): headers, libraries, openaeConfig.cmake and openae.pc, so hosts can
# find_package(openae) or pkg-config --cflags --libs openae.
include(CMakePackageConfigHelpers)
install(DIRECTORY include/openae DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS ae_rt ae_pipeline ae_engine ae_control openae_asio EXPORT openaeTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT openaeTargets NAMESPACE openae:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/openae)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/openaeConfig.cmake.in
     "@PACKAGE_INIT@\ninclude(CMakeFindDependencyMacro)\nfind_dependency(Threads)\nfind_dependency(PkgConfig)\n"
     "find_dependency(spdlog)\nfind_dependency(nlohmann_json)\nfind_dependency(fmt)\nfind_dependency(ALSA)\n"
     "pkg_check_modules(SOXR REQUIRED IMPORTED_TARGET soxr)\npkg_check_modules(SNDFILE REQUIRED IMPORTED_TARGET sndfile)\npkg_check_modules(JACK REQUIRED IMPORTED_TARGET jack)\npkg_check_modules(PIPEWIRE REQUIRED IMPORTED_TARGET libpipewire-0.3)\n"
     "include(\"\${CMAKE_CURRENT_LIST_DIR}/openaeTargets.cmake\")\n")
configure_package_config_file(${CMAKE_CURRENT_BINARY_DIR}/openaeConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/openaeConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/openae)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/openaeConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/openaeConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/openaeConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/openae)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/openae.pc
     "prefix=${CMAKE_INSTALL_PREFIX}\nlibdir=\${prefix}/${CMAKE_INSTALL_LIBDIR}\nincludedir=\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}\n\n"
     "Name: openae\nDescription: ${PROJECT_DESCRIPTION}\nVersion: ${PROJECT_VERSION}\n"
     "Requires.private: soxr sndfile alsa jack libpipewire-0.3\n"
     "Cflags: -I\${includedir} -std=c++23 -DASIO_STANDALONE -DASIO_NO_DEPRECATED\n"
     "Libs: -L\${libdir} -lae_control -lae_engine -lae_pipeline -lae_rt -lspdlog -lfmt -lpthread\n")
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/openae.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
