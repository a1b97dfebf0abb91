#!/usr/bin/env python3
"""Writes the hostile-input catalogue of tests/hostile/README.md into OUTDIR (plain python3 stdlib).

usage: make_hostile.py OUTDIR

Every case is a file (or a directory: an HF model dir, a LongBench data dir, a run dir) under
OUTDIR/<name>, and one line of OUTDIR/cases.tsv:
    name <TAB> verb and arguments (@ = OUTDIR) <TAB> text the one-line error must contain
tests/e2e/hostile.sh runs each through kvbench and checks: exit 2, exactly one line on stderr that
names the file and contains the text, nothing written outside the output directory.
Binary cases are generated rather than committed: most are a few bytes of header; the zip bomb
inflates to 128 MiB from ~130 KB."""
import gzip, json, os, struct, sys, zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tinymodel import tiny_config, tiny_tensors  # noqa: E402  (shared tiny Llama shape)

OUT = None
CASES = []


def case(name, args, expect):
    CASES.append((name, args, expect))


def write(rel, data):
    p = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    return p


# ---- safetensors / HF model directories -------------------------------------------------------
def st_bytes(header_obj=None, data=b"", raw_header=None, hlen=None):
    h = raw_header if raw_header is not None else json.dumps(header_obj).encode()
    return struct.pack("<Q", len(h) if hlen is None else hlen) + h + data


