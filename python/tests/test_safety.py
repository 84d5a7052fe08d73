"""Hostile files, arrays that outlive their reader, files cut short while arrays are held."""

import gc
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import save_file

import weightmap
from conftest import corpus


def exercise(path):
    """Everything a caller may touch: every tensor's bytes, every metadata value (a value
    is checked as it is decoded: an invalid string raises then, the file still opens)."""
    model = weightmap.open(path)
    for tensor in model.tensors.values():
        tensor.numpy().sum()
    fields = list(model.metadata)
    if model.format == "gguf":
        reader = weightmap.GGUFReader(path)
        fields = list(reader.fields.values())
        for piece in fields + [t.field for t in reader.tensors]:
            assert len(piece.parts) >= len(piece.data)  # the raw pieces, made from the header
        assert reader.data.nbytes == os.path.getsize(path)
    for field in fields:
        try:
            field.contents() if hasattr(field, "contents") else model.metadata[field]
        except weightmap.FormatError as e:
            assert "UTF-8" in str(e)


@pytest.mark.parametrize("folder", ["hostile", "hostile-safetensors"])
def test_every_hostile_file_raises_or_opens_in_bounded_time(folder):
    files = corpus(folder)
    assert len(files) >= 50
    for path, expected in files:
        start = time.monotonic()
        try:
            exercise(path)
            outcome = "Ok"
        except weightmap.Error as e:
            outcome = "raised"
            assert str(e), path.name
        assert time.monotonic() - start < 5, path.name
        if expected == "Ok":
            assert outcome == "Ok", path.name
        else:
            assert outcome == "raised", f"{path.name}: opened, expected {expected}"


def test_the_official_readers_hang_is_an_error_at_once(tmp_path):
    # An array claiming 2^64 - 1 elements in a 51-byte file: weightmap checks the count
    # against the bytes left before reading any.
    head = b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + (1).to_bytes(8, "little")
    key = (1).to_bytes(8, "little") + b"a"
    value = (9).to_bytes(4, "little") + (9).to_bytes(4, "little") + (2**64 - 1).to_bytes(8, "little")
    path = tmp_path / "hang.gguf"
    path.write_bytes(head + key + value + bytes(51 - len(head + key + value)))
    assert path.stat().st_size == 51
    start = time.monotonic()
    with pytest.raises(weightmap.FormatError, match="at byte"):
        weightmap.GGUFReader(path)
    assert time.monotonic() - start < 1


def test_arrays_outlive_their_reader(gguf_files):
    path = next(p for p in gguf_files if p.name == "all-types-v3-le.gguf")
    model = weightmap.open(path)
    arrays = {name: (t.numpy(), t.numpy().copy()) for name, t in model.tensors.items()}
    reader = weightmap.GGUFReader(path)
    data = [t.data for t in reader.tensors]
    copies = [d.copy() for d in data]
    model.close()
    del model, reader
    gc.collect()
    for view, copy in arrays.values():
        assert np.array_equal(view.view(np.uint8), copy.view(np.uint8))
    for view, copy in zip(data, copies):
        assert view.tobytes() == copy.tobytes()


def test_views_are_read_only(gguf_files):
    path = next(p for p in gguf_files if p.name == "all-types-v3-le.gguf")
    tensor = next(iter(weightmap.open(path).tensors.values()))
    view = tensor.numpy()
    assert not view.flags.writeable
    with pytest.raises(ValueError):
        view.flags.writeable = True
    with pytest.raises(ValueError):
        view[...] = 0
    with pytest.raises(TypeError):
        tensor.buffer()[0] = 1


def test_a_file_truncated_by_another_process_reads_as_zeros(tmp_path):
    path = tmp_path / "big.safetensors"
    save_file({"a": np.ones(1 << 20, dtype=np.float32), "b": np.full(1 << 20, 2.0, dtype=np.float32)}, path)
    model = weightmap.open(path)
    a, b = model.tensors["a"].numpy(), model.tensors["b"].numpy()
    assert model.is_intact()
    subprocess.run(
        [sys.executable, "-c", f"import os; os.truncate({str(path)!r}, {os.path.getsize(path) // 2})"],
        check=True,
    )
    # Reading the lost pages does not crash: they read as zeros, and the model says so.
    assert b.sum() < 2.0 * (1 << 20)
    assert not model.is_intact()
    assert a[:1000].sum() == 1000.0
    with pytest.raises(weightmap.FileChanged):
        model.tensors["b"].dequantize()


