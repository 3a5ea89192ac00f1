"""Shell weight: the gzip -9 size of every JS and CSS file under shell_static/.

Each file is compressed on its own, as a browser downloads it, and the total is the sum
of those sizes. The target is 60 KB, counted as 60,000 bytes.

Run: .venv/bin/python bench/shell_weight.py [--root shell_static]
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Sequence
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
TARGET_BYTES = 60_000
SUFFIXES = (".js", ".mjs", ".css")


def gzip_size(data: bytes) -> int:
    # mtime=0 keeps the header, and so the size, the same from run to run.
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def measure(root: Path) -> list[tuple[Path, int, int]]:
    """Return (path relative to `root`, raw bytes, gzip -9 bytes) per file, largest
    compressed size first."""
    sizes = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in SUFFIXES:
            data = path.read_bytes()
            sizes.append((path.relative_to(root), len(data), gzip_size(data)))
    return sorted(sizes, key=lambda row: -row[2])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=REPOSITORY_ROOT / "shell_static",
                        help="folder to measure (default shell_static/)")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        raise SystemExit(f"{args.root} is not a folder; pass --root with the shell's folder.")

    sizes = measure(args.root)
    if not sizes:
        raise SystemExit(f"No {', '.join(SUFFIXES)} files under {args.root}.")
    width = max(len(str(path)) for path, _, _ in sizes)
    print(f"{'file':<{width}}  {'raw bytes':>10}  {'gzip -9':>8}")
    for path, raw, packed in sizes:
        print(f"{path!s:<{width}}  {raw:>10,}  {packed:>8,}")
    total_raw = sum(raw for _, raw, _ in sizes)
    total_packed = sum(packed for _, _, packed in sizes)
    print(f"{'total (' + str(len(sizes)) + ' files)':<{width}}  {total_raw:>10,}  "
          f"{total_packed:>8,}")
    met = total_packed <= TARGET_BYTES
    print(f"Target: gzip total <= {TARGET_BYTES:,} bytes: {'met' if met else 'MISSED'} "
          f"({total_packed / TARGET_BYTES:.0%} of the budget)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
