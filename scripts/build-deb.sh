#!/usr/bin/env bash
# Builds dist/hapos-upd_VERSION_amd64.deb (`make deb`, after `make sea`): the
# single executable, its man page and completions, and contrib/'s systemd
# units, which the package does not enable. No maintainer scripts: dpkg -r
# leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(node -p "require('./package.json').version")
executable=dist/hapos-upd-linux-x64
deb=dist/hapos-upd_${version}_amd64.deb
root=dist/deb

[[ -x $executable ]] || {
  echo "$executable is missing: make sea builds it" >&2
  exit 1
}

rm -rf "$root" "$deb"
install -D -m 0755 "$executable" "$root/usr/bin/hapos-upd"
mkdir -p "$root/usr/share/man/man1"
gzip -9 -n <dist/man/hapos-upd.1 >"$root/usr/share/man/man1/hapos-upd.1.gz"
install -D -m 0644 dist/completion/hapos-upd.bash "$root/usr/share/bash-completion/completions/hapos-upd"
install -D -m 0644 dist/completion/_hapos-upd "$root/usr/share/zsh/vendor-completions/_hapos-upd"
install -D -m 0644 LICENSE "$root/usr/share/doc/hapos-upd/copyright"

# contrib/'s units, for npm installs, run /usr/local/bin/hapos-upd and say so
# in their opening comments; the package's run /usr/bin/hapos-upd, and their
# comments say how to turn them on and adapt them.
units=$root/lib/systemd/system
mkdir -p "$units"
unit_header() {
  cat <<EOF
# $1, installed by the hapos-upd package, not enabled: start the hourly runs
# with \`systemctl enable --now hapos-upd.timer\`. Name your certificate
# directories in both --dir and ReadWritePaths= with
# \`systemctl edit hapos-upd.service\` (an ExecStart= there first needs an
# empty ExecStart= line to replace this one).
EOF
}
for unit in hapos-upd.service hapos-upd.timer; do
  {
    unit_header "$unit"
    # The contrib file from its first line that is not a comment.
    sed -n '/^[^#]/,$p' "contrib/$unit"
  } >"$units/$unit"
done
sed -i 's|^ExecStart=/usr/local/bin/hapos-upd |ExecStart=/usr/bin/hapos-upd |' "$units/hapos-upd.service"
grep -q '^ExecStart=/usr/bin/hapos-upd ' "$units/hapos-upd.service" || {
  echo "contrib/hapos-upd.service: no ExecStart=/usr/local/bin/hapos-upd to point at /usr/bin" >&2
  exit 1
}

# The executable is Node's official linux-x64 build, which needs glibc 2.28
# and libstdc++ from GCC 5 (GLIBCXX_3.4.21); openssl is the one command every
# run starts.
mkdir -p "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<EOF
Package: hapos-upd
Version: $version
Architecture: amd64
Maintainer: The hapos-upd authors <hapos-upd@invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: libc6 (>= 2.28), libgcc-s1, libstdc++6 (>= 5.2), openssl
Recommends: haproxy
Suggests: curl, socat
Section: net
Priority: optional
Description: keeps HAProxy's stapled OCSP responses fresh
 A drop-in replacement for the bash HAProxy OCSP Stapling Updater: the same
 options, exit codes, files and messages. It fetches each certificate's OCSP
 response, checks it, writes CERT.ocsp and hands it to HAProxy through its
 admin socket; it also updates whole crt directories and crt-lists at once,
 lints bundles (--check) and reports what HAProxy staples (--status).
 .
 One self-contained executable (Node.js inside): no Node.js needed.
EOF
(cd "$root" && find usr lib -type f -exec md5sum {} + | sort -k 2) >"$root/DEBIAN/md5sums"

dpkg-deb --root-owner-group --build "$root" "$deb"
