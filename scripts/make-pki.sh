#!/usr/bin/env bash
# Generates the test PKI's CA material and the leaf keys into OUTDIR.
# Leaf certificates are issued per test by test/helpers/pki.ts, which reuses
# the leaf keys and CSRs made here (key generation is the slow part).
#
# Usage: scripts/make-pki.sh OUTDIR
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi

readonly outdir=$1
# Regenerated on every test run, so a short validity keeps stale copies
# from lingering while never expiring during a run.
readonly validity_days=30

mkdir -p "$outdir"
cd "$outdir"

cat >openssl.cnf <<'EOF'
[req]
distinguished_name = empty_dn

[empty_dn]

[root_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[intermediate_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, digitalSignature, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ocsp_signer]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = OCSPSigning
noCheck = ignored
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

# Issued by the intermediate but lacking the OCSPSigning EKU: clients must
# reject responses it signs.
[ocsp_signer_without_eku]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

# Self-signed and unrelated to the test PKI, yet otherwise a valid OCSP
# signer: responses it signs must fail verification.
[rogue_signer]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = OCSPSigning
subjectKeyIdentifier = hash
EOF

ec_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

rsa_key() { # silencing its progress dots
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
}

# RSA key generation dominates the run time, so both RSA keys are made
# concurrently with everything else.
rsa_key int.key &
int_key_job=$!
rsa_key leaf-rsa.key &
leaf_rsa_key_job=$!
for name in root ocsp-signer ocsp-signer-noeku rogue-signer other-root other-int leaf-ec; do
  ec_key "$name.key"
done

self_signed() { # NAME SUBJECT EXTENSIONS
  openssl req -new -x509 -config openssl.cnf -key "$1.key" -subj "$2" \
    -extensions "$3" -days "$validity_days" -sha256 -out "$1.pem"
}

issued_by() { # NAME ISSUER SUBJECT EXTENSIONS
  openssl req -new -x509 -config openssl.cnf -key "$1.key" -subj "$3" \
    -CA "$2.pem" -CAkey "$2.key" \
    -extensions "$4" -days "$validity_days" -sha256 -out "$1.pem"
}

self_signed root "/CN=hapos-upd Test Root CA" root_ca
self_signed other-root "/CN=hapos-upd Other Test Root CA" root_ca
issued_by other-int other-root "/CN=hapos-upd Other Test Intermediate CA" intermediate_ca

wait "$int_key_job"
issued_by int root "/CN=hapos-upd Test Intermediate CA" intermediate_ca
issued_by ocsp-signer int "/CN=hapos-upd Test OCSP Signer" ocsp_signer
issued_by ocsp-signer-noeku int "/CN=hapos-upd Test OCSP Signer without EKU" ocsp_signer_without_eku

self_signed rogue-signer "/CN=hapos-upd Rogue OCSP Signer" rogue_signer

# The leaves' subjects come from `openssl ca -subj`, so one CSR per key
# serves every leaf.
wait "$leaf_rsa_key_job"
for key in leaf-rsa leaf-ec; do
  openssl req -new -config openssl.cnf -key "$key.key" -subj "/CN=$key" -out "$key.csr"
done

rm -rf trust
mkdir trust
cp root.pem trust/
openssl rehash trust
