"""Write a tiny but realistic llama-style GGUF sample (< 32 KiB) with the official gguf writer.

The committed copy is samples/tiny-llama.gguf; the output is deterministic.
Q4_K needs ne0 % 256 == 0, which rules out ffn_up ([n_embd=64, n_ff]); the Q4_K
tensor is therefore blk.0.ffn_down.weight ([n_ff=256, n_embd]).

Usage: python make_sample.py OUTFILE
"""
import sys

import numpy as np
from gguf import GGML_QUANT_VERSION, GGUFWriter, LlamaFileType, TokenType, quants
from gguf import GGMLQuantizationType as QT

N_VOCAB, N_EMBD, N_FF, N_HEAD, N_HEAD_KV, N_LAYER = 64, 64, 256, 4, 2, 2
HEAD_DIM = N_EMBD // N_HEAD


def vocab():
    words = ["the", "a", "of", "and", "to", "in", "is", "it", "weight", "map", "tensor", "model",
             "llama", "gguf", "café", "naïve", "日本", "語", "🦀", "ok"]
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(0x20, 0x40)]
    tokens += ["▁" + w for w in words] + words[:N_VOCAB - len(tokens) - len(words)]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL] + [TokenType.BYTE] * 32
    types += [TokenType.NORMAL] * (N_VOCAB - len(types))
    scores = [0.0] * 35 + [-float(i) for i in range(N_VOCAB - 35)]
    assert len(tokens) == len(set(tokens)) == N_VOCAB
    return tokens, scores, types


def q4_k(rng, n_rows, ne0):
    """Well-formed Q4_K blocks: small positive d/dmin, random 6-bit scales and 4-bit quants."""
    n_blocks = n_rows * ne0 // 256
    d = np.full((n_blocks, 1), 0.002, np.float16).view(np.uint8)
    dmin = np.full((n_blocks, 1), 0.001, np.float16).view(np.uint8)
    rest = rng.integers(0, 256, (n_blocks, 12 + 128), dtype=np.uint8)
    blocks = np.concatenate([d, dmin, rest], axis=1).reshape(n_rows, -1)
    assert np.isfinite(quants.dequantize(blocks, QT.Q4_K)).all()
    return blocks


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rng = np.random.default_rng(7)
    w = GGUFWriter(sys.argv[1], "llama")
    w.add_name("weightmap tiny sample")
    w.add_file_type(LlamaFileType.MOSTLY_Q4_K_M)
    w.add_quantization_version(GGML_QUANT_VERSION)
    w.add_context_length(2048)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(N_VOCAB)
    tokens, scores, types = vocab()
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)

    def normal(*np_shape):
        return (rng.standard_normal(np_shape) * 0.02).astype(np.float32)

    def norm():
        return (1.0 + normal(N_EMBD)).astype(np.float32)

    w.add_tensor("token_embd.weight", quants.quantize(normal(N_VOCAB, N_EMBD), QT.Q8_0), raw_dtype=QT.Q8_0)
    w.add_tensor("blk.0.attn_norm.weight", norm())
    w.add_tensor("blk.0.attn_q.weight", normal(N_EMBD, N_EMBD).astype(np.float16))
    w.add_tensor("blk.0.ffn_down.weight", q4_k(rng, N_EMBD, N_FF), raw_dtype=QT.Q4_K)
    w.add_tensor("blk.1.attn_norm.weight", norm())
    w.add_tensor("blk.1.attn_k.weight", quants.quantize(normal(N_HEAD_KV * HEAD_DIM, N_EMBD), QT.Q8_0),
                 raw_dtype=QT.Q8_0)
    w.add_tensor("blk.1.ffn_norm.weight", norm())
    w.add_tensor("output_norm.weight", norm())

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(sys.argv[1])


if __name__ == "__main__":
    main()
