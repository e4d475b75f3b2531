# openae_check_rt_wall(DIRS OUT_VAR): lists every #include in DIRS that is not the standard
# library, a POSIX header or openae/rt/. Usable at configure time and in script mode:
#   cmake -DOPENAE_RT_WALL_DIRS="dir1;dir2" -P cmake/check_rt_wall.cmake
function(openae_check_rt_wall dirs out_var)
    set(violations "")
    foreach(dir IN LISTS dirs)
        file(GLOB_RECURSE files "${dir}/*.h" "${dir}/*.hpp" "${dir}/*.cpp")
        foreach(file IN LISTS files)
            file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include")
            foreach(line IN LISTS lines)
                if(NOT line MATCHES "#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"]")
                    continue()
                endif()
                set(header "${CMAKE_MATCH_1}")
                if(header MATCHES "^openae/rt/" OR header MATCHES "^openae/openae\\.h$"
                   OR header MATCHES "^[a-z_]+$"
                   OR header MATCHES "^sys/[a-z_]+\\.h$"
                   OR header MATCHES "^(unistd|fcntl|pthread|sched|time|errno|stdint|stddef)\\.h$")
                    continue()
                endif()
                string(APPEND violations "  ${file}: #include <${header}>\n")
            endforeach()
        endforeach()
    endforeach()
    set(${out_var} "${violations}" PARENT_SCOPE)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
    openae_check_rt_wall("${OPENAE_RT_WALL_DIRS}" found)
    if(found)
        message(FATAL_ERROR "ae_rt may depend on the standard library only:\n${found}")
    endif()
    message(STATUS "rt wall: clean")
endif()
