"""Put torchaudio's pure-Python Kaldi fbank (compliance/kaldi.py) beside the venv for the tests.

torchaudio's wheel is a CUDA build whose C extension can't load beside the CPU torch, and an
installed-but-broken torchaudio also breaks transformers' audio imports. So the wheel is only
downloaded, never installed: its kaldi.py, which is plain torch code, is the tests' reference.

    python scripts/fetch_torchaudio_reference.py [VERSION]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

VERSION = sys.argv[1] if len(sys.argv) > 1 else "2.11.0"
TARGET = Path(sys.prefix) / "share" / "torchaudio_reference" / "kaldi.py"


def main() -> None:
    if TARGET.is_file():
        return
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        f"torchaudio=={VERSION}", "-d", folder], check=True)  # fmt: skip
        wheel = next(Path(folder).glob("torchaudio-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            source = archive.read("torchaudio/compliance/kaldi.py")
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_bytes(source)
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
