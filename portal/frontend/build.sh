#!/bin/sh
# Build the portal's front end from the versions pinned in package-lock.json, into
# portal/static/govuk (committed, so installing or testing the portal needs no Node), and copy
# axe-core's single file to tests/assets for the accessibility tests. Run it again only to
# change a version: `sh portal/frontend/build.sh`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/portal/static/govuk"
cd "$here"
npm ci --no-audit --no-fund --ignore-scripts
mkdir -p "$out" "$root/tests/assets"
npx sass --no-source-map --style=compressed \
  --load-path=node_modules/govuk-frontend/dist portal.scss "$out/govuk-frontend.min.css"
cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js "$out/"
# govuk-frontend is MIT licensed (see its package.json); the notice is in the minified file.
cp node_modules/axe-core/axe.min.js "$root/tests/assets/axe.min.js"
cp node_modules/axe-core/LICENSE "$root/tests/assets/axe-LICENSE.txt"
node -e 'const l=require("./package-lock.json").packages;for(const p of ["govuk-frontend","axe-core","sass"])console.log(p, l["node_modules/"+p].version)' \
  > "$out/VERSIONS.txt"
echo "built into $out and $root/tests/assets"
