"""A straightforward numpy mixer: load every input whole, sum, and write each output.

What one would write first: float32 arrays, the total minus each party's own voice, clipped to
full scale, written with soundfile as float (libsndfile converts to PCM16).
"""

import os
import sys

import numpy as np
import soundfile as sf


def main(in_dir: str, out_dir: str, parties: int) -> None:
    voices = []
    for i in range(parties):
        x, rate = sf.read(os.path.join(in_dir, f"voice{i}.wav"), dtype="float32")
        voices.append(x)
    total = np.sum(voices, axis=0)
    mixes = {f"p{i}": total - voices[i] for i in range(parties)}
    mixes["recording"] = total
    for name, mix in mixes.items():
        path = os.path.join(out_dir, f"{name}.wav")
        sf.write(path, np.clip(mix, -1.0, 32767 / 32768), rate, subtype="PCM_16")
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
