# openae_man_page(TARGET DESCRIPTION): TARGET.1 made from the program's own --help and --version by
# help2man (Debian's help2man package), built with the program and installed into man1. Not in
# sanitizer builds (nothing is installed from them); without help2man, no page and a note.
find_program(OPENAE_HELP2MAN help2man)
function(openae_man_page target description)
    if(OPENAE_SANITIZE)
        return()
    endif()
    if(NOT OPENAE_HELP2MAN)
        message(STATUS "help2man not found: no man page for ${target}")
        return()
    endif()
    set(page ${CMAKE_CURRENT_BINARY_DIR}/${target}.1)
    add_custom_command(OUTPUT ${page}
                       COMMAND ${CMAKE_COMMAND} -E env OPENAE_DEFAULT_DEVICE=null
                               ${OPENAE_HELP2MAN} --no-info --section=1 --name=${description} --output=${page} $<TARGET_FILE:${target}>
                       DEPENDS ${target} VERBATIM)
    add_custom_target(${target}-man ALL DEPENDS ${page})
    install(FILES ${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endfunction()
