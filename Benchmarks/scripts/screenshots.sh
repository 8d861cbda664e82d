#!/usr/bin/env bash
# Renders the HTML report of the performance record (results/perf/1-8.json, eight runs) in
# headless Chromium at 1400 and 800 pixels wide and writes the top of each page to
# docs/report-1400.png and docs/report-800.png, the images docs and README show. Installs
# chromium (Debian) and Pillow (PyPI) when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v chromium >/dev/null || { sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo; $sudo apt-get install -y -qq chromium >/dev/null; }
python3 -c 'import PIL' 2>/dev/null || python3 -m pip install -q pillow
swift build -c release
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.build/release/opbench report results/perf/{1,2,3,4,5,6,7,8}.json --html "$tmp/perf.html"
for w in 1400 800; do
  chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=$w,7000 \
    --screenshot="$tmp/perf-$w.png" "file://$tmp/perf.html" 2>/dev/null
done
# The winners table and the first charts: the page's top 2600 (1400 px) and 2200 (800 px)
# pixels, reduced to 128 colours.
python3 - "$tmp" <<'PY'
import sys
from PIL import Image
tmp = sys.argv[1]
for w, h in ((1400, 2600), (800, 2200)):
    im = Image.open(f"{tmp}/perf-{w}.png").convert("RGB").crop((0, 0, w, h))
    im.quantize(colors=128).save(f"docs/report-{w}.png", optimize=True)
PY
ls -la docs/report-*.png
