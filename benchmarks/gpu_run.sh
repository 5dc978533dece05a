#!/usr/bin/env bash
# Device-machine runs for docs/benchmarks.md. From the repo root on a CUDA machine:
#   bash benchmarks/gpu_run.sh OUTDIR eager     # profile: all models x fp32/bf16/fp16 x batch 1/8
#   bash benchmarks/gpu_run.sh OUTDIR compile   # profile: torch.compile, fp32, batch 1 and 8
#   bash benchmarks/gpu_run.sh OUTDIR restore   # restore: default vs seed path, precision x tile batch
set -u
out=${1:-gpu_out}
mode=${2:-eager}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/gpu.txt" 2>&1
python3 -c "import torch; print(torch.__version__, torch.version.cuda, torch.backends.cudnn.version())" >> "$out/gpu.txt"
models="fftformer mlwnet mlwnet-local hybridnet ce-mlwnet"
case "$mode" in
  eager)
    for b in 1 8; do
      for p in fp32 bf16 fp16; do
        python3 -m deblur_cli profile --model all --device cuda --precision $p --batch $b \
          --cudnn-benchmark --time-budget 0 --json > "$out/profile_${p}_b${b}.json" || echo "profile $p b$b failed"
        echo "done profile $p batch $b"
      done
    done ;;
  compile)
    for b in 1 8; do
      for m in $models; do
        python3 -m deblur_cli profile --model $m --device cuda --precision fp32 --batch $b \
          --compile --cudnn-benchmark --time-budget 0 --json > "$out/compiled_${m}_b${b}.json" || echo "compiled $m b$b failed"
        echo "done compiled $m batch $b"
      done
    done ;;
  restore)
    python3 benchmarks/restore_speed.py --device cuda --repeats 5 --gpu-matrix --json "$out/restore_cuda.json" ;;
esac
