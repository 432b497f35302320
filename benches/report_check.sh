#!/usr/bin/env bash
# Render the HTML report in headless Chromium and check that every image loads.
#   bash benches/report_check.sh REPORT_DIR      (make report-check)
# Installs Debian's chromium when it is missing. Writes REPORT_DIR/screenshot.png.
set -euo pipefail
root=${1:?usage: report_check.sh REPORT_DIR}
[ -f "$root/index.html" ] || { echo "report-check: $root/index.html does not exist (run make report first)"; exit 1; }
if ! command -v chromium >/dev/null; then
  echo "report-check: installing chromium (Debian package)"
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
# `alsflow report` writes one folder per dataset; check each dataset's page.
pages=("$root"/*/index.html)
[ -f "${pages[0]}" ] || { echo "report-check: no dataset report under $root"; exit 1; }
for page in "${pages[@]}"; do
dir=$(dirname "$page")
probe="$dir/.check.html"
# The probe is the report plus a script that counts images and SVGs after load and
# writes the result into the DOM, which --dump-dom then prints.
sed 's#</body>#<script>window.addEventListener("load",function(){var imgs=[].slice.call(document.images);var bad=imgs.filter(function(i){return !(i.complete\&\&i.naturalWidth>0)}).map(function(i){return i.getAttribute("src")});var m=document.createElement("pre");m.id="report-check";m.textContent="REPORT-CHECK images="+imgs.length+" inline_svgs="+document.querySelectorAll("svg").length+" broken="+bad.length+" "+bad.join(",");document.body.appendChild(m);});</script></body>#' "$page" > "$probe"
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --virtual-time-budget=5000)
out=$(chromium "${flags[@]}" --dump-dom "file://$(realpath "$probe")" 2>/dev/null | grep -o 'REPORT-CHECK images=[0-9][^<]*' || true)
chromium "${flags[@]}" --window-size=1280,2400 --screenshot="$(realpath "$dir")/screenshot.png" "file://$(realpath "$page")" >/dev/null 2>&1 || true
rm -f "$probe"
echo "$out"
[ -n "$out" ] || { echo "report-check: the page did not finish loading"; exit 1; }
images=$(sed -n 's/.*images=\([0-9]*\).*/\1/p' <<<"$out")
svgs=$(sed -n 's/.*inline_svgs=\([0-9]*\).*/\1/p' <<<"$out")
broken=$(sed -n 's/.*broken=\([0-9]*\).*/\1/p' <<<"$out")
if [ "$broken" != "0" ]; then echo "report-check: $broken image(s) failed to load"; exit 1; fi
if [ $((images + svgs)) -eq 0 ]; then echo "report-check: the report has no images"; exit 1; fi
echo "report-check: $page ok ($images images, $svgs inline SVGs, none broken; screenshot in $dir/screenshot.png)"
done
