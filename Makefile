# Kintsugi — the two commands a newcomer needs:
#   make run    start the embedded store (S3 on 127.0.0.1:9000, data in ./kintsugi-data)
#   make test   install what is missing, build, and run every test
# The build directory lives outside the clone so RocksDB is compiled once per machine.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/kintsugi-target
CARGO ?= cargo

.PHONY: run test build deps deps-test bench lint clean-data cluster

deps:
	@scripts/deps.sh

deps-test:
	@scripts/deps.sh --test

build: deps
	$(CARGO) build --release --locked --bin kintsugi

run: build
	$(CARGO_TARGET_DIR)/release/kintsugi server $(ARGS)

# A local cluster on loopback: 1 gateway + $(NODES) storage nodes (real processes), data in ./kintsugi-cluster.
NODES ?= 6
cluster: build
	KINTSUGI_BIN=$(CARGO_TARGET_DIR)/release/kintsugi scripts/local-cluster.sh $(NODES) ./kintsugi-cluster

# Every test: unit + real-process integration tests, the full-scale acceptance, then the
# docker compose cluster test (which skips with a message where docker is not usable, except
# under CI=true). Every step runs even when an earlier one failed; scripts/test-all.sh ends
# with the failed tests by name and "summary: N passed, M failed", and exits non-zero then.
test: deps-test
	CARGO=$(CARGO) scripts/test-all.sh

bench: deps
	$(CARGO) bench --workspace

# The self-healing and drain tests again at the issues' full scale (300 objects: ~2 GiB of
# 0 B .. 100 MiB for repair, ~1 GiB for drain); part of `make test`, ~3 minutes on 2 cores.
.PHONY: acceptance
acceptance: deps-test
	KINTSUGI_ACCEPTANCE=1 $(CARGO) test --release --locked --workspace --test heal --test lifecycle

# Fuzzing: every decoder of untrusted bytes (crates/fuzz) under libFuzzer for FUZZ_SECS seconds
# each (nightly toolchain; cargo-fuzz is installed when missing). `make test` smoke-runs the same
# targets on stable: seeds, fuzz/corpus/ and 20,000 mutations each.
FUZZ_SECS ?= 60
FUZZ_TARGETS ?= wire_frame join_token shard_header meta_record meta_key client_xml meta_export ledger_value admin_query shard_body bucket_policy
.PHONY: fuzz
fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECS) $(FUZZ_TARGETS)

lint: deps
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

clean-data:
	rm -rf ./kintsugi-data

# Docker: `make docker-image` builds kintsugi:dev FROM scratch from the release binary;
# `make test-docker` runs the 7-container compose cluster test (skips without docker unless CI=true).
.PHONY: docker-image test-docker
docker-image: build
	docker/build-image.sh $(CARGO_TARGET_DIR)/release/kintsugi

test-docker: build
	KINTSUGI_BIN=$(CARGO_TARGET_DIR)/release/kintsugi scripts/test-docker.sh
