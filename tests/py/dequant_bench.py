"""Times the official package's gguf.quants.dequantize on every tensor of a GGUF file.

    python dequant_bench.py MODEL.gguf RUNS

The reader half of `compare-dequant` (tests/src/bin/compare_dequant.rs), which runs this with
OMP_NUM_THREADS=1 (numpy's dequantize is single-threaded anyway). The file is opened with
gguf.GGUFReader (a numpy memory map); one untimed pass decodes every tensor and takes the
SHA-256 of its float32 output (little-endian, row-major), then RUNS passes time each tensor's
dequantize alone (time.perf_counter), in file order, as the Rust side does. Prints one JSON
object: {"gguf", "numpy", "runs", "tensors": [{"name", "type", "elements", "seconds" (the
median of the runs), "sha256"}]}.
"""
import hashlib
import json
import statistics
import sys
import time
from importlib.metadata import version

import numpy as np
from gguf import GGUFReader
from gguf import quants

path, runs = sys.argv[1], int(sys.argv[2])
reader = GGUFReader(path)
tensors = list(reader.tensors)

digests = []
for t in tensors:
    values = quants.dequantize(t.data, t.tensor_type)
    flat = np.ascontiguousarray(values, dtype="<f4").reshape(-1)
    assert flat.size == int(t.n_elements), (t.name, flat.size, int(t.n_elements))
    digests.append(hashlib.sha256(memoryview(flat).cast("B")).hexdigest())
    del values, flat

times = [[] for _ in tensors]
for _ in range(runs):
    for i, t in enumerate(tensors):
        data, qtype = t.data, t.tensor_type
        start = time.perf_counter()
        values = quants.dequantize(data, qtype)
        times[i].append(time.perf_counter() - start)
        del values

print(
    json.dumps(
        {
            "gguf": version("gguf"),
            "numpy": np.__version__,
            "runs": runs,
            "tensors": [
                {
                    "name": t.name,
                    "type": t.tensor_type.name,
                    "elements": int(t.n_elements),
                    "seconds": statistics.median(ts),
                    "sha256": digest,
                }
                for t, ts, digest in zip(tensors, times, digests)
            ],
        }
    )
)
