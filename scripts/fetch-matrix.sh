#!/usr/bin/env bash
# Fetches the HAProxy and OpenSSL versions people run beside the system's
# (Debian 12: HAProxy 2.6, OpenSSL 3.0) into a private folder, for testing
# against them. Nothing is installed. HAProxy 3.2, 3.4 and OpenSSL 3.6 are
# Debian's own builds: each is unpacked into its own root with the libraries
# it needs from the same suite, and run through that root's dynamic loader by
# a wrapper named as the program. HAProxy 3.0 (Debian 13's) is built here from
# its source. Each ends up as MATRIX_DIR/haproxy-3.0/haproxy,
# MATRIX_DIR/haproxy-3.2/haproxy, MATRIX_DIR/haproxy-3.4/haproxy (put the
# folder first in PATH) and MATRIX_DIR/openssl-3.6/openssl (for OPENSSL_BIN).
# Needs apt-get and dpkg-deb, and for HAProxy 3.0 a C toolchain and the
# system's OpenSSL headers (scripts/setup.sh matrix-tools); not root. Safe to
# run again: builds already there are kept.
set -euo pipefail

matrix_dir=$(realpath -m "${MATRIX_DIR:-.matrix}")
# Outside the clone, so that it outlives `make clean` and fresh clones: the
# build takes minutes, the rest of this script seconds.
build_cache=${XDG_CACHE_HOME:-$HOME/.cache}/hapos-upd
apt_dir="$matrix_dir/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"

cat >"$apt_dir/sources.list" <<'EOF'
deb http://deb.debian.org/debian unstable main
deb http://deb.debian.org/debian experimental main
deb-src http://deb.debian.org/debian trixie main
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

# Lists fetched for other sources (an older version of this script) lack some
# of these: the marker holds the sources.list they were fetched for.
update_lists() {
  if ! cmp -s "$apt_dir/sources.list" "$apt_dir/updated"; then
    apt-get "${apt_options[@]}" -qq update
    cp "$apt_dir/sources.list" "$apt_dir/updated"
  fi
}

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
  update_lists
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

# Prints the newest HAProxy 3.0 in the build cache that runs, if any.
cached_haproxy_30() {
  local builds build
  mapfile -t builds < <(compgen -G "$build_cache/haproxy-3.0.*/haproxy" | sort -V -r)
  for build in "${builds[@]}"; do
    if "$build" -v >/dev/null 2>&1; then
      echo "$build"
      return
    fi
  done
}

# Trixie's haproxy .deb needs glibc 2.38 (Debian 12 has 2.36), and of its
# source the archive serves only the upstream tarball, not Debian's patches:
# upstream's release is built, with the system's OpenSSL. A cached build of
# any 3.0 release is kept (remove it from the cache to build trixie's
# current one), so a run with one makes no download for it.
build_haproxy_30() {
  local link="$matrix_dir/haproxy-3.0/haproxy" build
  build=$(cached_haproxy_30)
  if [[ -z $build ]]; then
    update_lists
    mkdir -p "$build_cache"
    work=$(mktemp -d "$build_cache/.build.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    # apt-get fails for want of the .dsc and Debian's tarball once it has
    # fetched and checked the upstream one, which is all the build needs.
    (cd "$work" && apt-get "${apt_options[@]}" source --download-only haproxy/trixie) >"$work/apt.log" 2>&1 || true
    local tarballs
    mapfile -t tarballs < <(compgen -G "$work/haproxy_3.0.*.orig.tar.*")
    if ((${#tarballs[@]} != 1)); then
      cat "$work/apt.log" >&2
      echo "no single HAProxy 3.0 source tarball in trixie" >&2
      exit 1
    fi
    local version=${tarballs[0]##*/haproxy_}
    version=${version%.orig.tar.*}
    echo "Building HAProxy $version (a few minutes)" >&2
    tar -xf "${tarballs[0]}" -C "$work"
    if ! make -C "$work/haproxy-$version" -j"$(nproc)" TARGET=linux-glibc USE_OPENSSL=1 haproxy >"$work/build.log" 2>&1; then
      tail -n 30 "$work/build.log" >&2
      exit 1
    fi
    # The tests staple OCSP responses on TLS binds.
    if [[ $("$work/haproxy-$version/haproxy" -vv) != *$'\nBuilt with OpenSSL version'* ]]; then
      echo "HAProxy $version was built without OpenSSL" >&2
      exit 1
    fi
    # Renamed into place whole, so that a build cut short is never taken for
    # one; another run that finished first keeps its own.
    mkdir "$work/haproxy-3.0"
    mv "$work/haproxy-$version/haproxy" "$work/haproxy-3.0/haproxy"
    mv -T "$work/haproxy-3.0" "$build_cache/haproxy-$version" 2>/dev/null || true
    build="$build_cache/haproxy-$version/haproxy"
  fi
  mkdir -p "${link%/*}"
  ln -sfn "$build" "$link"
}

fetch haproxy-3.2 haproxy unstable /usr/sbin/haproxy
fetch haproxy-3.4 haproxy experimental /usr/sbin/haproxy
fetch openssl-3.6 openssl unstable /usr/bin/openssl
build_haproxy_30

# sed reads all of -v's output: head would leave before HAProxy finished
# writing, which then dies of SIGPIPE and fails the script.
for haproxy in haproxy-3.0 haproxy-3.2 haproxy-3.4; do "$matrix_dir/$haproxy/haproxy" -v | sed -n 1p; done
"$matrix_dir/openssl-3.6/openssl" version
