"""Here, before a GPU session: pack the GPU build of ONNX Runtime, PyAV and platformdirs for the lent GPU machine
into parts that each fit beside the checkout in one call.

The GPU image has a CPU-only onnxruntime and no PyAV, and a call carries at most 64 MiB, checkout included, while
onnxruntime-gpu's wheel alone is 255 MB. So this
- downloads the cp312 manylinux wheels (onnxruntime-gpu, av, platformdirs) unless they are in --wheels already;
- keeps what Python imports: drops libonnxruntime.so (the C API library, 29 MB; the Python module does not need it);
- blanks, in the CUDA provider library's fatbins, the machine code for GPU architectures other than the lent GPU's
  (--arch 90: H100/H200), 135 of its 208 MiB of GPU code: an sm_90 GPU cannot run other architectures' code
  anyway (no PTX is shipped), and blanks compress to nothing (xz: 185 MB -> 52 MB). --arch 0 keeps all of it;
- packs it all as one tar.xz and splits that into .whl/runtime-SHA.part_aa, _ab, ... that fit beside the checkout.

Then, back to back while the machine is warm (it idles out 30 s after a call), one `run` per part:
    carry [".whl/runtime-SHA.part_aa"]   command: bash bench/gpu/runtime_check.sh
runtime_check.sh keeps each part in /tmp/parts, says which are still missing, and once all are there unpacks them
into /tmp/site and measures (see that file). Usage: python bench/gpu/prepare_runtime.py [--arch 90]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import lzma
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from prepare_carry import LIMIT_MB, ROOT, checkout_mb

WHEELS = ["onnxruntime-gpu==1.31.1", "av==18.1.0", "platformdirs"]  # onnxruntime-gpu 1.31: CUDA 13, cuDNN 9
DROP = ("onnxruntime/capi/libonnxruntime.so",)  # prefixes of wheel members the Python module never loads
FATBIN_MAGIC = 0xBA55ED50


def download(dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
                    "--platform", "manylinux_2_17_x86_64", "-d", str(dest), *WHEELS], check=True)  # fmt: skip
    names = [w.split("==")[0].replace("-", "_") for w in WHEELS]
    return [next(dest.glob(f"{n}-*.whl")) for n in names]


def section(elf: bytes | bytearray, name: bytes) -> tuple[int, int]:
    """(file offset, size) of an ELF64 section, read from the section headers."""
    (shoff,) = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    str_off = struct.unpack_from("<Q", elf, shoff + shstrndx * shentsize + 0x18)[0]
    for i in range(shnum):
        h = shoff + i * shentsize
        name_at = str_off + struct.unpack_from("<I", elf, h)[0]
        if elf[name_at : elf.index(b"\0", name_at)] == name:
            return struct.unpack_from("<Q", elf, h + 0x18)[0], struct.unpack_from("<Q", elf, h + 0x20)[0]
    raise SystemExit(f"error: no {name.decode()} section")


def blank_other_archs(lib: bytearray, keep: int) -> tuple[int, int]:
    """Zero the payload of every fatbin entry not built for sm_`keep`; (bytes blanked, entries kept)."""
    pos, size = section(lib, b".nv_fatbin")
    end, blanked, kept = pos + size, 0, 0
    while pos < end:
        magic, _, header, body = struct.unpack_from("<IHHQ", lib, pos)
        if magic != FATBIN_MAGIC:
            pos += 8  # padding between fatbins
            continue
        entry, stop = pos + header, pos + header + body
        while entry < stop:
            _, _, entry_header, payload = struct.unpack_from("<HHIQ", lib, entry)
            arch = struct.unpack_from("<I", lib, entry + 28)[0]
            if arch == keep:
                kept += 1
            else:
                lib[entry + entry_header : entry + entry_header + payload] = bytes(payload)
                blanked += payload
            entry += entry_header + payload
        pos = stop
    return blanked, kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", type=Path, default=ROOT / ".whl" / "wheels", help="where the wheels are (or go)")
    ap.add_argument("--out", type=Path, default=ROOT / ".whl")
    ap.add_argument("--arch", type=int, default=90, help="the lent GPU's sm_XX (0: keep every architecture)")
    ap.add_argument("--limit-mb", type=float, default=LIMIT_MB - 1, help="checkout + one part, MiB (1 MiB spare)")
    args = ap.parse_args()
    wheels = download(args.wheels)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as z:
                for member in z.infolist():
                    if member.is_dir() or member.filename.startswith(DROP):
                        continue
                    data = z.read(member)
                    if member.filename.endswith("libonnxruntime_providers_cuda.so") and args.arch:
                        lib = bytearray(data)
                        blanked, kept = blank_other_archs(lib, args.arch)
                        mib = blanked / 2**20
                        print(f"{member.filename}: kept {kept} sm_{args.arch} images, blanked {mib:.0f} MiB")
                        data = bytes(lib)
                    info = tarfile.TarInfo(member.filename)
                    info.size, info.mode = len(data), (member.external_attr >> 16) or 0o644
                    tar.addfile(info, io.BytesIO(data))
    packed = lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME)
    sha = hashlib.sha256(packed).hexdigest()[:12]
    part_mb = int(args.limit_mb - checkout_mb())
    if part_mb < 4:
        raise SystemExit("error: the checkout leaves no room for a part\nhint: slim the checkout")
    for old in args.out.glob("runtime-*.part_*"):
        old.unlink()
    step = part_mb * 2**20
    parts = []
    for i in range(0, len(packed), step):
        part = args.out / f"runtime-{sha}.part_{chr(97 + i // step // 26)}{chr(97 + i // step % 26)}"
        part.write_bytes(packed[i : i + step])
        parts.append(part)
    print(f"{len(packed) / 2**20:.1f} MiB packed ({', '.join(w.name for w in wheels)}) in {len(parts)} parts of "
          f"<= {part_mb} MiB beside the {checkout_mb():.1f} MiB checkout:")  # fmt: skip
    for part in parts:
        print(f'  run  carry ["{part.relative_to(ROOT)}"]  command: bash bench/gpu/runtime_check.sh')


if __name__ == "__main__":
    main()
