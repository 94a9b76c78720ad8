#!/usr/bin/env bash
# Installs the Debian packages a make target needs, and only those missing.
# As root: one `apt-get update`, then `apt-get install` of the absent ones.
# Otherwise: one line naming exactly what to install, and exit 1.
#
# Usage: scripts/setup.sh test|demo|matrix-tools|test-matrix|sea
set -euo pipefail

# haproxy, socat, curl, openssl: the real programs the tests drive; bsdutils:
# logger (-l) and script (a pseudo-terminal); faketime: runs at another date;
# util-linux: setpriv, which ties test responders to the test process;
# python3-cryptography-vectors: real certificates and OCSP responses that
# seed the property tests; python3-prometheus-client: the Prometheus
# project's own text-format parser, which reads --metrics files; systemd
# (systemd-analyze) and python3-yaml check contrib/'s units and alert rules;
# man-db and zsh: the man page and the zsh completion the build renders,
# read as a user's would.
test_packages=(haproxy socat curl openssl bsdutils faketime util-linux python3-cryptography-vectors
  python3-prometheus-client systemd python3-yaml man-db zsh)
# What scripts/fetch-matrix.sh builds HAProxy 3.0 with: its linux-glibc
# target with USE_OPENSSL needs no more than a C compiler, libc's headers
# (crypt.h among them) and the system's OpenSSL headers.
build_packages=(gcc make libc6-dev libcrypt-dev libssl-dev)
# binutils: strip, which takes Node's debug information out of the single
# executable.
sea_packages=(binutils)

case "${1:-}" in
  test) packages=("${test_packages[@]}") ;;
  demo) packages=(haproxy openssl curl) ;;
  matrix-tools) packages=("${build_packages[@]}") ;;
  # Asked for as one, so that a user who is not root gets one line to run.
  test-matrix) packages=("${test_packages[@]}" "${build_packages[@]}") ;;
  sea) packages=("${sea_packages[@]}") ;;
  *)
    echo "usage: $0 test|demo|matrix-tools|test-matrix|sea" >&2
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
