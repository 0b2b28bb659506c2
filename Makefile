# Citizen Twin: the two commands the README promises.
#   make run   installs what is missing and starts Citizen Twin
#   make test  installs what is missing and runs every test
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
export CARGO_TARGET_DIR ?= $(CURDIR)/target
# Keep test vaults, temp files and caches out of the user's real folders.
export CARGO_TERM_COLOR ?= never

.PHONY: run test deps lint unit bench demo

deps:
	@.ci/deps

## run: until the desktop app lands, a guided demo of the `twin` CLI on a throw-away vault,
## with a real sandbox agency service on loopback.
run: deps
	cargo build --locked -p twin-cli -p twin-agency
	@.ci/demo "$(CARGO_TARGET_DIR)/debug/twin" "$(CARGO_TARGET_DIR)/debug/twin-agency"

## test: formatting, lints, then every test in the workspace (unit, property, end to end).
test: deps lint unit

lint:
	cargo fmt --all -- --check
	cargo clippy --locked --workspace --all-targets -- -D warnings

unit:
	cargo test --locked --workspace
	# The protocol's test vectors must be exactly what the generator makes.
	cargo run --locked -q -p twin-protocol --features test-vectors --example gen_vectors -- --check
	# So must the backup format's.
	cargo run --locked -q -p twin-backup --features test-vectors --example gen_vectors -- --check

## bench: criterion benchmarks; results go in docs/benchmarks.md by hand.
bench: deps
	cargo bench --locked -p twin-vault --bench vault
