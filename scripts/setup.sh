#!/usr/bin/env bash
# Installs the Debian packages a make target needs, and only those missing.
# As root: one `apt-get update`, then `apt-get install` of the absent ones.
# Otherwise: one line naming exactly what to install, and exit 1.
#
# Usage: scripts/setup.sh test|demo
set -euo pipefail

case "${1:-}" in
  # haproxy, socat, curl, openssl: the real programs the tests drive; bsdutils:
  # logger (-l) and script (a pseudo-terminal); faketime: runs at another
  # date; util-linux: setpriv, which ties test responders to the test
  # process; python3-cryptography-vectors: real certificates and OCSP
  # responses that seed the property tests; python3-prometheus-client: the
  # Prometheus project's own text-format parser, which reads --metrics files;
  # systemd (systemd-analyze) and python3-yaml check contrib/'s units and
  # alert rules.
  test)
    packages=(haproxy socat curl openssl bsdutils faketime util-linux python3-cryptography-vectors
      python3-prometheus-client systemd python3-yaml)
    ;;
  demo) packages=(haproxy openssl curl) ;;
  *)
    echo "usage: $0 test|demo" >&2
    exit 2
    ;;
esac

is_installed() {
  [[ $(dpkg-query -W -f '${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

missing=()
for package in "${packages[@]}"; do
  is_installed "$package" || missing+=("$package")
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "make $1 needs these Debian packages: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "Installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq </dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
