"""The peers of the offline benchmark: each a standalone script (run as its own process, so its
wall time and peak memory include start-up, like `mpcmix render`'s), taking ``IN_DIR OUT_DIR
PARTIES`` and writing ``OUT_DIR/p0.wav .. p{PARTIES-1}.wav`` (everyone but that party) and
``OUT_DIR/recording.wav`` (everyone).
"""
