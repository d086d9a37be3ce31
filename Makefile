# The two commands (see README.md). Everything else lives in scripts/ and CMakePresets.json.
.PHONY: run test

# Installs what is missing, builds the release configuration, and runs depot's main job on its
# embedded default store, a local directory under ./var/depot.
run:
	@scripts/install-deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release
	build/release/tools/depot/depot demo var/depot

# Installs, builds every configuration and runs every test (scripts/test-all).
test:
	@scripts/test-all
