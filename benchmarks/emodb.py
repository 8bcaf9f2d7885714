"""Accuracy on real emotional speech: EmoDB (German, 10 actors), five classes, speaker-independent 5-fold cross-validation.

Prints, for each fold seed:
- openSMILE functionals (eGeMAPS, ComParE) + scikit-learn logistic regression (features standardised on the training
  folds, class_weight='balanced', C = 10 / number of features), without and with per-speaker z-scoring
  (`tamil_ser.features.speaker_norm`); folds from `tamil_ser.data.folds(m, 5, by='speaker', seed)`;
- `tamil_ser.train.crossval(m, k=5, by='speaker', backbone='compare', mode='probe')` (the library's probe with its defaults,
  or the settings given on the command line), with its bootstrap 95% interval.
Then the mean and standard deviation over the seeds. Targets from the issue: speaker normalisation lifts the baselines
(eGeMAPS about 0.66 -> 0.78, ComParE about 0.77 -> 0.84 UAR); the crossval probe reaches UAR >= 0.86.

    python benchmarks/emodb.py [MANIFEST] [--seeds 0 1 2 3 4] [--no-baselines] [--no-probe] [--hidden H --lr LR --epochs E --valid V --wd WD]

MANIFEST defaults to ../shared/data/emodb/manifest.csv relative to the repository root. EmoDB is for benchmarks only:
a clone of the project has no ../shared/. Embeddings go through the library's cache ($TAMIL_SER_CACHE), so only the first
run computes the openSMILE features (about a minute for the 408 clips on 2 cores).
The same probe figure from the command line: tamil-ser crossval MANIFEST --backbone compare --folds 5 --by speaker --out DIR
"""
import argparse, sys, tempfile, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT.parent/'shared'/'data'/'emodb'/'manifest.csv'

def lr_uar(X, d, fold, C) -> float:
    "Out-of-fold UAR of a standardised, class-balanced logistic regression over the folds in `fold`."
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from tamil_ser.scores import uar
    p = np.empty(len(d), object)
    for i in np.unique(fold):
        te = fold == i
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight='balanced', max_iter=5000))
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')                 # convergence chatter at small C
            clf.fit(X[~te], d.label[~te])
        p[te] = clf.predict(X[te])
    return uar(d.label.to_numpy(), p)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('manifest', nargs='?', default=str(DEFAULT), help=f'EmoDB manifest.csv (default {DEFAULT})')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0], help='fold seeds (default 0); several give mean +- sd')
    ap.add_argument('--no-baselines', action='store_true', help='skip the logistic-regression baselines')
    ap.add_argument('--no-probe', action='store_true', help='skip the tamil_ser crossval probe')
    ap.add_argument('--backbone', default='compare', help='backbone of the crossval probe (default compare)')
    ap.add_argument('--hidden', type=int, default=None); ap.add_argument('--lr', type=float, default=None)
    ap.add_argument('--epochs', type=int, default=None); ap.add_argument('--wd', type=float, default=None)
    ap.add_argument('--valid', type=float, default=None, help="crossval's held-out speaker fraction for early stopping (0: none)")
    ap.add_argument('--out', default=None, help='folder for the crossval run folders (default: a temporary folder)')
    a = ap.parse_args()
    mf = Path(a.manifest)
    if not mf.is_file():
        sys.exit(f"EmoDB manifest not found: {mf}\nThis benchmark needs the EmoDB copy in ../shared/data/emodb/ (see ../shared/data/README.md) "
                 "or the path of an EmoDB manifest.csv as its first argument. It is never needed by the tests.")

    import numpy as np
    from tamil_ser.data import folds, read_manifest
    from tamil_ser.features import embed, speaker_norm
    from tamil_ser.train import crossval, prepare
    m = read_manifest(mf)
    d = prepare(m, progress=False)
    print(f'EmoDB five classes: {len(d)} clips, {d.speaker.nunique()} speakers; speaker-independent 5 folds; seeds {a.seeds}\n')
    res = {}
    def show(name, seed, u, extra=''):
        res.setdefault(name, []).append(u); print(f'  seed {seed}  {name:<34} UAR {u:.3f}{extra}', flush=True)

    if not a.no_baselines:
        X = {b: embed(d, b, progress=False)[:, 0] for b in ('egemaps', 'compare')}
        for seed in a.seeds:
            fold = folds(d, 5, 'speaker', seed).fold.to_numpy()
            for b, x in X.items():
                C = 10 / x.shape[1]
                for norm in (False, True):
                    show(f"LR {b} ({'speaker z-scored' if norm else 'raw'})", seed, lr_uar(speaker_norm(x, d.speaker.to_numpy()) if norm else x, d, fold, C))

    if not a.no_probe:
        kw = {k: v for k, v in dict(hidden=a.hidden, lr=a.lr, epochs=a.epochs, wd=a.wd, valid=a.valid).items() if v is not None}
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(a.out or tmp)
            for seed in a.seeds:
                t0 = time.perf_counter()
                r = crossval(m, k=5, by='speaker', backbone=a.backbone, mode='probe', out=out/f'{a.backbone}-probe-seed{seed}', seed=seed, progress=False, **kw)
                lo, hi = r.metrics['uar_ci']
                show(f'tamil_ser probe {a.backbone}' + (f' {kw}' if kw else ''), seed, r.metrics['uar'],
                     f"  95% CI [{lo:.3f}, {hi:.3f}]  folds {' '.join(f'{u:.2f}' for u in r.metrics['fold_uar'])}  ({time.perf_counter()-t0:.0f} s)")

    print('\nsummary (UAR over fold seeds):')
    for name, us in res.items():
        print(f'  {name:<34} {np.mean(us):.3f}' + (f' +- {np.std(us, ddof=1):.3f} (n={len(us)})' if len(us) > 1 else ''))
    if not a.no_probe:
        u = np.mean(res[next(k for k in res if k.startswith('tamil_ser probe'))])
        print(f"target: crossval probe UAR >= 0.86: {u:.3f} -> {'met' if u >= 0.86 else 'NOT met'}")

if __name__ == '__main__': main()
