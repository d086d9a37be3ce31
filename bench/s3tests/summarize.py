#!/usr/bin/env python3
"""Per-group pass counts of two ceph/s3-tests runs (junit XML), side by side, as a Markdown table,
then every test the second server passes and the first does not, by group.

    summarize.py depot.xml rgw.xml [issue19]

issue19 groups the tests of issue 19's selection (run.sh with S3TESTS_SET=issue19) instead.
"""
import re
import sys
import xml.etree.ElementTree as ET

# Groups by test name, first match wins: the order puts the specific before the general.
GROUPS = [
    ("checksums", r"checksum"),
    ("GetObjectAttributes", r"attributes"),
    ("POST (browser uploads)", r"post_object"),
    ("CORS", r"cors"),
    ("presigned URLs and auth", r"presign|auth|sigv|anon|expire|signature|_headers?_|header"),
    ("multipart", r"multipart|upload_part|_part_"),
    ("copy", r"copy"),
    ("conditionals", r"if_?match|if_?none|ifmatch|ifnonematch|modified|conditional|_if_"),
    ("ranges", r"range"),
    ("listing", r"list|prefix|delimiter|marker|continuation|fetchowner|maxkeys|max_keys|"
                r"startafter|start_after|encoding"),
    ("buckets", r"bucket"),
    ("objects", r"object|key|_put|_get|_head|_delete"),
    ("other", r""),
]

# Issue 19's groups, as its text names them.
GROUPS_ISSUE19 = [
    ("object lock", r"object_lock|lock"),
    ("encryption", r"encrypt|sse|_enc_"),
    ("lifecycle", r"lifecycle"),
    ("policy", r"policy|public_block|block_public|public_access"),
    ("tagging", r"tagging|_tags"),
    ("acl and ownership", r"acl|ownership|owner_enforced|owner_preferred|object_writer|grant|"
                          r"public|anon"),
    ("versioning", r"version|delete_marker"),
    ("other", r""),
]


def results(path):
    """{test name: passed} of one junit file."""
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        failed = any(child.tag in ("failure", "error", "skipped") for child in case)
        out[case.get("name")] = not failed
    return out


def group_of(name):
    for group, pattern in GROUPS:
        if re.search(pattern, name):
            return group
    return "other"


def main():
    global GROUPS
    if len(sys.argv) > 3 and sys.argv[3] == "issue19":
        GROUPS = GROUPS_ISSUE19
    first, second = results(sys.argv[1]), results(sys.argv[2])
    names = sorted(set(first) | set(second))
    rows = {group: [0, 0, 0] for group, _ in GROUPS}
    behind = {}
    for name in names:
        row = rows[group_of(name)]
        row[0] += 1
        row[1] += first.get(name, False)
        row[2] += second.get(name, False)
        if second.get(name, False) and not first.get(name, False):
            behind.setdefault(group_of(name), []).append(name)
    print("| group | tests | depot serve passes | RGW passes |")
    print("|---|---:|---:|---:|")
    total = [0, 0, 0]
    for group, _ in GROUPS:
        tests, a, b = rows[group]
        if tests:
            print(f"| {group} | {tests} | {a} | {b} |")
            total = [total[0] + tests, total[1] + a, total[2] + b]
    print(f"| **all** | {total[0]} | {total[1]} | {total[2]} |")
    print()
    print("Passed by RGW, not by depot serve:")
    for group, _ in GROUPS:
        if group in behind:
            print(f"- {group} ({len(behind[group])}): " + ", ".join(behind[group]))


main()
