#!/bin/sh
# Make sure the Debian packages the platform needs beside Python are present:
#   fonts and Pango for the after-action PDFs (WeasyPrint, Japanese fonts embedded),
#   and with --browser (make test), Chromium for the browser tests (Playwright never downloads one)
#   and openssl and perl, which the password tests use.
# As root on Debian it installs what is missing; otherwise it says what to install.
set -u
packages="fonts-ipaexfont-gothic fonts-ipaexfont-mincho libpango-1.0-0 libpangoft2-1.0-0"
# The tests also make password hashes with openssl and perl, independent of the platform's libcrypt binding.
[ "${1:-}" = "--browser" ] && packages="$packages chromium openssl perl"

missing=""
for package in $packages; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "mamori: missing Debian packages:$missing — as root run 'apt-get install$missing'" >&2
    # The platform runs without them (the PDF page names the package); the browser tests cannot.
    [ "${1:-}" = "--browser" ] && exit 1
    exit 0
fi
echo "mamori: installing$missing (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
{ apt-get update -q && apt-get install -y -q --no-install-recommends $missing; } >/tmp/mamori-apt.log 2>&1 || {
    echo "mamori: apt-get install$missing failed; see /tmp/mamori-apt.log" >&2
    exit 1
}
