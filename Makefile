# Citizen Twin: the two commands the README promises.
#   make run   installs what is missing and starts Citizen Twin
#   make test  installs what is missing and runs every test
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
export CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TERM_COLOR ?= never
# The interface's own tools (vite, tauri, vitest) come from ui/node_modules.
# The Tauri CLI from ui/node_modules, told where the app and the interface are.
TAURI := cd ui && TAURI_APP_PATH=$(CURDIR)/src-tauri TAURI_FRONTEND_PATH=$(CURDIR)/ui npx --no-install tauri
APP := $(CARGO_TARGET_DIR)/debug/citizen-twin

.PHONY: run test deps lint unit ui ui-test app window-test package package-test bench bench-app demo

deps:
	@.ci/deps

## run: builds the interface, the app and a SANDBOX agency, and starts them together.
run: deps app
	cargo build --locked -p twin-cli -p twin-agency
	@.ci/run-app "$(APP)" "$(CARGO_TARGET_DIR)/debug/twin-agency"

## demo: the guided tour of the `twin` command line, with a sandbox agency.
demo: deps
	cargo build --locked -p twin-cli -p twin-agency
	@.ci/demo "$(CARGO_TARGET_DIR)/debug/twin" "$(CARGO_TARGET_DIR)/debug/twin-agency"

## test: formatting, lints, every Rust test (no display needed), the interface's unit
## tests, then the app in a real window under Xvfb, and the .deb's contents.
test: deps lint unit ui-test window-test package-test

## ui: the interface's files (ui/dist), which the app carries.
ui:
	cd ui && npm run --silent build

lint: ui
	cargo fmt --all -- --check
	cargo clippy --locked --workspace --all-targets -- -D warnings

unit:
	cargo test --locked --workspace
	# The protocol's test vectors must be exactly what the generator makes.
	cargo run --locked -q -p twin-protocol --features test-vectors --example gen_vectors -- --check
	# So must the backup format's.
	cargo run --locked -q -p twin-backup --features test-vectors --example gen_vectors -- --check

ui-test:
	cd ui && node scripts/gen-types.mjs --check
	cd ui && npx --no-install svelte-check --tsconfig ./tsconfig.json --fail-on-warnings
	cd ui && npx --no-install vitest run

## app: the desktop app with its interface built in, and its .deb (debug profile: it
## shares the workspace's compiled dependencies).
app: ui
	$(TAURI) build --debug --bundles deb --ci

## window-test: the real app in a real window (Xvfb + tauri-driver + WebKitWebDriver),
## with a sandbox agency; screenshots go to ui/test-output/.
window-test: app
	cargo build --locked -p twin-agency -p twin-cli
	cd ui && APP="$(APP)" AGENCY_BIN="$(CARGO_TARGET_DIR)/debug/twin-agency" TWIN_BIN="$(CARGO_TARGET_DIR)/debug/twin" \
	  npx --no-install vitest run --config vitest.window.config.ts

## package: the release .deb (packaging/deb/README.md), then its contents checked.
package: deps ui
	$(TAURI) build --bundles deb --ci
	packaging/deb/check-deb "$$(ls -t $(CARGO_TARGET_DIR)/release/bundle/deb/*.deb | head -n1)"

## package-test: the contents of the .deb that `make app` made.
package-test: app
	packaging/deb/check-deb "$$(ls -t $(CARGO_TARGET_DIR)/debug/bundle/deb/*.deb | head -n1)"

## bench: criterion benchmarks; results go in docs/benchmarks.md by hand.
bench: deps
	cargo bench --locked -p twin-vault --bench vault
	cargo bench --locked -p twin-rules --bench rules

## bench-app: the desktop app's cold start and 10,000-record unlock, in a real window
## under Xvfb (release build); results in ui/test-output/bench/ and docs/benchmarks.md.
bench-app: deps ui
	$(TAURI) build --bundles deb --ci
	cargo build --locked --release -p citizen-twin --example bench_fixture
	cd ui && APP="$(CARGO_TARGET_DIR)/release/citizen-twin" FIXTURE_BIN="$(CARGO_TARGET_DIR)/release/examples/bench_fixture" \
	  npx --no-install vitest run --config vitest.bench.config.ts
