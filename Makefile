SHELL := /bin/bash
NODE_TEST := node --import tsx --test --test-concurrency=2 --test-timeout=120000

.PHONY: all setup-test setup-demo build typecheck lint format test pki demo bench fuzz pack clean matrix-tools

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

# The test PKI is regenerated on every run so that no certificate expires mid-test.
pki:
	scripts/make-pki.sh fixtures/pki

test: setup-test build typecheck lint pki
	$(NODE_TEST) test/*.test.ts

demo: setup-demo build
	scripts/demo.sh

# Times dist/ (BENCH_SIZES, BENCH_ROUNDS, BENCH_SINGLE_SAMPLE); BENCH_BASELINE=path/to/other/dist/hapos-upd.js
# times that build too, alternating with this one, and ends with both medians and the ratio new/baseline.
bench: build
	node --import tsx scripts/bench.ts

# The property tests' hostile inputs for FUZZ_SECONDS (default 60), with a new seed; FUZZ_SEED=N replays a run.
fuzz: setup-test node_modules pki
	node --import tsx scripts/fuzz.ts

# Newer HAProxy and OpenSSL builds from Debian's archive, unpacked into .matrix/ (nothing installed).
matrix-tools:
	scripts/fetch-matrix.sh

pack: build
	npm pack

clean:
	rm -rf dist fixtures/pki *.tgz .matrix
