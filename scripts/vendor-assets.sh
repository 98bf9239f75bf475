#!/bin/bash
# Copy the browser libraries pinned in package.json from the npm registry into
# app/static/vendor/ (committed: the platform serves them itself, venues are offline).
# Needs npm; run it only to change a version, then commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# package file in the tarball -> file served under app/static/vendor/
declare -A files=(
    [htmx.org]="dist/htmx.min.js:htmx.min.js"
    [chart.js]="dist/chart.umd.min.js:chart.umd.min.js"
    [@xterm/xterm]="lib/xterm.js:xterm.js css/xterm.css:xterm.css"
    [@xterm/addon-fit]="lib/addon-fit.js:addon-fit.js"
    [@xterm/addon-unicode11]="lib/addon-unicode11.js:addon-unicode11.js"
)
rm -rf app/static/vendor
for package in "${!files[@]}"; do
    version=$(python3 -c "import json,sys; print(json.load(open('package.json'))['dependencies'][sys.argv[1]])" "$package")
    (cd "$work" && npm pack --silent "$package@$version" >/dev/null)
    tarball=$(ls "$work"/*.tgz)
    name=${package#@}; name=${name//\//-}
    mkdir -p "$work/x" "app/static/vendor/$name"
    tar xzf "$tarball" -C "$work/x"
    for pair in ${files[$package]}; do
        cp "$work/x/package/${pair%%:*}" "app/static/vendor/$name/${pair##*:}"
    done
    cp "$work/x/package"/LICENSE* "app/static/vendor/$name/"
    echo "$package $version" > "app/static/vendor/$name/VERSION"
    rm -rf "$work/x" "$tarball"
done
ls -R app/static/vendor