def test_bad_paths_and_files_are_typed_errors(tmp_path):
    with pytest.raises(weightmap.FileNotFound):
        weightmap.open(tmp_path / "nothing.gguf")
    with pytest.raises(FileNotFoundError):
        weightmap.open(tmp_path / "nothing.gguf")
    with pytest.raises(weightmap.FileError):
        weightmap.open(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(weightmap.FormatError):
        weightmap.open(text)
    with pytest.raises(weightmap.Error):
        weightmap.safe_open(text)


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter (its own signal handlers), its output captured."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)


TRUNCATED_WITH_FAULTHANDLER = """
import faulthandler, os, sys
import numpy as np
from safetensors.numpy import save_file
import weightmap
path = sys.argv[1] if len(sys.argv) > 1 else {path!r}
save_file({{"a": np.ones(1 << 20, dtype=np.float32)}}, path)
model = weightmap.open(path)       # the guard's SIGBUS handler goes in
faulthandler.enable()              # ... and faulthandler's replaces it
a = model.tensors["a"].numpy()     # taking an array puts the guard back in front
os.truncate(path, 4096)
print(float(a.sum()), model.is_intact())
"""


def test_a_truncation_after_faulthandler_is_enabled_reads_zeros(tmp_path):
    done = run_python(TRUNCATED_WITH_FAULTHANDLER.format(path=str(tmp_path / "a.safetensors")))
    assert done.returncode == 0, done.stderr
    total, intact = done.stdout.split()
    assert float(total) < 1 << 20 and intact == "False"


def test_a_bus_error_handed_to_faulthandler_ends_the_process_once(tmp_path):
    # A SIGBUS that is no truncation fault goes to faulthandler (behind the guard), which
    # prints the traceback once and hands it back: the process then dies of it, no loop.
    path = tmp_path / "a.safetensors"
    done = run_python(
        "import faulthandler, os, signal\n"
        "import numpy as np\n"
        "from safetensors.numpy import save_file\n"
        "import weightmap\n"
        f"save_file({{'a': np.ones(16, dtype=np.float32)}}, {str(path)!r})\n"
        f"model = weightmap.open({str(path)!r})\n"
        "faulthandler.enable()\n"
        f"again = weightmap.open({str(path)!r})\n"
        "os.kill(os.getpid(), signal.SIGBUS)\n"
        "print('survived')\n",
        timeout=30,
    )
    assert done.returncode == -signal.SIGBUS, (done.returncode, done.stderr)
    assert done.stderr.count("Fatal Python error: Bus error") == 1, done.stderr
    assert "survived" not in done.stdout


MANY_MODELS = """
import gc, resource, sys
import weightmap
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
def maps():
    with open("/proc/self/maps") as f:
        return sum(1 for line in f if {name!r} in line)
models = [weightmap.open({path!r}) for _ in range({count})]
arrays = [m.tensors["a"].numpy() for m in models]
print(maps(), sum(int(a[0]) for a in arrays))
for m in models:
    m.close()
del models
gc.collect()
print(maps())
del arrays
gc.collect()
print(maps())
"""


def test_thousands_of_models_open_at_once_and_close_releases_them(tmp_path):
    path = tmp_path / "small.safetensors"
    save_file({"a": np.full(1 << 16, 3, dtype=np.int32)}, path)  # mapped (past 64 KiB)
    count = 1500  # past the old 1,024-mapping guard table and the usual open-file limit
    done = run_python(MANY_MODELS.format(name=path.name, path=str(path), count=count), timeout=120)
    assert done.returncode == 0, done.stderr
    held, total, after_close, after_arrays = (int(x) for x in done.stdout.split())
    assert held >= count and total == 3 * count
    assert after_close >= count  # arrays keep their mappings alive after close()
    assert after_arrays == 0  # ... and once they go, the mappings do


def test_a_closed_model_raises_closed_and_its_arrays_stay(gguf_files):
    path = next(p for p in gguf_files if p.name == "all-types-v3-le.gguf")
    with weightmap.open(path) as model:
        tensor = next(iter(model.tensors.values()))
        array = tensor.numpy()
        copy = array.copy()
        assert not model.closed
    assert model.closed and "closed" in repr(model)
    for call in (lambda: model.tensors, lambda: model.metadata, tensor.numpy, tensor.dequantize, model.is_intact):
        with pytest.raises(weightmap.Closed, match="closed"):
            call()
    assert array.tobytes() == copy.tobytes()
    # Paths as str, bytes or PathLike.
    for form in (str(path), os.fsencode(path), path):
        assert weightmap.open(form).files == [str(path)]


OUT_OF_MEMORY = """
import resource
import numpy as np
import gguf
import weightmap
path = {path!r}
writer = gguf.GGUFWriter(path, "test")
# 32 Mi Q8_0 elements: 34 MiB in the file, 128 MiB of float32 values.
writer.add_tensor("q", np.zeros((1 << 20, 34), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
writer.write_header_to_file(); writer.write_kv_data_to_file(); writer.write_tensors_to_file(); writer.close()
tensor = weightmap.open(path).tensors["q"]
with open("/proc/self/status") as f:
    size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + (64 << 20), resource.RLIM_INFINITY))
try:
    tensor.dequantize()
except weightmap.OutOfMemory as e:
    assert isinstance(e, MemoryError) and "bytes" in str(e), e
    print("refused")
"""


def test_values_that_do_not_fit_are_out_of_memory_not_an_abort(tmp_path):
    done = run_python(OUT_OF_MEMORY.format(path=str(tmp_path / "big.gguf")), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["refused"]


def write_gguf(path, values):
    import gguf

    writer = gguf.GGUFWriter(path, "test")
    writer.add_tensor("w", values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_a_readers_whole_file_data_is_guarded_and_of_the_file_opened(tmp_path):
    path = tmp_path / "model.gguf"
    write_gguf(path, np.full(1 << 18, 7, dtype=np.float32))  # 1 MiB: mapped, not read
    original = path.read_bytes()
    reader = weightmap.GGUFReader(path)
    # Replaced by a rename before `data` is first read: still the file that was opened.
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF" + bytes(100))
    os.replace(other, path)
    data = reader.data
    assert data.tobytes() == original and not data.flags.writeable
    # Cut short by another process while held: zeros past the new end, no crash.
    write_gguf(path, np.full(1 << 18, 7, dtype=np.float32))
    reader = weightmap.GGUFReader(path)
    data = reader.data
    subprocess.run([sys.executable, "-c", f"import os; os.truncate({str(path)!r}, 8192)"], check=True)
    assert data[:8192].tobytes() == original[:8192]
    assert not data[8192:].any()


def test_a_bus_error_after_faulthandler_is_disabled_ends_the_process(tmp_path):
    # faulthandler, put behind the guard, then disabled: a SIGBUS outside weightmap's
    # mappings must still end the process (not fault forever between the two handlers).
    model_path, victim = tmp_path / "a.safetensors", tmp_path / "victim.bin"
    done = run_python(
        "import faulthandler, os\n"
        "import numpy as np\n"
        "from safetensors.numpy import save_file\n"
        "import weightmap\n"
        f"save_file({{'a': np.ones(1 << 16, dtype=np.float32)}}, {str(model_path)!r})\n"
        f"model = weightmap.open({str(model_path)!r})\n"
        "faulthandler.enable()\n"
        "model.tensors['a'].numpy()\n"
        "faulthandler.disable()\n"
        f"open({str(victim)!r}, 'wb').write(b'1' * (1 << 20))\n"
        f"mapped = np.memmap({str(victim)!r}, mode='r')\n"
        f"os.truncate({str(victim)!r}, 0)\n"
        "print(mapped[500000])\n",
        timeout=30,
    )
    assert done.returncode == -signal.SIGBUS, (done.returncode, done.stderr)
