"""Runs NFStream on a capture as the benchmark's peer and prints: flows, seconds."""
import sys
import time

from nfstream import NFStreamer

path = sys.argv[1]
start = time.perf_counter()
flows = 0
for _ in NFStreamer(source=path, statistical_analysis=True, n_meters=1, n_dissections=0):
    flows += 1
print(f"{flows} {time.perf_counter() - start:.3f}")
