# The two commands (see README.md). Everything else lives in scripts/ and CMakePresets.json.
.PHONY: run check test

# Installs what is missing, builds the release configuration, and runs depot's main job on its
# embedded default store: `depot serve` over the local directory ./var/depot at 127.0.0.1:9000
# (it prints how to reach it with awscli; Ctrl-C stops it).
run:
	@scripts/install-deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release
	@build/release/tools/depot/depot serve var/depot --listen 127.0.0.1:9000

# The fast tier: the dev build and its hermetic tests in parallel (scripts/check), minutes.
check:
	@scripts/check

# Installs, builds every configuration and runs every test (scripts/test-all): check first.
test:
	@scripts/test-all
