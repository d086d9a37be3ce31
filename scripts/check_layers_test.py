#!/usr/bin/env python3
"""Tests scripts/check-layers: it passes the checkout, and fails each synthetic tree that breaks
one rule of the layer map (an upward include from a test, a sibling's internal header, test
support in library code, a module missing from the map), naming the file and the header."""
import pathlib
import subprocess
import sys
import tempfile
import unittest

SCRIPT = pathlib.Path(__file__).resolve().parent / "check-layers"
CHECKOUT = SCRIPT.parent.parent


def run(root):
    return subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True,
                          text=True, check=False)


class Tree:
    """A throwaway source tree: a few public headers per module, then the file under test."""

    def __init__(self, base):
        self.root = pathlib.Path(base)
        self.write("src/depot/core/status.h", "// Status.\n")
        self.write("src/depot/s3/signer.h", '// SigV4.\n#include "depot/core/status.h"\n')
        self.write("src/depot/object/store.h", '// The interface.\n#include "depot/core/status.h"\n')
        self.write("src/depot/object/backend_util.h", "// Helpers (internal to the object module).\n")
        self.write("src/depot/object/local/posix_io.h", "// Syscalls (internal to it).\n")
        self.write("src/depot/object/testing/conformance.h", "// The conformance suite.\n")
        self.write("src/depot/server/s3_server.h", '// The gateway.\n#include "depot/object/store.h"\n')

    def write(self, rel, text):
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


class CheckLayersTest(unittest.TestCase):
    def check(self, rel, text):
        with tempfile.TemporaryDirectory() as base:
            tree = Tree(base)
            tree.write(rel, text)
            return run(tree.root)

    def assert_refused(self, rel, text, *words):
        result = self.check(rel, text)
        self.assertEqual(result.returncode, 1, result.stderr)
        for word in (rel,) + words:
            self.assertIn(word, result.stderr)

    def test_the_checkout_keeps_the_map(self):
        result = run(CHECKOUT)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_a_clean_tree_passes(self):
        result = self.check("src/depot/object/s3/s3_store.cc",
                            '#include "depot/object/backend_util.h"\n#include "depot/s3/signer.h"\n')
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_an_upward_include_from_a_test_fails(self):
        self.assert_refused("src/depot/object/store_test.cc",
                            '#include "depot/server/s3_server.h"\n', "depot/server/s3_server.h",
                            "may not use 'server'")

    def test_an_upward_include_from_library_code_fails(self):
        self.assert_refused("src/depot/core/url.cc", '#include "depot/object/store.h"\n',
                            "may not use 'object'")

    def test_only_the_s3_backend_may_use_the_protocol(self):
        self.assert_refused("src/depot/object/local/local_store.cc",
                            '#include "depot/s3/signer.h"\n', "may not use 's3'")

    def test_a_siblings_internal_header_fails(self):
        self.assert_refused("src/depot/object/s3/s3_store.cc",
                            '#include "depot/object/local/posix_io.h"\n',
                            "internal to depot/object/local/")

    def test_the_cli_uses_public_headers_only(self):
        self.assert_refused("tools/depot/cmd_ls.cc", '#include "depot/object/backend_util.h"\n',
                            "internal to depot/object/")

    def test_test_support_stays_out_of_library_code(self):
        self.assert_refused("src/depot/server/s3_server.cc",
                            '#include "depot/object/testing/conformance.h"\n', "test support")

    def test_a_module_missing_from_the_map_fails(self):
        self.assert_refused("src/depot/cache/cache.h", '#include "depot/core/status.h"\n',
                            "not in the layer map")

    def test_an_include_of_a_missing_header_fails(self):
        self.assert_refused("src/depot/object/store.cc", '#include "depot/object/gone.h"\n',
                            "not a header of depot")


if __name__ == "__main__":
    unittest.main()
