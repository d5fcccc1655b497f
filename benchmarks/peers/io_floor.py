"""The I/O floor: stream the inputs in and the outputs out with soundfile, int16, no mixing.

Output k gets input k's samples (the recording input 0's): every output sample is written once and
every input sample read once, as a mixer must; fsync on close, as mpcmix's outputs are.
"""

import os
import sys

import soundfile as sf

BLOCK = 1 << 17


def main(in_dir: str, out_dir: str, parties: int) -> None:
    inputs = [sf.SoundFile(os.path.join(in_dir, f"voice{i}.wav")) for i in range(parties)]
    rate = inputs[0].samplerate
    names = [f"p{i}" for i in range(parties)] + ["recording"]
    outputs = [sf.SoundFile(os.path.join(out_dir, f"{n}.wav"), "w", rate, 1, subtype="PCM_16")
               for n in names]
    while True:
        blocks = [f.read(BLOCK, dtype="int16") for f in inputs]
        if not len(blocks[0]):
            break
        for k, out in enumerate(outputs):
            out.write(blocks[k % parties])
    for f in outputs:
        f.close()
        fd = os.open(f.name, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
