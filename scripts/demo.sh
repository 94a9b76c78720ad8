#!/usr/bin/env bash
# The built-in demo: a private PKI, a real `openssl ocsp` responder and a real
# HAProxy, all on 127.0.0.1, then hapos-upd staples a fresh OCSP response into
# the running HAProxy and `openssl s_client -status` shows it.
#
# Usage: scripts/demo.sh   (or `make demo`, which also installs and builds)
set -euo pipefail

cd "$(dirname "$0")/.."
readonly demo_dir=$PWD/demo
readonly cli=$PWD/dist/hapos-upd.js

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

scripts/setup.sh demo
[[ -f $cli ]] || node scripts/build.mjs

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

step "A private PKI in demo/ (root, intermediate, delegated OCSP signer)"
rm -rf "$demo_dir"
mkdir -p "$demo_dir"
scripts/make-pki.sh "$demo_dir/pki" >/dev/null
pki=$demo_dir/pki
ocsp_port=$(free_port)
tls_port=$(free_port)

serial=$(openssl rand -hex 8 | tr 'a-f' 'A-F')
cat >"$demo_dir/site.ext" <<EOF
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:site.hapos-upd.test
authorityInfoAccess = OCSP;URI:http://127.0.0.1:$ocsp_port/
EOF
openssl x509 -req -in "$pki/leaf-rsa.csr" -CA "$pki/int.pem" -CAkey "$pki/int.key" -set_serial "0x$serial" \
  -days 30 -subj /CN=site.hapos-upd.test -extfile "$demo_dir/site.ext" -out "$demo_dir/site-cert.pem" 2>/dev/null
cat "$demo_dir/site-cert.pem" "$pki/int.pem" "$pki/leaf-rsa.key" >"$demo_dir/site.pem"
not_after=$(date -u -d '+30 days' +%y%m%d%H%M%SZ)
printf 'V\t%s\t\t%s\tunknown\t/CN=site.hapos-upd.test\n' "$not_after" "$serial" >"$demo_dir/index.txt"
echo "site certificate: demo/site.pem (serial $serial, OCSP URL http://127.0.0.1:$ocsp_port/)"

step "An OCSP responder: openssl ocsp -port $ocsp_port"
openssl ocsp -port "$ocsp_port" -index "$demo_dir/index.txt" -CA "$pki/int.pem" \
  -rsigner "$pki/ocsp-signer.pem" -rkey "$pki/ocsp-signer.key" -ndays 7 -ignore_err \
  >"$demo_dir/responder.log" 2>&1 &
pids+=($!)

step "HAProxy serving demo/site.pem on 127.0.0.1:$tls_port (no OCSP response yet)"
cat >"$demo_dir/haproxy.cfg" <<EOF
global
    stats socket $demo_dir/admin.sock level admin
    log stderr format raw local0 err

defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s

frontend demo
    bind 127.0.0.1:$tls_port ssl crt $demo_dir/site.pem
    http-request return status 200 content-type text/plain string "hello from the hapos-upd demo\n"
EOF
haproxy -db -f "$demo_dir/haproxy.cfg" >"$demo_dir/haproxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  [[ -S $demo_dir/admin.sock ]] && grep -q 'waiting for OCSP client connections' "$demo_dir/responder.log" && break
  sleep 0.1
done

export SSL_CERT_DIR=$pki/trust
step "hapos-upd -d --cert demo/site.pem   (dry run: every step, nothing written)"
node "$cli" -d --cert "$demo_dir/site.pem"

step "hapos-upd --cert demo/site.pem --socket demo/admin.sock"
node "$cli" --cert "$demo_dir/site.pem" --socket "$demo_dir/admin.sock"
echo "exit code: $?; written: $(cd "$demo_dir" && echo site.pem.*)"

stapled() {
  openssl s_client -connect "127.0.0.1:$tls_port" -servername site.hapos-upd.test -status </dev/null 2>/dev/null
}
echo "stapled, produced at: $(stapled | sed -n 's/^ *Produced At: //p')"

step "A second run replaces the stapled response in place (set ssl ocsp-response)"
sleep 1
node "$cli" --cert "$demo_dir/site.pem" --socket "$demo_dir/admin.sock"
echo "exit code: $?; stapled, produced at: $(stapled | sed -n 's/^ *Produced At: //p')"

step "What HAProxy staples now: openssl s_client -connect 127.0.0.1:$tls_port -status"
stapled | sed -n '/^OCSP Response Data:/,/Next Update/p'
