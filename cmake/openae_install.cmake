# install(): the headers, libopenae.so (SONAME libopenae.so.MAJOR), a relocatable CMake package
# (find_package(openae) -> openae::openae) and a relocatable openae.pc. The static component
# libraries (ae_rt, ae_pipeline, ae_engine, ae_control) are the build's own and are not installed:
# libopenae.so is all of them, exporting only the API, and linking it needs nothing but itself.
include(CMakePackageConfigHelpers)
install(DIRECTORY include/openae DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS openae EXPORT openaeTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_COMPONENT Development
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT openaeTargets NAMESPACE openae:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/openae)
# The package needs nothing found on the consumer's side: openae::openae is an imported shared
# library whose link dependencies are its own (DT_NEEDED). A C++ consumer compiles the public
# headers, which use standalone Asio's completion tokens: asio's headers (libasio-dev) must be there.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/openaeConfig.cmake.in
     "@PACKAGE_INIT@\n"
     "include(\"\${CMAKE_CURRENT_LIST_DIR}/openaeTargets.cmake\")\n"
     "check_required_components(openae)\n")
configure_package_config_file(${CMAKE_CURRENT_BINARY_DIR}/openaeConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/openaeConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/openae)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/openaeConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/openaeConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/openaeConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/openae)

# openae.pc, relocatable: the prefix is found from the .pc file's own place (${pcfiledir}), so an
# install moved or made with any --prefix points consumers at itself. Cflags are a C compiler's
# (C++ consumers add -std=c++23 themselves; the Asio defines are harmless to C). Libs.private:
# what libopenae.so itself links, for `pkg-config --static` users who link the objects whole —
# as libraries, not Requires.private, whose Cflags pkg-config would hand every consumer.
set(_pc_libdir_up "..")
string(REGEX MATCHALL "/" _libdir_slashes "${CMAKE_INSTALL_LIBDIR}")
foreach(_slash IN LISTS _libdir_slashes)
    string(APPEND _pc_libdir_up "/..")
endforeach()
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/openae.pc
     "prefix=\${pcfiledir}/${_pc_libdir_up}/..\n"
     "libdir=\${prefix}/${CMAKE_INSTALL_LIBDIR}\nincludedir=\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}\n\n"
     "Name: openae\nDescription: ${PROJECT_DESCRIPTION}\nVersion: ${PROJECT_VERSION}\n"
     "Cflags: -I\${includedir} -DASIO_STANDALONE -DASIO_NO_DEPRECATED\n"
     "Libs: -L\${libdir} -lopenae\n"
     "Libs.private: -lsoxr -lsndfile -lasound -ljack -lpipewire-0.3 -lspdlog -lfmt -lstdc++ -lm -lpthread\n")
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/openae.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
