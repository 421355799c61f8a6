#!/usr/bin/env bash
# Install the system programs graphscope uses, when missing: `scripts/system-deps.sh graphviz chromium`.
#   graphviz  the `dot` layout program (renderings, the dashboard's Graph page)
#   chromium  Chromium and ChromeDriver (the HTML report's and the dashboard's real-browser tests)
# Installs with apt-get when run as root on Debian/Ubuntu; otherwise says what is missing and goes on.
set -euo pipefail
packages=()
for want in "$@"; do
  case "$want" in
    graphviz) command -v dot >/dev/null || packages+=(graphviz) ;;
    chromium) { command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || packages+=(chromium chromium-driver) ;;
    *) echo "system-deps.sh: unknown program group '$want'" >&2; exit 2 ;;
  esac
done
[ ${#packages[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
else
  echo "note: missing system packages: ${packages[*]} (install them with your package manager;" \
       "tests that need them are skipped)" >&2
fi
