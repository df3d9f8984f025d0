#!/usr/bin/env bash
# On the lent GPU machine (about 2 minutes): what the Gatys keyframe still needs a GPU to show (issue: Gatys).
#   1. the 1080p keyframe's wall time through the CLI with the CUDA defaults (level ratio 2, deterministic cuDNN);
#   2. the same command again: the two images must be identical (the seed means one image on CUDA too);
#   3. where the time goes, two runs in one process compared; then the same under use_deterministic_algorithms,
#      so that if 2. differs, this one call also says whether full determinism would fix it (and its cost).
# Run from the checkout root with .carry/studio carried (bench/gpu/prepare_carry.py made it here):
#   bash bench/gpu/gatys_check.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1 PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
c=.carry/studio
out=${OUT:-out/gpu}
mkdir -p "$out"
TIMEFORMAT='%R s'
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  for i in 1 2; do
    echo "== run $i: nstvideo keyframe, 1920x1080, --size 1080 --device cuda"
    time timeout 100 python3 -m nstvideo keyframe $c/samples/tubingen-1080p.jpg "$out/gatys-1080-run$i.png" \
      --style-image $c/styles/starry-night.jpg --size 1080 --device "${DEVICE:-cuda}" \
      --vgg $c/vgg16_bn-craft-fp16.pth --overwrite
  done
  python3 -c "
import cv2, numpy as np
a, b = (cv2.imread('$out/gatys-1080-run%d.png' % i).astype(int) for i in (1, 2))
d = np.abs(a - b)
print(f'run 1 vs run 2: max {d.max()}, mean {d.mean():.3f} grey levels:', 'identical' if d.max() == 0 else 'DIFFERENT')"
  echo "== where the time goes; twice in one process (the default: deterministic cuDNN)"
  timeout 100 python3 bench/bench_gatys.py $c/samples/tubingen-1080p.jpg $c/styles/starry-night.jpg --size 1080 \
    --device "${DEVICE:-cuda}" --vgg $c/vgg16_bn-craft-fp16.pth --repeat 2
  echo "== the same with torch.use_deterministic_algorithms: if the runs above differ, does this make them equal?"
  timeout 100 python3 bench/bench_gatys.py $c/samples/tubingen-1080p.jpg $c/styles/starry-night.jpg --size 1080 \
    --device "${DEVICE:-cuda}" --vgg $c/vgg16_bn-craft-fp16.pth --repeat 2 --strict
} 2>&1 | tee "$out/gatys-check.log"
rm -f "$out"/gatys-1080-run2.png  # one image comes back; the log says whether the two matched
