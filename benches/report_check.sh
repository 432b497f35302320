#!/usr/bin/env bash
# Render the HTML report in headless Chromium and check that every image loads, that
# each dataset page's History section shows its plot, and that the index page links
# every dataset page.
#   bash benches/report_check.sh REPORT_DIR      (make report-check; tests/report_history.rs)
# Installs Debian's chromium when it is missing. Writes REPORT_DIR/<dataset>/screenshot.png.
set -euo pipefail
root=${1:?usage: report_check.sh REPORT_DIR}
[ -f "$root/index.html" ] || { echo "report-check: $root/index.html does not exist (run make report first)"; exit 1; }
if ! command -v chromium >/dev/null; then
  echo "report-check: installing chromium (Debian package)"
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --virtual-time-budget=5000)

# Print what the script appended to PAGE reports once the page has loaded: the probe
# is the page plus a script that writes its findings into the DOM, which --dump-dom
# then prints.
probe() {
  local page=$1 script=$2 dir probe_file profile out
  dir=$(dirname "$page")
  probe_file="$dir/.check.html"
  profile=$(mktemp -d)
  # \001 delimits the sed expression: the page's script uses '#', '/' and '|'.
  local d=$'\001'
  sed "s${d}</body>${d}<script>window.addEventListener(\"load\",function(){var m=document.createElement(\"pre\");m.id=\"report-check\";m.textContent=\"REPORT-CHECK \"+($script);document.body.appendChild(m);});</script></body>${d}" "$page" > "$probe_file"
  out=$(chromium "${flags[@]}" --user-data-dir="$profile" --dump-dom "file://$(realpath "$probe_file")" 2>/dev/null | grep -o '<pre id="report-check">REPORT-CHECK [^<]*' | sed 's/^<pre id="report-check">//' || true)
  rm -rf "$probe_file" "$profile"
  echo "$out"
}

field() { sed -n "s/.*$1=\([0-9a-z]*\).*/\1/p" <<<"$2"; }

# `alsflow report` writes one folder per dataset; check each dataset's page.
pages=("$root"/*/index.html)
[ -f "${pages[0]}" ] || { echo "report-check: no dataset report under $root"; exit 1; }
for page in "${pages[@]}"; do
  dir=$(dirname "$page")
  out=$(probe "$page" '(function(){var imgs=[].slice.call(document.images);var bad=imgs.filter(function(i){return !(i.complete\&\&i.naturalWidth>0)}).map(function(i){return i.getAttribute("src")});var h=document.querySelector("#history img");var hs=h?((h.complete\&\&h.naturalWidth>0)?"ok":"broken"):"none";return "images="+imgs.length+" inline_svgs="+document.querySelectorAll("svg").length+" history="+hs+" broken="+bad.length+" "+bad.join(",");})()')
  profile=$(mktemp -d)
  chromium "${flags[@]}" --user-data-dir="$profile" --window-size=1280,2400 --screenshot="$(realpath "$dir")/screenshot.png" "file://$(realpath "$page")" >/dev/null 2>&1 || true
  rm -rf "$profile"
  echo "$out"
  [ -n "$out" ] || { echo "report-check: $page did not finish loading"; exit 1; }
  images=$(field images "$out"); svgs=$(field inline_svgs "$out")
  broken=$(field broken "$out"); history=$(field history "$out")
  if [ "$broken" != "0" ]; then echo "report-check: $page: $broken image(s) failed to load"; exit 1; fi
  if [ $((images + svgs)) -eq 0 ]; then echo "report-check: $page has no images"; exit 1; fi
  case "$history" in
    ok) ;;
    none) echo "report-check: $page has no History plot (no recorded run reached evaluate?)"; exit 1 ;;
    *) echo "report-check: $page: the History plot did not load"; exit 1 ;;
  esac
  echo "report-check: $page ok ($images images, $svgs inline SVGs, none broken, History plot shown; screenshot in $dir/screenshot.png)"
done

# The index: one section per dataset page, each linking to it.
out=$(probe "$root/index.html" '(function(){var s=document.querySelectorAll("section.dataset");var linked=[].slice.call(s).filter(function(x){return [].slice.call(x.querySelectorAll("a")).some(function(a){return (a.getAttribute("href")||"").slice(-11)=="/index.html"})}).length;return "sections="+s.length+" linked="+linked;})()')
echo "$out"
sections=$(field sections "$out"); linked=$(field linked "$out")
if [ "${sections:-0}" != "${#pages[@]}" ] || [ "$linked" != "$sections" ]; then
  echo "report-check: $root/index.html shows ${sections:-no} dataset sections (${linked:-0} linked) for ${#pages[@]} dataset pages"
  exit 1
fi
echo "report-check: $root/index.html ok ($sections dataset sections, each linking its page)"
