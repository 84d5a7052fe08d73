"""Copies the test and bench executables cargo lists (--message-format=json) into a folder,
named test-TARGET and bench-TARGET: what gpu/check.sh carries to the GPU machine.

Usage: python3 gpu/artifacts.py LISTING OUTDIR
"""
import json
import shutil
import sys

listing, out = sys.argv[1], sys.argv[2]
for line in open(listing):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    exe = msg.get("executable")
    if not exe:
        continue
    target = msg["target"]
    kinds = target.get("kind", [])
    if "bench" in kinds:
        shutil.copy(exe, f"{out}/bench-{target['name']}")
    elif msg.get("profile", {}).get("test"):
        name = "lib" if "lib" in kinds else target["name"]
        shutil.copy(exe, f"{out}/test-{name}")
