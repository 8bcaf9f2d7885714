"""Speed of the evaluation analysis and report: 2000 predictions (target: under 15 s with the report), and the bootstrap
(1000 resamples of 2000 predictions, target: under 2 s).

    python benchmarks/evaluate.py [--n 2000]

The predictions table is synthetic (a pretend classifier right about 70% of the time, over 20 speakers, 4 accents and 2
sources); the model's own inference time is not included (see benchmarks/predict.py).
"""
import argparse, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd
from tamil_ser.data import EMOTIONS
from tamil_ser.evaluate import report
from tamil_ser.scores import boot_uar, metrics

def fake_predictions(n: int, seed=0) -> pd.DataFrame:
    "A predictions table shaped like train/evaluate's, from a pretend classifier."
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, n); p = np.where(rng.random(n) < 0.7, y, rng.integers(0, 5, n))
    P = rng.dirichlet(np.ones(5), n); P[np.arange(n), p] += 1.5; P /= P.sum(1, keepdims=True)
    spk = rng.integers(0, 20, n)
    return pd.DataFrame(dict(path=[f'clip{i}.wav' for i in range(n)], label=np.array(EMOTIONS)[y], speaker=[f's{s}' for s in spk],
        accent=np.array(['north', 'east', 'west', 'central'])[spk % 4], source=np.array(['emota', 'movie'])[spk % 2], gender=np.array(['f', 'm'])[spk % 3 % 2],
        duration=rng.uniform(1, 3, n), rms_db=rng.normal(-25, 5, n), pred=np.array(EMOTIONS)[P.argmax(1)], confidence=P.max(1), **{e: P[:, i] for i, e in enumerate(EMOTIONS)}))

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--n', type=int, default=2000); a = ap.parse_args()
    pred = fake_predictions(a.n)
    yi, pi = pred.label.map(EMOTIONS.index).to_numpy(), pred.pred.map(EMOTIONS.index).to_numpy()
    boot_uar(yi[:10], pi[:10], 10)
    t0 = time.perf_counter(); boot_uar(yi, pi, 1000); tb = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter(); met = metrics(pred.label, pred.pred); report(pred, met, Path(d)); tr = time.perf_counter() - t0
        size = (Path(d)/'report.html').stat().st_size
    print(f'bootstrap: 1000 resamples of {a.n} predictions in {tb:.3f} s (target < 2 s)')
    print(f'metrics + group analysis + plots + report.html ({size/1e6:.1f} MB) for {a.n} predictions: {tr:.1f} s (target < 15 s)')
