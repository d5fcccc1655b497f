"""mpcmix's benchmarks: ``python -m benchmarks`` (``make bench``) runs them all, prints one table
and writes docs/performance.md and docs/performance.png.

Single-threaded BLAS for every measurement in this process (the live peers' matrix products
would otherwise be handed to OpenBLAS's thread pool): set before numpy is imported.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
