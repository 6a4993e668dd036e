# The Debian package (docs/operations.md#installing): install() rules for what the .deb
# holds, the man pages generated from docs/ at build time, and CPack's DEB generator.
#   cmake --build --preset release --target package   ->  build/release/stsd_<version>_<arch>.deb
# (scripts/package.sh does the same from a clean configure). Included from the top-level
# CMakeLists.txt for every build but the fuzz one.

find_program(STSD_PANDOC pandoc REQUIRED)  # the man pages' writer; scripts/deps.sh installs it
find_program(STSD_GZIP gzip REQUIRED)

set(_pkg_dir ${PROJECT_SOURCE_DIR}/packaging)
set(_pkg_out ${PROJECT_BINARY_DIR}/packaging)

# Man pages: one markdown source each, the same text the docs link (docs/man/*.md pull in
# docs/configuration.md and plugins/admin/README.md's stsctl section), written by pandoc
# and gzipped as Debian policy §12.1 asks. `stsd_man_pages` is built with `all`, so the
# package always holds the pages of the docs it was built from.
set(_man_pages)
foreach(page stsd.8 stsctl.8 stsd.yaml.5)
  set(_out ${_pkg_out}/man/${page}.gz)
  add_custom_command(
    OUTPUT ${_out}
    COMMAND ${Python3_EXECUTABLE} ${_pkg_dir}/build_man.py
            --source ${PROJECT_SOURCE_DIR} --page ${page} --version ${PROJECT_VERSION}
            --pandoc ${STSD_PANDOC} --output ${_out}
    DEPENDS ${_pkg_dir}/build_man.py ${_pkg_dir}/man_links.lua
            ${PROJECT_SOURCE_DIR}/docs/man/${page}.md
            ${PROJECT_SOURCE_DIR}/docs/configuration.md
            ${PROJECT_SOURCE_DIR}/plugins/admin/README.md
    COMMENT "Generating man page ${page} from docs/man/${page}.md"
    VERBATIM)
  list(APPEND _man_pages ${_out})
endforeach()
add_custom_target(stsd_man_pages ALL DEPENDS ${_man_pages})

# Files that Debian wants compressed or owned by root with fixed modes.
add_custom_command(
  OUTPUT ${_pkg_out}/changelog.gz
  COMMAND ${STSD_GZIP} -9nc ${_pkg_dir}/debian/changelog > ${_pkg_out}/changelog.gz
  DEPENDS ${_pkg_dir}/debian/changelog
  VERBATIM)
add_custom_target(stsd_package_docs ALL DEPENDS ${_pkg_out}/changelog.gz)

install(TARGETS stsd RUNTIME DESTINATION sbin COMPONENT stsd)
install(TARGETS stsctl RUNTIME DESTINATION bin COMPONENT stsd)
install(FILES ${_pkg_dir}/stsd.yaml DESTINATION /etc/stsd
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ COMPONENT stsd)
install(FILES ${_pkg_dir}/stsd.service DESTINATION /lib/systemd/system COMPONENT stsd)
foreach(page stsd.8 stsctl.8)
  install(FILES ${_pkg_out}/man/${page}.gz DESTINATION share/man/man8 COMPONENT stsd)
endforeach()
install(FILES ${_pkg_out}/man/stsd.yaml.5.gz DESTINATION share/man/man5 COMPONENT stsd)
install(FILES ${_pkg_dir}/debian/copyright ${_pkg_out}/changelog.gz
        DESTINATION share/doc/stsd COMPONENT stsd)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME stsd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "stsd maintainers <maintainers@users.noreply.r-seed-138f6499.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "authoritative DNS server that publishes MTA-STS safely")
set(CPACK_PACKAGE_DESCRIPTION
  "stsd publishes MTA-STS (RFC 8461) for many domains: the _mta-sts TXT\n"
  "record, the TLS-RPT record and the policy file over HTTPS. Its id\n"
  "follows only policy versions confirmed as served, and rotates daily.\n"
  "stsctl is its command-line client.")
string(REPLACE ";" "" CPACK_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${_pkg_dir}/debian/conffiles ${_pkg_dir}/debian/postinst
    ${_pkg_dir}/debian/prerm ${_pkg_dir}/debian/postrm)
include(CPack)
