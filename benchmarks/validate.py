"""Speed of `validate`: 1000 generated 3 s clips (16 kHz, 16-bit WAV). Target: at least 200 clips/s on a 2-core machine.

    python benchmarks/validate.py [--n 1000] [--jobs N] [--sr 44100]
"""
import argparse, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, soundfile as sf
from tamil_ser.audio import SR
from tamil_ser.data import EMOTIONS, validate

def make_clips(root: Path, n: int, secs=3.0, sr=SR, seed=0) -> pd.DataFrame:
    "Write `n` noisy harmonic 3 s clips and return their manifest."
    rng, t = np.random.default_rng(seed), np.arange(int(secs*sr))/sr
    rows = []
    for i in range(n):
        f0 = rng.uniform(90, 300)
        x = sum(np.sin(2*np.pi*f0*h*t)/h for h in range(1, 6))*0.1 + rng.normal(0, 0.01, len(t))
        p = root/f'clip{i:04d}.wav'; sf.write(p, (x*32767).astype(np.int16), sr)
        rows.append(dict(path=str(p), label=EMOTIONS[i % 5], speaker=f'spk{i % 20}', source='bench'))
    return pd.DataFrame(rows)

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--n', type=int, default=1000); ap.add_argument('--jobs', type=int, default=None)
    ap.add_argument('--sr', type=int, default=SR, help='rate of the generated files (44100 to time resampling)')
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        m = make_clips(Path(d), a.n, sr=a.sr)
        validate(m.head(20), progress=False, n_jobs=a.jobs)  # warm up imports and caches
        t0 = time.perf_counter(); r = validate(m, progress=False, n_jobs=a.jobs); dt = time.perf_counter() - t0
    assert len(r.usable) == a.n, r.summary()
    print(f'validate: {a.n} clips of 3 s at {a.sr} Hz in {dt:.2f} s = {a.n/dt:.0f} clips/s (n_jobs={a.jobs or "all cores"}; target >= 200 clips/s)')