def tiny_model(poison=None, dtype="F32"):
    """A valid tiny safetensors file; poison=(tensor, value) writes one NaN/Inf into it."""
    header, blobs, off = {}, [], 0
    for name, shape in tiny_tensors():
        n = 1
        for s in shape:
            n *= s
        vals = [((i * 7) % 13 - 6) / 16 for i in range(n)]
        if poison and poison[0] == name:
            vals[n // 2 + 1] = poison[1]
        if dtype == "F32":
            b = struct.pack("<%df" % n, *vals)
        else:  # BF16: the top half of the f32
            b = b"".join(struct.pack("<f", v)[2:] for v in vals)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    return st_bytes(header, b"".join(blobs))


def model_dir(name, st=None, config=None, index=None, what="", expect=""):
    write(name + "/config.json", config if config is not None else tiny_config())
    if index is not None:
        write(name + "/model.safetensors.index.json", index)
    if st is not None:
        write(name + "/model.safetensors", st)
    case(name, "info --model @/" + name, expect)


def hf_cases():
    e = "model.safetensors"
    model_dir("st_hlen_u64max", st_bytes({}, hlen=(1 << 64) - 1), expect="header length")
    model_dir("st_hlen_past_eof", st_bytes({"a": 1}, hlen=1 << 20), expect="past the end")
    model_dir("st_offsets_past_eof", st_bytes({"model.embed_tokens.weight": {
        "dtype": "F32", "shape": [16, 8], "data_offsets": [0, 1 << 40]}}, b"\0" * 512), expect=e)
    model_dir("st_offsets_u64", st_bytes(raw_header=b'{"x":{"dtype":"F32","shape":[2],'
              b'"data_offsets":[18446744073709551615,18446744073709551623]}}', data=b"\0" * 8), expect=e)
    model_dir("st_shape_overflow", st_bytes({"x": {"dtype": "F32", "shape": [1 << 32, 1 << 32, 1 << 32],
              "data_offsets": [0, 8]}}, b"\0" * 8), expect=e)
    model_dir("st_shape_negative", st_bytes({"x": {"dtype": "F32", "shape": [-1, -8],
              "data_offsets": [0, 32]}}, b"\0" * 32), expect=e)
    model_dir("st_overlap", st_bytes({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
              "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, b"\0" * 24), expect="overlap")
    model_dir("st_header_deep", st_bytes(raw_header=b"[" * 100000 + b"]" * 100000), expect=e)
    model_dir("st_truncated", b"\x10\0\0\0\0\0\0", expect="truncated")
    model_dir("st_nan_weight", tiny_model(("model.layers.0.mlp.up_proj.weight", float("nan"))),
              expect="tensor 'model.layers.0.mlp.up_proj.weight' holds a NaN or Inf")
    model_dir("st_inf_weight_bf16", tiny_model(("model.embed_tokens.weight", float("inf")), "BF16"),
              expect="tensor 'model.embed_tokens.weight' holds a NaN or Inf")
    names = [n for n, _ in tiny_tensors()]
    model_dir("index_traversal", config=None, index=json.dumps({"weight_map": {
        n: "../../../../../../etc/passwd" for n in names}}), expect="bad shard file name")
    model_dir("index_missing_shard", index=json.dumps({"weight_map": {n: "model-00001-of-00002.safetensors"
              for n in names}}), expect="model-00001-of-00002.safetensors")
    model_dir("config_huge_dims", tiny_model(), config=tiny_config(hidden_size=2**31 - 1,
              num_hidden_layers=10**9), expect="config.json")
    model_dir("config_heads_mismatch", tiny_model(), config=tiny_config(num_attention_heads=3, head_dim=None),
              expect="has shape [8, 8], config says [6, 8]")
    model_dir("config_deep", tiny_model(), config='{"a":' * 50000 + "1" + "}" * 50000, expect="config.json")
    model_dir("config_invalid_utf8", tiny_model(), config=tiny_config(model_type="llXXama").replace("XX", "\udcff").encode(
        "utf-8", "surrogateescape"), expect="not valid UTF-8")
    model_dir("config_eos_overflow", tiny_model(), config=tiny_config(eos_token_id=1e300),
              expect="eos_token_id")
    # a 3 GB config.json (sparse: holes take no disk): refused by size before it is read
    model_dir("config_3gb_sparse", tiny_model(), config="")
    with open(os.path.join(OUT, "config_3gb_sparse", "config.json"), "r+b") as f:
        f.truncate(3 << 30)
    CASES[-1] = (CASES[-1][0], CASES[-1][1], "config.json")


# ---- GGUF -------------------------------------------------------------------------------------
def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf(n_tensors, kvs=b"", n_kv=0, tensors=b"", version=3, tail=b"\0" * 64):
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + kvs + tensors + tail


def kv_str(k, v):
    return gstr(k) + struct.pack("<I", 8) + gstr(v)


def gguf_cases():
    arch = kv_str("general.architecture", "llama")
    def g(name, data, expect):
        write(name + ".gguf", data)
        case(name, "info --model @/%s.gguf" % name, expect)
    g("gguf_ntensors_huge", gguf(1 << 62, arch, 1), ".gguf")
    g("gguf_nkv_huge", gguf(0, arch, 1 << 62), ".gguf")
    g("gguf_string_2gb", gguf(0, gstr("general.architecture") + struct.pack("<IQ", 8, 1 << 31) + b"llama", 1),
      ".gguf")
    g("gguf_string_u64max", gguf(0, struct.pack("<Q", (1 << 64) - 1) + b"general", 1), ".gguf")
    g("gguf_array_overflow", gguf(0, arch + gstr("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 10, 1 << 61), 2),
      ".gguf")
    g("gguf_nested_arrays", gguf(0, arch + gstr("x") + struct.pack("<IIQ", 9, 9, 1) * 10000, 2), ".gguf")
    t_dims = gstr("token_embd.weight") + struct.pack("<I", 4) + struct.pack("<4Q", *([1 << 32] * 4)) + \
        struct.pack("<IQ", 0, 0)
    g("gguf_dims_overflow", gguf(1, arch, 1, t_dims), ".gguf")
    t_off = gstr("token_embd.weight") + struct.pack("<I", 2) + struct.pack("<2Q", 8, 16) + \
        struct.pack("<IQ", 0, 1 << 40)
    g("gguf_offset_past_eof", gguf(1, arch, 1, t_off), ".gguf")
    align = gstr("general.alignment") + struct.pack("<II", 4, 0)
    g("gguf_alignment_zero", gguf(1, arch + align, 2, t_off.replace(struct.pack("<Q", 1 << 40), b"\0" * 8)),
      ".gguf")
    g("gguf_truncated", gguf(0, arch, 1, tail=b"")[:30], ".gguf")
    g("gguf_bad_version", gguf(0, arch, 1, version=99), ".gguf")


# ---- tokenizer.json ---------------------------------------------------------------------------
def tok(vocab, merges, **kw):
    t = {"version": "1.0", "added_tokens": [], "normalizer": None,
         "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
         "post_processor": None, "decoder": {"type": "ByteLevel"},
         "model": {"type": "BPE", "dropout": None, "unk_token": None, "fuse_unk": False, "byte_fallback": False,
                   "vocab": vocab, "merges": merges}}
    t.update(kw)
    return json.dumps(t)


def tok_cases():
    text = write("text.txt", "Hello world\n")
    def t(name, data, expect, stdin=None):
        write(name + ".json", data)
        case(name, "tokenize --tokenizer @/%s.json <%s" % (name, stdin or text), expect)
    base = {"a": 0, "b": 1, "c": 2, "ab": 3}
    t("tok_unreachable_merge", tok(base, ["x y"]), "tok_unreachable_merge.json")
    t("tok_merge_result_missing", tok(base, ["b c"]), "tok_merge_result_missing.json")
    # two tokens share one id, so the merge "a b" -> "ab" (id 0) yields the id of "a" again: a
    # cycle in id space, and decode(id 0) would be ambiguous
    t("tok_cyclic_merge", tok({"a": 0, "b": 1, "ab": 0}, ["a b"]), "tok_cyclic_merge.json")
    t("tok_id_huge", tok({"a": 0, "b": 1 << 40}, []), "tok_id_huge.json")
    t("tok_invalid_utf8", tok(base, ["a b"]).replace('"c"', '"c\udcff"').encode("utf-8", "surrogateescape"),
      "not valid UTF-8")
    t("tok_deep", "[" * 100000 + "]" * 100000, "tok_deep.json")
    t("tok_not_object", "[1, 2, 3]", "tok_not_object.json")


# ---- LongBench records (kvbench run) ---------------------------------------------------------
def rec(**kw):
    r = {"input": "How many?", "context": "Paragraph 1: x", "answers": ["1"], "length": 3,
         "dataset": "passage_count", "language": "en", "all_classes": None, "_id": "h1"}
    r.update(kw)
    return json.dumps(r)


def rec_cases():
    def r(name, fname, data, expect):
        write(name + "/" + fname, data)
        case(name, "run --tasks passage_count --data @/%s --out @/out-%s --limit 1" % (name, name), expect)
    # zip bomb: concatenated gzip members of zeros (the reader accepts multi-member gzip);
    # 128 MiB of output from ~130 KB, refused once it inflates more than 100x past 64 MiB
    member = gzip.compress(b"\0" * (16 << 20), compresslevel=9, mtime=0)
    r("rec_zip_bomb", "passage_count.jsonl.gz", member * 8, "zip bomb")
    full = gzip.compress(("\n".join(rec(_id="r%d" % i) for i in range(200)) + "\n").encode(), mtime=0)
    r("rec_truncated_gz", "passage_count.jsonl.gz", full[: len(full) // 2], "truncated")
    r("rec_corrupt_gz", "passage_count.jsonl.gz", full[:40] + b"\xff" * 64 + full[104:], "corrupt")
    r("rec_invalid_utf8", "passage_count.jsonl", rec(context="Paragraph 1: XX").replace("XX", "\udcff\udcfe").encode(
        "utf-8", "surrogateescape") + b"\n", "not valid UTF-8")
    r("rec_deep", "passage_count.jsonl", '{"input": ' + "[" * 100000 + "]" * 100000 + "}\n", "passage_count.jsonl:1")
    r("rec_unterminated_string", "passage_count.jsonl", '{"input": "' + "x" * (2 << 20) + "\n",
      "passage_count.jsonl:1")
    r("rec_length_huge", "passage_count.jsonl", rec(length=1e300) + "\n", "length")
    r("rec_answers_not_strings", "passage_count.jsonl", rec(answers=[{"a": 1}]) + "\n", "answers")
    r("rec_overlong_utf8", "passage_count.jsonl", rec(context="x").replace('"x"', '"\\u0000').encode() +
      b"\xc0\xaf\"}\n", "passage_count.jsonl:1")


# ---- output directory and run records ---------------------------------------------------------
def run_cases():
    good = rec() + "\n"
    write("data/passage_count.jsonl", good)
    # task names become file names: a traversal is refused as an unknown task
    case("out_task_traversal", "run --tasks ../../../../tmp/kvb-evil --data @/data --out @/out-trav", "kvb-evil")
    # a run directory whose pred/ is a symlink to elsewhere (planted before --resume)
    os.makedirs(os.path.join(OUT, "out_pred_symlink", "memory"), exist_ok=True)
    os.makedirs(os.path.join(OUT, "elsewhere"), exist_ok=True)
    os.symlink("../elsewhere", os.path.join(OUT, "out_pred_symlink", "pred"))
    case("out_pred_symlink", "run --tasks passage_count --data @/data --out @/out_pred_symlink --limit 1 "
         "--max-length 64", "out_pred_symlink/pred: is a symbolic link")
    # run.json of a newer schema, and a deeply nested one, through gate
    base = {"schema_version": 1, "kind": "kvbench.run"}
    write("runjson_deep/run.json", '{"schema_version": 1, "x": ' + "[" * 100000 + "]" * 100000 + "}")
    case("runjson_deep", "gate @/runjson_deep/run.json --baseline @/runjson_deep/run.json", "run.json")
    write("runjson_invalid_utf8/run.json", b'{"schema_version": 1, "kind": "\xff"}')
    case("runjson_invalid_utf8", "diff @/runjson_invalid_utf8 @/runjson_invalid_utf8", "not valid UTF-8")
    # a shard whose run.json names a task with a path traversal: merge must not write ../
    # (a real run record from the fixtures with one task renamed)
    fx = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "results",
                      "runs", "full", "run.json")
    run = json.load(open(fx))
    run["tasks"] = {("../../kvb-evil" if k == "hotpotqa" else k): v for k, v in run["tasks"].items()}
    write("merge_traversal/run.json", json.dumps(run))
    case("merge_traversal", "merge @/merge_traversal --out @/out-merge", "task name '../../kvb-evil' is not valid")
    run["schema_version"] = 99
    write("runjson_newer/run.json", json.dumps(run))
    case("runjson_newer", "gate @/runjson_newer/run.json --baseline @/runjson_newer/run.json", "newer")
    # prediction files for eval
    write("pred_invalid_utf8/pred/passage_count.jsonl", b'{"pred": "\xff", "answers": ["1"], "all_classes": null, '
          b'"length": 3}\n')
    case("pred_invalid_utf8", "eval @/pred_invalid_utf8 --no-write", "passage_count.jsonl")
    write("pred_deep/pred/passage_count.jsonl", "[" * 100000 + "]" * 100000 + "\n")
    case("pred_deep", "eval @/pred_deep --no-write", "passage_count.jsonl")


def main():
    global OUT
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    OUT = os.path.abspath(sys.argv[1])
    os.makedirs(OUT, exist_ok=True)
    hf_cases()
    gguf_cases()
    tok_cases()
    rec_cases()
    run_cases()
    with open(os.path.join(OUT, "cases.tsv"), "w") as f:
        for c in CASES:
            f.write("\t".join(c) + "\n")
    print("%d hostile cases in %s" % (len(CASES), OUT))


if __name__ == "__main__":
    main()
