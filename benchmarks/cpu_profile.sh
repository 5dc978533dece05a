#!/usr/bin/env bash
# CPU latency figures for docs/benchmarks.md (2 cores). Writes JSON per run into $1.
# --time-budget 0: exactly --iters timed runs, as the tables state (no time limit).
out=$1; mkdir -p $out
for m in mlwnet mlwnet-local hybridnet ce-mlwnet; do
  for p in fp32 bf16; do
    .venv/bin/deblur profile --model $m --device cpu --threads 2 --precision $p --iters 10 --warmup 2 --time-budget 0 --json > $out/${m}_${p}.json
  done
  .venv/bin/deblur profile --model $m --device cpu --threads 2 --channels-last --iters 10 --warmup 2 --time-budget 0 --json > $out/${m}_fp32_cl.json
done
for p in fp32 bf16; do
  .venv/bin/deblur profile --model fftformer --device cpu --threads 2 --precision $p --iters 3 --warmup 1 --time-budget 0 --json > $out/fftformer_${p}.json
done
timeout 400 .venv/bin/deblur profile --model ce-mlwnet --device cpu --threads 2 --compile --iters 10 --warmup 3 --time-budget 0 --json > $out/ce-mlwnet_fp32_compiled.json || echo "compile timed out"
