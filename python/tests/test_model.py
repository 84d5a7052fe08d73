"""weightmap.open: metadata, tensors, views and float32 values of every format and layout."""

import pydoc

import gguf
import numpy as np
import pytest
from gguf import quants

import weightmap
from compare import same, same_array


def fixture(files, name):
    return next(p for p in files if p.name == name)


def test_metadata_and_tensors_of_a_gguf_file(gguf_files):
    path = fixture(gguf_files, "all-types-v3-le.gguf")
    model = weightmap.open(path)
    official = gguf.GGUFReader(path)
    assert model.format == "gguf" and model.endian == "little" and model.files == [str(path)]
    keys = [k for k in official.fields if not k.startswith("GGUF.")]
    assert list(model.metadata) == keys and len(model.metadata) == len(keys)
    for key in keys:
        field = official.fields[key]
        if field.types[0] != gguf.GGUFValueType.ARRAY or field.types[1] != gguf.GGUFValueType.ARRAY:
            assert same(model.metadata[key], field.contents()), key
        assert model.metadata.types(key) == list(field.types)
    with pytest.raises(KeyError):
        model.metadata["no.such.key"]
    assert list(model.tensors) == [t.name for t in official.tensors]
    for t in official.tensors:
        mine = model.tensors[t.name]
        assert mine.shape == tuple(reversed(t.shape.tolist())) and mine.n_elements == t.n_elements
        assert (mine.offset, mine.nbytes, mine.ggml_type) == (t.data_offset, t.n_bytes, int(t.tensor_type))
        assert bytes(mine.buffer()) == np.asarray(t.data).tobytes()


def test_dequantize_equals_the_official_dequantize(gguf_files):
    model = weightmap.open(fixture(gguf_files, "all-types-v3-le.gguf"))
    official = gguf.GGUFReader(fixture(gguf_files, "all-types-v3-le.gguf"))
    decoded = 0
    for t in official.tensors:
        try:
            want = quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32)
        except NotImplementedError:
            if t.tensor_type.name not in ("I8", "I16", "I32", "I64", "F64"):  # Q8_1, Q8_K, Q1_0...
                with pytest.raises(weightmap.DecodeError, match=t.tensor_type.name):
                    model.tensors[t.name].dequantize()
                continue
            want = np.asarray(t.data).astype(np.float32)  # integers: their values
        got = model.tensors[t.name].dequantize()
        assert got.dtype == np.float32 and got.flags.writeable
        assert got.shape == want.shape, t.name
        assert np.array_equal(got, want, equal_nan=True), t.name
        decoded += 1
    assert decoded >= 20


def test_gemma_tensors_dequantize_as_the_official_package_does(gemma):
    model = weightmap.open(gemma)
    official = {t.name: t for t in gguf.GGUFReader(gemma).tensors}
    seen = set()
    for tensor in model.tensors.values():
        if tensor.dtype in seen or tensor.name == "token_embd.weight":
            continue
        seen.add(tensor.dtype)
        t = official[tensor.name]
        want = quants.dequantize(np.asarray(t.data), t.tensor_type)
        assert same_array(tensor.dequantize(), want.astype(np.float32)), tensor.name
    assert seen >= {"Q5_0", "Q8_0", "Q4_K", "Q6_K", "F32"}


def test_dequantize_into_a_reused_buffer(gemma):
    model = weightmap.open(gemma)
    largest = max(t.n_elements for t in model.tensors.values())
    buffer = np.empty(largest, dtype=np.float32)
    for tensor in list(model.tensors.values())[:40]:
        out = buffer[: tensor.n_elements]
        assert tensor.dequantize(out=out) is out
        assert np.array_equal(out.reshape(tensor.shape), tensor.dequantize())
    tensor = next(iter(model.tensors.values()))
    with pytest.raises(ValueError, match="values"):
        tensor.dequantize(out=np.empty(tensor.n_elements + 1, dtype=np.float32))
    with pytest.raises(ValueError):
        tensor.dequantize(out=np.empty(tensor.n_elements, dtype=np.float64))
    with pytest.raises(ValueError):
        tensor.dequantize(out=np.empty(2 * tensor.n_elements, dtype=np.float32)[::2])


def test_big_endian_views_are_in_file_order_and_quantized_values_refused(gguf_files):
    path = fixture(gguf_files, "all-types-v3-be.gguf")
    model = weightmap.open(path)
    assert model.endian == "big"
    official = {t.name: t for t in gguf.GGUFReader(path).tensors}
    for tensor in model.tensors.values():
        want = official[tensor.name]
        if tensor.dtype in ("F32", "F16", "I32"):
            assert tensor.numpy().dtype.byteorder == ">"
            assert same_array(tensor.numpy(), np.asarray(want.data))
        if tensor.dtype == "Q8_0":
            with pytest.raises(weightmap.DecodeError, match="big-endian"):
                tensor.dequantize()


def test_a_split_gguf_opens_from_its_first_file(safetensors_dir):
    first = next((safetensors_dir / "split").glob("*-00001-of-*.gguf"))
    model = weightmap.open(first)
    assert len(model.files) == 3
    files = {t.file for t in model.tensors.values()}
    assert len(files) >= 2
    for tensor in model.tensors.values():
        shard = gguf.GGUFReader(safetensors_dir / "split" / tensor.file)
        want = next(t for t in shard.tensors if t.name == tensor.name)
        assert same_array(tensor.numpy(), np.asarray(want.data))


def test_help_reads_well():
    text = pydoc.render_doc(weightmap, renderer=pydoc.plaintext)
    for name in ("open", "GGUFReader", "safe_open", "dequantize", "Error"):
        assert name in text
    assert weightmap.__version__
