#!/usr/bin/env python3
"""llama.cpp's own accuracy on the SmolLM2 GGUF: the yardstick for `--weights gguf-q8`.

For cases 0 and 1 of tests/fixtures/model/smollm2/fixture.json (12- and 488-token prompts and
transformers' 32 greedy tokens), teacher-forced:
  - llama.cpp (llama-cpp-python, f16 KV cache, its default CPU arithmetic: Q4_1/Q8_0 weights
    meet activations rounded to 8 bits per block of 32): prefill the prompt, then decode
    greedy[0..30] one token at a time;
  - transformers (gguf_file=, weights dequantized to f32, eager f32 arithmetic): one forward pass
    over prompt + greedy[0..30].
For every decode step s (the logits after feeding greedy[s], which predict greedy[s+1]):
max |logit diff| and RMS |logit diff| over the vocabulary, and whether llama.cpp's argmax is
greedy[s+1]. tests/unit/test_model_forward.c holds kvbench's 8-bit path to these numbers on the
same steps (its exact path equals transformers within 1e-4).

Usage: ~/.venv-oracle/bin/python scripts/oracle/q8_llamacpp.py
       [--gguf models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf]
Writes tests/fixtures/model/smollm2/llamacpp_q8.json.
"""
import argparse
import json
import os
import platform

import numpy as np

FIX = "tests/fixtures/model/smollm2"


def transformers_steps(gguf, ids, greedy):
    import torch
    from transformers import AutoModelForCausalLM
    d, f = os.path.split(os.path.abspath(gguf))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32).eval()
    seq = torch.tensor([ids + greedy[:-1]])
    with torch.no_grad():
        logits = model(seq).logits[0].numpy()
    n = len(ids)
    return logits[n:n + len(greedy) - 1]


def llamacpp_steps(gguf, ids, greedy, threads):
    from llama_cpp import Llama
    llm = Llama(model_path=gguf, n_ctx=len(ids) + len(greedy) + 16, n_batch=512, n_threads=threads,
                logits_all=True, verbose=False)
    llm.eval(ids)
    out = []
    for s in range(len(greedy) - 1):
        llm.eval([greedy[s]])
        out.append(np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32))
    return np.stack(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default="models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    import llama_cpp
    import transformers
    fx = json.load(open(os.path.join(FIX, "fixture.json")))
    cases = []
    for which in (0, 1):
        c = fx["cases"][which]
        ref = transformers_steps(a.gguf, c["ids"], c["greedy"])
        got = llamacpp_steps(a.gguf, c["ids"], c["greedy"], a.threads)
        diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        steps = [dict(max=round(float(d.max()), 4), rms=round(float(np.sqrt((d * d).mean())), 4))
                 for d in diff]
        agree = int(sum(int(np.argmax(got[s])) == c["greedy"][s + 1] for s in range(len(steps))))
        cases.append(dict(prompt_tokens=len(c["ids"]), steps=steps,
                          max=max(s["max"] for s in steps),
                          mean_rms=round(float(np.mean([s["rms"] for s in steps])), 4),
                          agree=agree))
        print(f"case {which}: llama.cpp vs transformers over {len(steps)} decode steps: max "
              f"{cases[-1]['max']}, mean rms {cases[-1]['mean_rms']}, argmax agrees {agree}")
    out = dict(made_by="scripts/oracle/q8_llamacpp.py", llama_cpp_python=llama_cpp.__version__,
               transformers=transformers.__version__, cpu=platform.processor() or platform.machine(),
               threads=a.threads, cases=cases)
    with open(os.path.join(FIX, "llamacpp_q8.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
