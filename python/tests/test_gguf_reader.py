"""weightmap.GGUFReader against the official gguf.GGUFReader, on the official writer's files
and Gemma: every field's offset, types and contents(), every tensor's attributes and data."""

import struct

import gguf
import numpy as np
import pytest

import weightmap
from compare import same, same_array


def outcome(call):
    """A call's value, or the fact that it raised."""
    try:
        return ("ok", call())
    except Exception as e:  # noqa: BLE001 - both readers' errors are compared by kind only
        return ("raised", type(e).__name__)


def same_pieces(mine, theirs, what):
    """The official reader's `parts` (dtype, shape, bytes) and `data` of a field."""
    assert mine.data == theirs.data, what
    assert len(mine.parts) == len(theirs.parts), what
    for a, b in zip(mine.parts, theirs.parts):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), what
        assert not a.flags.writeable, what


def check_same(path):
    ours, theirs = weightmap.GGUFReader(path), gguf.GGUFReader(path)
    assert list(ours.fields) == list(theirs.fields)
    for key, field in theirs.fields.items():
        mine = ours.get_field(key)
        assert mine.name == field.name and mine.offset == field.offset, key
        assert list(mine.types) == list(field.types), key
        same_pieces(mine, field, key)
        want, got = outcome(field.contents), outcome(mine.contents)
        if want[0] == "raised":  # invalid UTF-8: the official reader raises on contents()
            assert got[0] == "raised", key
        else:
            assert same(got[1], want[1]), key
        if field.types and field.types[0] == gguf.GGUFValueType.ARRAY:
            for pick in (0, -1, 1, slice(1, 3), slice(None, None, 2), slice(-2, None)):
                want, got = outcome(lambda: field.contents(pick)), outcome(lambda: mine.contents(pick))
                assert want[0] == got[0] and (want[0] == "raised" or same(got[1], want[1])), (key, pick)
    assert ours.alignment == theirs.alignment and ours.data_offset == theirs.data_offset
    assert ours.data.dtype == theirs.data.dtype and ours.data.shape == theirs.data.shape
    assert np.array_equal(ours.data, theirs.data) and not ours.data.flags.writeable
    assert ours.byte_order == theirs.byte_order
    assert len(ours.tensors) == len(theirs.tensors)
    for mine, t in zip(ours.tensors, theirs.tensors):
        assert mine.name == t.name
        assert (mine.field.offset, mine.field.name, mine.field.types) == (t.field.offset, t.field.name, t.field.types)
        assert mine.field.contents() is None
        same_pieces(mine.field, t.field, t.name)
        assert mine.tensor_type == t.tensor_type and type(mine.tensor_type) is type(t.tensor_type)
        assert mine.shape.dtype == t.shape.dtype and list(mine.shape) == list(t.shape), t.name
        assert (mine.n_elements, mine.n_bytes, mine.data_offset) == (t.n_elements, t.n_bytes, t.data_offset)
        assert same_array(mine.data, np.asarray(t.data)), t.name
        assert not mine.data.flags.writeable
    assert ours.get_tensor(0).name == theirs.get_tensor(0).name if theirs.tensors else True
    return len(theirs.fields), len(theirs.tensors)


def test_every_official_fixture_reads_the_same(gguf_files):
    checked = [p.name for p in gguf_files if p.suffix == ".gguf"]
    assert len(checked) >= 10
    for path in gguf_files:
        check_same(path)


