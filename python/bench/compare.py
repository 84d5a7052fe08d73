"""weightmap's Python package against the official readers, in one process.

    python python/bench/compare.py [--gemma PATH] [--runs N] [--size-mib N]

1. GGUFReader: open Gemma 3 270M Q4_K_M and read every field's contents() and every
   tensor's data.shape, weightmap.GGUFReader against gguf.GGUFReader (gguf 0.19.0);
2. safe_open: get_tensor of every tensor of a generated safetensors file (1 GiB by default,
   256 F32 tensors, written by safetensors.numpy.save_file), each kept (as a loader keeps
   them), weightmap.safe_open against safetensors.safe_open(..., "np"); then the same with
   every array summed (its bytes read);
3. dequantize: every Gemma tensor to float32, Tensor.dequantize() against
   gguf.quants.dequantize(tensor.data, tensor.tensor_type), the results kept; then
   Tensor.dequantize(out=buffer) into one reused buffer.

Times are medians of N runs (default 3; the official GGUFReader once: it takes seconds),
the files in the page cache (read once before). "RSS growth" is the peak resident set
during the work less the resident set before it (Linux's VmHWM, reset before each measure
through /proc/self/clear_refs). The last line, `python-ratios: gguf-reader=X safe-open=Y ...
dequantize=Z dequantize-out=W`, is what docs/BENCHMARKS.md reports (official time / weightmap
time).
"""

import argparse
import gc
import os
import statistics
import tempfile
import time
from pathlib import Path

import gguf
import numpy as np
from gguf import quants
from safetensors import safe_open as official_safe_open
from safetensors.numpy import save_file

import weightmap

REPO = Path(__file__).resolve().parents[2]


def status(field: str) -> int:
    """A /proc/self/status field in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def measure(work, runs: int):
    """(median seconds, peak RSS growth in bytes of the first run, the first result)."""
    times, growth, first = [], None, None
    for i in range(runs):
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        before = status("VmRSS")
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
        if i == 0:
            growth, first = status("VmHWM") - before, result
        del result
    print(f"    runs: {', '.join(f'{t:.4f}' for t in times)} s", flush=True)
    return statistics.median(times), growth, first


def warm(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def report(name: str, ours, theirs) -> float:
    ratio = theirs[0] / ours[0]
    print(f"{name}:")
    print(f"  weightmap  {ours[0]:10.4f} s   RSS growth {ours[1] / 2**20:9.1f} MiB")
    print(f"  official   {theirs[0]:10.4f} s   RSS growth {theirs[1] / 2**20:9.1f} MiB   {ratio:8.1f}x weightmap's time")
    return ratio


def gguf_reader(path: Path, runs: int) -> float:
    def read(reader_class):
        def work():
            reader = reader_class(path)
            for field in reader.fields.values():
                field.contents()
            shapes = [t.data.shape for t in reader.tensors]
            return len(reader.fields), shapes
        return work

    ours = measure(read(weightmap.GGUFReader), runs)
    theirs = measure(read(gguf.GGUFReader), 1)
    assert ours[2] == theirs[2], "the readers disagree"
    return report(f"GGUFReader: {path.name}, {ours[2][0]} fields, {len(ours[2][1])} tensors", ours, theirs)


def safe_open(size_mib: int, runs: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(dir=REPO / "target") as tmp:
        path = Path(tmp) / "big.safetensors"
        per = 4 << 20  # 4 MiB tensors
        count = max(1, (size_mib << 20) // per)
        save_file({f"t.{i:04d}": np.full(per // 4, i, dtype=np.float32) for i in range(count)}, path)
        gc.collect()
        warm(path)

        def get(open_file, touch):
            def work():
                with open_file(path, framework="np") as f:
                    arrays = {k: f.get_tensor(k) for k in f.keys()}
                    total = sum(float(a.sum()) for a in arrays.values()) if touch else len(arrays)
                    return total, arrays
            return work

        results = []
        for touch in (False, True):
            ours = measure(get(weightmap.safe_open, touch), runs)
            theirs = measure(get(official_safe_open, touch), runs)
            assert ours[2][0] == theirs[2][0]
            assert all(np.array_equal(ours[2][1][k], theirs[2][1][k]) for k in theirs[2][1])
            ours, theirs = ours[:2] + (None,), theirs[:2] + (None,)
            gc.collect()
            what = "get_tensor and sum" if touch else "get_tensor"
            results.append(report(f"safe_open: {what} of {count} tensors, {path.stat().st_size / 2**30:.2f} GiB", ours, theirs))
        return results[0], results[1]


def dequantize(path: Path, runs: int) -> float:
    model = weightmap.open(path)
    reader = gguf.GGUFReader(path)

    def ours_work():
        return [t.dequantize() for t in model.tensors.values()]

    def theirs_work():
        return [quants.dequantize(t.data, t.tensor_type) for t in reader.tensors]

    largest = max(t.n_elements for t in model.tensors.values())
    buffer = np.empty(largest, dtype=np.float32)
    buffer.fill(0)  # faulted in once, before the runs

    def reused_work():
        return sum(float(t.dequantize(out=buffer[: t.n_elements])[0]) for t in model.tensors.values())

    ours = measure(ours_work, runs)
    theirs = measure(theirs_work, runs)
    for a, b in zip(ours[2], theirs[2]):
        assert np.array_equal(a, b.astype(np.float32), equal_nan=True)
    elements = sum(a.size for a in ours[2])
    ratio = report(f"dequantize: {len(ours[2])} tensors, {elements} values", ours, theirs)
    ours = measure(reused_work, runs)
    reused = report("dequantize into one reused buffer (out=)", ours, theirs)
    return ratio, reused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gemma", type=Path, default=REPO / "target" / "fixtures" / "gemma-3-270m-q4_k_m.gguf")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"weightmap {weightmap.__version__}, gguf {gguf.__version__ if hasattr(gguf, '__version__') else '0.19.0'}, numpy {np.__version__}")
    warm(args.gemma)
    reader = gguf_reader(args.gemma, args.runs)
    st, st_touched = safe_open(args.size_mib, args.runs)
    dq, dq_reused = dequantize(args.gemma, args.runs)
    print(
        f"python-ratios: gguf-reader={reader:.1f} safe-open={st:.1f} safe-open-summed={st_touched:.2f} "
        f"dequantize={dq:.1f} dequantize-out={dq_reused:.1f}"
    )


if __name__ == "__main__":
    main()
