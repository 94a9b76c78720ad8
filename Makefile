SHELL := /bin/bash
NODE_TEST := node --import tsx --test --test-concurrency=2 --test-timeout=120000

.PHONY: all setup-test setup-demo setup-matrix-tools setup-test-matrix setup-sea sea deb test-packages bench-startup build typecheck lint format test pki demo bench fuzz pack clean matrix-tools test-matrix

all: build

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

build: node_modules
	node scripts/build.mjs

typecheck: node_modules
	npx tsc --noEmit

# Formatting, and the one-way folder dependencies of ARCHITECTURE.md.
lint: node_modules
	npx prettier --check lib test scripts
	npx depcruise lib --config .dependency-cruiser.cjs

format: node_modules
	npx prettier --write lib test scripts

# Debian packages: as root, installs those missing; otherwise names them.
setup-test:
	scripts/setup.sh test

setup-demo:
	scripts/setup.sh demo

setup-matrix-tools:
	scripts/setup.sh matrix-tools

setup-test-matrix:
	scripts/setup.sh test-matrix

setup-sea:
	scripts/setup.sh sea

# The test PKI is regenerated on every run so that no certificate expires mid-test.
pki:
	scripts/make-pki.sh fixtures/pki

test: setup-test build typecheck lint pki
	$(NODE_TEST) test/*.test.ts

demo: setup-demo build
	scripts/demo.sh

# Times dist/ (BENCH_SIZES, BENCH_ROUNDS, BENCH_SINGLE_SAMPLE); BENCH_BASELINE=path/to/other/dist/hapos-upd.js
# times that build too, alternating with this one, and ends with both medians and the ratio new/baseline.
# Behind a latency proxy too (BENCH_NET_SIZES, BENCH_RTTS); BENCH_ORIGINAL=path/to/the/bash/hapos-upd adds the
# bash original. Ends with issue 21's targets, measured.
bench: build
	node --import tsx scripts/bench.ts

# The single executable's start-up beside node -e 0 (and the npm package's): medians of BENCH_STARTUP_RUNS (10) runs.
bench-startup: sea
	node --import tsx scripts/bench-startup.ts

# The property tests' hostile inputs for FUZZ_SECONDS (default 60), with a new seed; FUZZ_SEED=N replays a run.
fuzz: setup-test node_modules pki
	node --import tsx scripts/fuzz.ts

# Other HAProxy and OpenSSL versions in .matrix/, nothing installed: 3.2, 3.4 and OpenSSL 3.6 unpacked from
# Debian's archive, 3.0 built from source once per machine (kept in ~/.cache/hapos-upd, which clean leaves).
matrix-tools: setup-matrix-tools
	scripts/fetch-matrix.sh

# The HAProxy- and OpenSSL-facing tests against every version, the system's too; rewrites README's "Tested with".
test-matrix: setup-test-matrix matrix-tools build pki
	node --import tsx scripts/test-matrix.ts $(NODE_TEST)

# One file to copy to a host without Node ≥ 20: the CLI inside a stripped copy of the node binary running this.
sea: setup-sea build
	node scripts/build-sea.mjs

# dist/hapos-upd_VERSION_amd64.deb: the single executable, its man page and completions, contrib/'s units (not enabled).
deb: sea
	scripts/build-deb.sh

# Both packagings run end to end: the executable with node hidden and openssl alone on PATH; the .deb installed
# with dpkg -i (as root; a hapos-upd already installed stops the test) and removed with dpkg -r, even on failure.
test-packages: setup-test deb pki
	$(NODE_TEST) test/packaging/*.test.ts

pack: build
	npm pack

clean:
	rm -rf dist fixtures/pki *.tgz .matrix