def test_five_thousand_tensors(tmp_path):
    path = tmp_path / "many.gguf"
    writer = gguf.GGUFWriter(path, "test")
    for i in range(5000):
        writer.add_tensor(f"t.{i}", np.full((2, 3), i, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    fields, tensors = check_same(path)
    assert tensors == 5000


def test_each_file_of_a_split_set_reads_alone(safetensors_dir):
    files = sorted((safetensors_dir / "split").glob("*.gguf"))
    assert len(files) == 3
    for path in files:
        check_same(path)


def test_gemma_reads_the_same(gemma):
    fields, tensors = check_same(gemma)
    assert (fields, tensors) == (36, 236)


def test_a_non_gguf_file_is_a_value_error(tmp_path):
    path = tmp_path / "x.gguf"
    path.write_bytes(b"not a model at all, just text")
    with pytest.raises(ValueError):
        weightmap.GGUFReader(path)
    with pytest.raises(weightmap.FormatError, match="x.gguf"):
        weightmap.GGUFReader(path)
    with pytest.raises(FileNotFoundError):
        weightmap.GGUFReader(tmp_path / "missing.gguf")
    with pytest.raises(ValueError, match="read-only"):
        weightmap.GGUFReader(path, "r+")


def write_with(path, key, value, endian=gguf.GGUFEndian.LITTLE):
    writer = gguf.GGUFWriter(path, "test", endianess=endian)
    writer.add_array(key, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


NESTED = {
    "ints": [[1, 2], [3]],
    "strings": [["a", "bc"], ["d"]],
    "numbers then strings": [[1, 2], ["xy", ""]],
    "strings then numbers": [["xy"], [1, 2], [-3.5]],
    "empty string first": [[""], [5]],
    "three deep": [[[1], [2, 3]], [[4]], [[True]]],
    "floats": [[1.5, -0.0], [float("inf")]],
}


@pytest.mark.parametrize("endian", [gguf.GGUFEndian.LITTLE, gguf.GGUFEndian.BIG])
@pytest.mark.parametrize("case", sorted(NESTED))
def test_arrays_of_arrays_read_as_the_official_reader_flattens_them(tmp_path, case, endian):
    path = tmp_path / "nested.gguf"
    write_with(path, "nested", NESTED[case], endian)
    check_same(path)


def hand_written(path, inner: list[bytes]):
    """A GGUF v3 file of one key, "k": an array of the given encoded inner arrays."""
    key = struct.pack("<Q", 1) + b"k"
    value = struct.pack("<IIQ", 9, 9, len(inner)) + b"".join(inner)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + key + value)


def uint8s(*values):
    return struct.pack("<IQ", 0, len(values)) + bytes(values)


def strings(*values: bytes):
    return struct.pack("<IQ", 8, len(values)) + b"".join(struct.pack("<Q", len(v)) + v for v in values)


@pytest.mark.parametrize(
    "inner",
    [
        [uint8s(), uint8s(1, 2)],  # an empty first array: its type is not in `types`
        [strings(b"\xff"), uint8s(7)],  # invalid UTF-8 read as text
        [uint8s(7), strings(b"\xff\xfe", b"")],  # ... and as bytes
        [strings(), strings(b"a")],
    ],
    ids=["empty first", "invalid text", "invalid bytes", "empty strings first"],
)
def test_hand_written_arrays_of_arrays_read_the_same(tmp_path, inner):
    path = tmp_path / "nested.gguf"
    hand_written(path, inner)
    check_same(path)


@pytest.mark.parametrize("key", ["GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"])
def test_a_key_named_as_a_header_field_is_refused_as_officially(tmp_path, key):
    path = tmp_path / "dup.gguf"
    name = key.encode()
    entry = struct.pack("<Q", len(name)) + name + struct.pack("<II", 4, 99)  # UINT32 99
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + entry)
    with pytest.raises(KeyError):
        gguf.GGUFReader(path)
    with pytest.raises(weightmap.FormatError, match="duplicates the header field"):
        weightmap.GGUFReader(path)


def test_contents_are_decoded_once_and_handed_out_as_copies(tmp_path):
    path = tmp_path / "tokens.gguf"
    write_with(path, "tokens", [f"t{i}" for i in range(1000)])
    field = weightmap.GGUFReader(path).fields["tokens"]
    first = field.contents()
    first.append("changed")
    assert field.contents() == [f"t{i}" for i in range(1000)]
    assert [field.contents(i) for i in range(1000)] == field.contents()
