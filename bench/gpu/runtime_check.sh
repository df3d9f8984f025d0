#!/usr/bin/env bash
# On the lent GPU machine: the runtime (ONNX Runtime's CUDA provider, the file and live pipelines) on a real GPU.
# The GPU build of onnxruntime and PyAV arrive in parts (bench/gpu/prepare_runtime.py made them here), one per call,
# back to back while the machine is warm; each call runs this script with its part carried:
#   run  carry [".whl/runtime-SHA.part_aa"]  command: bash bench/gpu/runtime_check.sh
# Each call keeps its part in /tmp/parts and says what is still missing; the call that completes the set unpacks it
# into /tmp/site and measures (about 3 minutes on an H200), writing $OUT/runtime-check.log:
#   1. which providers start, through nstvideo (CUDA libraries found as a pip install finds them: site-packages/nvidia);
#   2. CUDA against CPU on a real frame (max / mean difference in grey levels);
#   3. model speed at 360p / 720p / 1080p, batch 1 and 4, for mosaic and mosaic-lite (bench_runtime.py);
#   4. the whole `nstvideo file` pipeline on the demo clip and on it scaled to 1080p (faster than real time?);
#   5. the live path headless at 640x360 and 1280x720 (bench_live.py), and HDR tone mapping's cost (bench_hdr.py);
#   6. --device tensorrt on an onnxruntime-gpu without TensorRT libraries: one line, exit 2.
# Later calls while it stays warm skip the unpacking: `bash bench/gpu/runtime_check.sh` again re-measures.
# Here, without a GPU, a rehearsal of steps 1-6 on this environment with small numbers:
#   SITE=none DEVICE=cpu RUNS=1 HEIGHT=144 bash bench/gpu/runtime_check.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1
out=${OUT:-out/gpu}
device=${DEVICE:-cuda}
site=${SITE:-/tmp/site}
runs=${RUNS:-50}
height=${HEIGHT:-1080}  # the scaled clip's height, and the --size it is also processed at
parts=/tmp/parts
mkdir -p "$out" "$parts"
TIMEFORMAT='%R s'

if [ "$site" != none ] && [ ! -d "$site/onnxruntime" ]; then
  cp .whl/runtime-*.part_* "$parts"/ 2>/dev/null
  pack=$(ls "$parts" | sed -n 's/^runtime-\([0-9a-f]*\)\.part_.*/\1/p' | sort -u | tail -1)
  [ -n "$pack" ] || { echo "no parts here or in $parts: carry .whl/runtime-SHA.part_aa (prepare_runtime.py)"; exit 2; }
  if [ "$(cat "$parts"/runtime-"$pack".part_* | sha256sum | cut -c1-12)" != "$pack" ]; then
    echo "have $(cd "$parts" && ls runtime-"$pack".part_* | tr '\n' ' '): not complete yet, carry the next part"
    exit 0
  fi
  mkdir -p "$site"
  cat "$parts"/runtime-"$pack".part_* | xz -d | tar -x -C "$site" || { echo "unpacking failed"; exit 1; }
  # A pip install puts CUDA's and cuDNN's libraries beside onnxruntime (site-packages/nvidia), where nstvideo's
  # onnxruntime.preload_dlls() looks: link the image's (PyTorch's) there, as they would be.
  nvidia=$(python3 -c "import importlib.util as u; s = u.find_spec('nvidia'); print(s.submodule_search_locations[0])" \
    2>/dev/null)
  [ -n "$nvidia" ] && ln -sfn "$nvidia" "$site/nvidia"
fi
[ "$site" != none ] && export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"  # bench/ scripts import nstvideo from the checkout

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  ls -d "$site"/nvidia/cu* "$site"/nvidia/cudnn 2>/dev/null | sed 's/^/pip CUDA libraries: /'
  python3 -c "import onnxruntime as o, av; print('onnxruntime', o.__version__, o.get_available_providers(), '| PyAV', av.__version__)"

  echo "== 1. providers, as nstvideo starts them"
  timeout 120 python3 -m nstvideo --debug doctor 2>&1 | grep -E "preload|skipped|running on|Execution|│ (tensorrt|cuda|cpu) |CUDA up to"

  if [ "$device" != cpu ] && ! python3 -c "from nstvideo import Stylizer; Stylizer('mosaic', device='$device')" 2>/dev/null
  then  # measure anyway, and say so: the finding is that a pip-style install did not find the libraries
    libs=$(find -L "$site/nvidia" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | tr '\n' ':')
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:-}"
    echo "!! $device did not start as installed; measuring with LD_LIBRARY_PATH=$libs"
  fi

  echo "== 2. $device against cpu on a real frame (the demo clip's frame 100, 640x360, at its own size)"
  timeout 120 python3 - "$device" <<'EOF'
import sys
import av
import numpy as np
from nstvideo import Stylizer
with av.open("samples/big-buck-bunny-12s.mp4") as c:
    frame = next(f for i, f in enumerate(c.decode(video=0)) if i == 100).to_ndarray(format="bgr24")
for style in ("mosaic", "mosaic-lite"):
    a = Stylizer(style, device="cpu", size=0)(frame).astype(int)
    s = Stylizer(style, device=sys.argv[1], size=0)
    d = np.abs(a - s(frame).astype(int))
    print(f"{style} on {s.provider} vs cpu: max {d.max()}, mean {d.mean():.3f} grey levels")
EOF

  for style in mosaic mosaic-lite; do
    echo "== 3-4. $style: model speed, then the file pipeline (demo clip, then scaled to ${height}p)"
    time timeout 240 python3 bench/bench_runtime.py --style $style --device "$device" --runs "$runs" \
      --file-size 256 0 --file-batch 1 4
    time timeout 240 python3 bench/bench_runtime.py --style $style --device "$device" --runs 0 \
      --file-size 256 "$height" --file-batch 4 --clip-height "$height"
  done

  echo "== 5. live, headless (a generated 30 fps clip as the camera)"
  time timeout 120 python3 bench/bench_live.py --style mosaic --device "$device" --seconds 8

  echo "== 5b. HDR tone mapping on this machine's cores (decode thread's cost at 1080p and 4K)"
  timeout 60 python3 bench/bench_hdr.py --runs 10
  timeout 60 python3 bench/bench_hdr.py --width 3840 --height 2160 --runs 5

  echo "== 6. --device tensorrt without TensorRT's libraries: one line and exit 2"
  timeout 60 python3 -m nstvideo file samples/big-buck-bunny-12s.mp4 "$out/trt.mp4" --style mosaic \
    --device tensorrt --duration 1 --overwrite
  echo "exit $?"
  rm -f "$out/trt.mp4"
} 2>&1 | tee "$out/runtime-check.log"
