"""Speed of retraining a probe on cached embeddings. Target: probing 1000 cached clips retrains in under 10 s.

Generates `--n` noisy harmonic 3 s clips (20 speakers) in a temporary folder with a temporary embedding cache, then:

1. `train(m, backbone='tiny', mode='probe')` twice: the first run fills the cache (decode, validate, encode),
   the second is the retrain that the target is about (validate, decode + hash for the cache keys, cache read, probe).
2. The same two runs with a wav2vec2-base-sized backbone (13 layers x 768): no real model can be downloaded here, so a
   stand-in backbone returns seeded random features of that shape through the library's own `embed` and cache
   (`tamil_ser.features.get_backbone` is patched for the name `base-sized`; everything else is the library's code).
3. `fit_probe` alone on the (n, 13, 768) features: the default early-stopped fit and a fixed 300-epoch fit (the worst case).

    python benchmarks/probe_speed.py [--n 1000] [--threads N]

Labels are assigned round-robin to synthetic audio, so the probe learns nothing: its early stopping runs for about
`patience` epochs, which is the usual case on real data too (the best validation epoch comes early).
"""
import argparse, inspect, os, sys, tempfile, time, zlib
from pathlib import Path

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=1000, help='number of clips (default 1000)')
    ap.add_argument('--threads', type=int, default=None, help='torch threads (default: torch decides)')
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ['TAMIL_SER_CACHE'] = str(Path(tmp)/'cache')     # before tamil_ser is imported: a cold, private cache
        import numpy as np, torch
        import tamil_ser.features as tf
        from tamil_ser.data import LABEL2ID
        from tamil_ser.train import train
        from tamil_ser.probe import fit_probe
        sys.path.insert(0, str(Path(__file__).parent)); from validate import make_clips
        if a.threads: torch.set_num_threads(a.threads)

        class BaseSized:
            "Stand-in for a wav2vec2-base backbone: seeded random pooled features (13 layers x 768) per clip."
            name, n_layers, dim, key, use_mask = 'base-sized', 13, 768, 'base-sized@random', True
            def encode(self, clips):
                return np.stack([np.random.default_rng(zlib.crc32(x.tobytes())).normal(size=(13, 768)) for x in clips]).astype(np.float32)
        real_get = tf.get_backbone
        tf.get_backbone = lambda name=tf.DEFAULT_BACKBONE: BaseSized() if name == 'base-sized' else real_get(name)

        t0 = time.perf_counter(); m = make_clips(Path(tmp), a.n); t_make = time.perf_counter() - t0
        print(f'{a.n} clips of 3 s, {m.speaker.nunique()} speakers, written in {t_make:.1f} s; torch threads: {torch.get_num_threads()}')
        rows = []
        for bb in ('tiny', 'base-sized'):
            for what in ('first run (fills the cache)', 'rerun (cache hit)'):
                t0 = time.perf_counter()
                run = train(m, backbone=bb, mode='probe', out=Path(tmp)/f'run-{bb}-{len(rows)}', progress=False)
                dt = time.perf_counter() - t0
                rows.append((bb, what, dt, len(run.history)))
                print(f"train(mode='probe', backbone={bb!r}) {what}: {dt:.1f} s ({len(run.history)} probe epochs)", flush=True)
        X = tf.embed(m, 'base-sized', progress=False)
        y = np.array(m.label.map(LABEL2ID)); tr, va = np.arange(a.n) % 7 != 0, np.arange(a.n) % 7 == 0
        t0 = time.perf_counter(); _, h = fit_probe(X[tr], y[tr], X[va], y[va]); dt_es = time.perf_counter() - t0
        t0 = time.perf_counter(); fit_probe(X, y, epochs=300); dt_300 = time.perf_counter() - t0
        print(f'fit_probe on {X.shape}: default {dt_es:.1f} s ({len(h)} epochs, early stopping); 300 epochs without validation {dt_300:.1f} s', end='')
        if 'solver' in inspect.signature(fit_probe).parameters:
            t0 = time.perf_counter(); fit_probe(X, y, solver='lbfgs'); print(f"; solver='lbfgs' {time.perf_counter() - t0:.1f} s", end='')
        print()
        rerun = {bb: dt for bb, what, dt, _ in rows if what.startswith('rerun')}
        ok = all(v < 10 for v in rerun.values())
        print(f"target: a probe retrain on {a.n} cached clips in under 10 s: tiny {rerun['tiny']:.1f} s, base-sized {rerun['base-sized']:.1f} s -> {'met' if ok else 'NOT met'}")

if __name__ == '__main__': main()
