#!/usr/bin/env bash
# One call on the lent GPU machine (device time is short: everything in one command, inside one call's limit):
#   1. the 1080p Gatys keyframe on an idle GPU (the user's wall time through the CLI, twice, then where it goes);
#   2. one style trained alone for a short while (a single user's steps/s);
#   3. the styles trained in parallel with the one recipe (train_styles.py), exported, packed into $OUT.
# Run from the checkout root with .carry/studio carried (bench/gpu/prepare_carry.py made it here):
#   bash bench/gpu/session.sh [TOTAL_S] [STYLES...]
# TOTAL_S (default 540) is the whole script's time: training gets what the first two steps leave, less the time
# that stopping, exporting and packing take, so the call ends inside its limit whatever the first steps cost.
# DEVICE=cpu runs the same on a CPU (a rehearsal of the call, with tiny numbers). GATYS_SIZE=0 or SOLO_S=0 skips
# that step; RECIPE="..." replaces train_styles.py's RECIPE for every style (the next tuning step, all at once).
set -uo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1 PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}  # bench/ scripts import nstvideo from the checkout
total=${1:-540}
shift || true
styles=("$@")
[ ${#styles[@]} -gt 0 ] || styles=(mosaic candy starry-night the-scream woman-with-hat great-wave mondrian
  composition-vii udnie)
device=${DEVICE:-cuda}
gatys_size=${GATYS_SIZE:-1080}
solo_s=${SOLO_S:-40}
c=.carry/studio
out=${OUT:-out/gpu}
mkdir -p "$out"
vgg=$c/vgg16_bn-craft-fp16.pth
TIMEFORMAT='%R s'

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  python3 -c "import torch, onnxruntime as o, cv2, numpy
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(),
      'onnxruntime', o.__version__, 'opencv', cv2.__version__, 'numpy', numpy.__version__)"
  nproc

  if [ "$gatys_size" -gt 0 ]; then
  echo "== Gatys keyframe, short side $gatys_size, nstvideo keyframe wall time (process start to file written)"
  time timeout 100 python3 -m nstvideo keyframe $c/samples/tubingen-1080p.jpg "$out/gatys-$gatys_size-starry-night.jpg" \
    --style-image $c/styles/starry-night.jpg --size "$gatys_size" --device "$device" --vgg $vgg --overwrite
  echo "== Gatys keyframe: where the time goes"
  timeout 100 python3 bench/bench_gatys.py $c/samples/tubingen-1080p.jpg $c/styles/starry-night.jpg --size "$gatys_size" \
    --device "$device" --vgg $vgg
  fi

  if [ "$solo_s" -gt 0 ]; then
  echo "== one style alone for ${solo_s} s (steps/s of a single training run)"
  timeout -s INT "$solo_s" python3 -m nstvideo train --style-image $c/styles/mosaic.jpg --name solo --data $c/content \
    --out-dir runs/solo --vgg $vgg --device "$device" --iterations 100000 \
    ${RECIPE:-$(cd bench/gpu && python3 -c "from train_styles import RECIPE; print(RECIPE)")} 2>&1 | tail -5
  python3 - <<'EOF'
import csv
rows = list(csv.DictReader(open("runs/solo/solo.losses.csv")))
if len(rows) > 2:  # the first rows include start-up (CUDA context, loss network, cuDNN autotuning)
    a, b = rows[len(rows) // 3], rows[-1]
    steps, secs = int(b["step"]) - int(a["step"]), float(b["elapsed_s"]) - float(a["elapsed_s"])
    print(f"solo: {b['step']} steps in {b['elapsed_s']} s; steady {steps / secs:.2f} steps/s (steps {a['step']}-{b['step']})")
EOF
  fi

  budget=$((total - SECONDS - 90))
  echo "== ${#styles[@]} styles + mosaic-lite in parallel, ${budget} s"
  (sleep 120; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null) &
  python3 bench/gpu/train_styles.py --device "$device" --budget "$budget" --iterations 5000 --styles "${styles[@]}" \
    --lite mosaic ${RECIPE:+--recipe "$RECIPE"}
  nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader 2>/dev/null
  date -u
} 2>&1 | tee "$out/session.log"
