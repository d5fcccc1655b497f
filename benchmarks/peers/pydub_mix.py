"""pydub: each output an `overlay` chain of the other parties' segments (everyone's for the
recording), exported as 16-bit WAV. pydub holds every segment in memory as bytes."""

import os
import sys
import warnings

warnings.simplefilter("ignore")  # pydub warns about ffmpeg (WAV needs none) and audioop

from pydub import AudioSegment  # noqa: E402


def main(in_dir: str, out_dir: str, parties: int) -> None:
    voices = [AudioSegment.from_wav(os.path.join(in_dir, f"voice{i}.wav")) for i in range(parties)]
    outputs = {f"p{i}": [v for j, v in enumerate(voices) if j != i] for i in range(parties)}
    outputs["recording"] = voices
    for name, segments in outputs.items():
        mix = segments[0]
        for seg in segments[1:]:
            mix = mix.overlay(seg)
        path = os.path.join(out_dir, f"{name}.wav")
        mix.export(path, format="wav")
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
