#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz harnesses added for reliability (plain python3 stdlib):
tests/fuzz/corpus/{safetensors,config,hfmodel,tokjson,lbdata,options}/seed-*.
Small by design: libFuzzer grows the corpus itself; these give it the shape of valid files."""
import gzip, io, json, os, struct, sys, zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tinymodel import tiny_config, tiny_tensors  # noqa: E402  (shared tiny Llama shape)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(name, fname, data):
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, dtype="F32", meta=True):
    """tensors: list of (name, shape); data are small floats."""
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = {"format": "pt"}
    for name, shape in tensors:
        n = 1
        for s in shape:
            n *= s
        if dtype == "F32":
            b = struct.pack("<%df" % n, *[((i * 7) % 13 - 6) / 16 for i in range(n)])
        else:  # BF16 / F16: 2 bytes per element
            b = bytes((i * 37) & 0x3F for i in range(2 * n))
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def main():
    # safetensors
    put("safetensors", "seed-tiny-f32", safetensors(tiny_tensors()))
    put("safetensors", "seed-bf16", safetensors([("a", (2, 3)), ("b", (4,))], "BF16", meta=False))
    put("safetensors", "seed-empty", safetensors([]))
    # config.json
    put("config", "seed-tiny", tiny_config())
    put("config", "seed-llama3-rope", tiny_config(rope_scaling={"rope_type": "llama3", "factor": 8.0,
        "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
        eos_token_id=[2, 3]))
    put("config", "seed-mistral", tiny_config(architectures=["MistralForCausalLM"], model_type="mistral",
        sliding_window=None, rope_parameters={"rope_theta": 1e6, "rope_type": "default"}))
    # hfmodel: config \n@@\n index \n@@\n shard
    st = safetensors(tiny_tensors())
    put("hfmodel", "seed-single", tiny_config().encode() + b"\n@@\n\n@@\n" + st)
    idx = json.dumps({"metadata": {"total_size": len(st)},
                      "weight_map": {n: "model-00001-of-00001.safetensors" for n, _ in tiny_tensors()}})
    put("hfmodel", "seed-sharded", tiny_config().encode() + b"\n@@\n" + idx.encode() + b"\n@@\n" + st)
    # tokenizer.json: a tiny byte-level BPE and a tiny metaspace one
    bl = {"version": "1.0", "added_tokens": [{"id": 9, "content": "<s>", "special": True, "single_word": False,
          "lstrip": False, "rstrip": False, "normalized": False}],
          "normalizer": None,
          "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
          "post_processor": None, "decoder": {"type": "ByteLevel"},
          "model": {"type": "BPE", "dropout": None, "unk_token": None, "fuse_unk": False, "byte_fallback": False,
                    "vocab": {"H": 0, "e": 1, "l": 2, "o": 3, "\u0120": 4, "w": 5, "He": 6, "ll": 7, "llo": 8},
                    "merges": ["H e", "l l", "ll o"]}}
    put("tokjson", "seed-bytelevel", json.dumps(bl))
    ms = {"version": "1.0", "added_tokens": [{"id": 0, "content": "<unk>", "special": True},
          {"id": 1, "content": "<s>", "special": True}, {"id": 2, "content": "</s>", "special": True}],
          "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                         {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
          "pre_tokenizer": None,
          "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                             {"Sequence": {"id": "A", "type_id": 0}}], "pair": [],
                             "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
          "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"},
                      "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip",
                      "content": " ", "start": 1, "stop": 0}]},
          "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
                    "vocab": dict([("<unk>", 0), ("<s>", 1), ("</s>", 2)] +
                                  [("<0x%02X>" % b, 3 + b) for b in range(256)] +
                                  [("\u2581", 259), ("a", 260), ("b", 261), ("\u2581a", 262), ("ab", 263)]),
                    "merges": [["\u2581", "a"], ["a", "b"]]}}
    put("tokjson", "seed-metaspace", json.dumps(ms))
    # LongBench records
    def rec(i, **kw):
        r = {"input": "Who wrote %d?" % i, "context": "Passage %d: Ann wrote it.\u0000 \u4e2d" % i,
             "answers": ["Ann"], "length": 5, "dataset": "hotpotqa", "language": "en",
             "all_classes": None, "_id": "id%d" % i}
        r.update(kw)
        return json.dumps(r, ensure_ascii=(i % 2 == 0))
    lines = "\n".join(rec(i) for i in range(3)) + "\n"
    put("lbdata", "seed-jsonl", lines)
    put("lbdata", "seed-bad-line", lines + '{"input": 3}\n' + rec(4, all_classes=["a", "b"]) + "\n")
    put("lbdata", "seed-gz", gzip.compress(lines.encode(), mtime=0))
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data/hotpotqa.jsonl", lines)
    put("lbdata", "seed-zip", z.getvalue())
    # argv split at NUL bytes (first byte odd: positional arguments allowed)
    put("options", "seed-run", b"\x01--model\0smollm2-135m\0--type=SnapKV\0--limit\0" b"5\0--resume\0pos")
    put("options", "seed-range", b"\x00--budget=0.5\0--threads\0" b"99999\0--\0--x")
    put("options", "seed-help", b"\x00--help")


if __name__ == "__main__":
    sys.exit(main())
