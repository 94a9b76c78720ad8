#!/usr/bin/env bash
# Fetches newer HAProxy and OpenSSL builds from Debian's own archive into a
# private folder, for testing against the versions people run beside the
# system's (Debian 12: HAProxy 2.6, OpenSSL 3.0). Nothing is installed: each
# build is unpacked into its own root with the libraries it needs from the
# same suite, and run through that root's dynamic loader by a wrapper named
# as the program: MATRIX_DIR/haproxy-3.2/haproxy, MATRIX_DIR/haproxy-3.4/haproxy
# (put the folder first in PATH) and MATRIX_DIR/openssl-3.6/openssl (for
# OPENSSL_BIN). Needs apt-get and dpkg-deb, not root. Safe to run again:
# builds already there are kept.
set -euo pipefail

matrix_dir=$(realpath -m "${MATRIX_DIR:-.matrix}")
apt_dir="$matrix_dir/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"

cat >"$apt_dir/sources.list" <<'EOF'
deb http://deb.debian.org/debian unstable main
deb http://deb.debian.org/debian experimental main
EOF
# A private apt state: the system's sources, lists and cache stay untouched.
apt_options=(
  -o "Dir::Etc::sourcelist=$apt_dir/sources.list"
  -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o "Dir::State::status=/var/lib/dpkg/status"
)
# As root, apt would hand downloads to its _apt user, who cannot write here.
if [[ $EUID -eq 0 ]]; then apt_options+=(-o "APT::Sandbox::User=root"); fi

# The libraries HAProxy and OpenSSL from unstable load; the system's are too old for them.
runtime_libraries=(libc6 libssl3t64 liblua5.4-0 libjemalloc2 libpcre2-8-0 libcrypt1
  libopentracing-c-wrapper0t64 libopentracing1 libstdc++6 libgcc-s1 zlib1g libzstd1)

# Makes MATRIX_DIR/NAME/PROGRAM's name, unless it runs already: PACKAGE from
# SUITE unpacked with its libraries into MATRIX_DIR/NAME/root, PROGRAM being
# its path there.
fetch() {
  local name=$1 package=$2 suite=$3 program=$4
  local wrapper="$matrix_dir/$name/${program##*/}" root="$matrix_dir/$name/root"
  if [[ -x $wrapper ]] && { "$wrapper" -v || "$wrapper" version; } >/dev/null 2>&1; then return; fi
  if [[ ! -e $apt_dir/updated ]]; then
    apt-get "${apt_options[@]}" -qq update
    touch "$apt_dir/updated"
  fi
  local debs="$matrix_dir/$name/debs"
  rm -rf "$root" "$debs" && mkdir -p "$root" "$debs"
  (cd "$debs" && apt-get "${apt_options[@]}" -qq download "$package/$suite" "${runtime_libraries[@]/%//unstable}")
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$root"; done
  local libraries="$root/usr/lib/x86_64-linux-gnu"
  # --argv0 keeps the program's own path in argv[0]: HAProxy's master
  # re-executes itself from it, which must come back through this wrapper.
  cat >"$wrapper" <<EOF
#!/bin/sh
exec "$libraries/ld-linux-x86-64.so.2" --library-path "$libraries" --argv0 "\$0" "$root$program" "\$@"
EOF
  chmod +x "$wrapper"
}

fetch haproxy-3.2 haproxy unstable /usr/sbin/haproxy
fetch haproxy-3.4 haproxy experimental /usr/sbin/haproxy
fetch openssl-3.6 openssl unstable /usr/bin/openssl

# sed reads all of -v's output: head would leave before HAProxy finished
# writing, which then dies of SIGPIPE and fails the script.
for haproxy in haproxy-3.2 haproxy-3.4; do "$matrix_dir/$haproxy/haproxy" -v | sed -n 1p; done
"$matrix_dir/openssl-3.6/openssl" version
