"""Active learning, lab EmoDB → field RAVDESS: which queue strategy reaches a good field UAR with the fewest labels?

    python benchmarks/active_learning.py [--backbone compare] [--seeds 0 1 2] [--rounds 5] [--per-round 40] [--out DIR]

- Lab: five-class EmoDB (`../shared/data/emodb/manifest.csv`). Field: RAVDESS, its 24 actors split once (6 men and 6 women each
  side, fixed seed) into a pool and a field test set. The pool holds every clip of its actors, including calm, disgust and
  surprise: the oracle answers those `other`, which costs a label and teaches nothing, as in real field speech.
- The pool is a real pool folder (pool.csv pointing at the RAVDESS files), votes go into its labels.sqlite through
  `Votes.add_many`, and each round's training data is `export_labels` of the pool (the consensus manifest) plus EmoDB.
- Each round: `queue(pool, model, n=40, strategy=S, seed=...)` (the library's queue, reading the embedding cache by clip id),
  40 oracle labels, refit, field-test UAR (five classes, test actors only).
- Model: an L2 logistic regression on openSMILE functionals (the library's linear probe, fitted with scikit-learn here so that a
  round takes about a second), features z-scored per corpus (EmoDB with EmoDB's statistics, RAVDESS with those of all RAVDESS
  clips, unlabelled: the `norm='source'` adaptation), the 1000 features with the highest ANOVA F on the training clips.
- Strategies: random, uncertainty, diverse, default (diverse + 10 % random); seeds 0 1 2 (seed changes the queue's randomness).
  `spread` asks the queue with no model at all, every round (the model-free default: picks spread over features and actors);
  `cold` is what a new project does: no model for the first queue, the default strategy with the round's model after it.
- Goal (issue 12): `default` reaches random's UAR at 200 labels with at most 120 labels (issue 21: at most 100).
- Queues weigh clips by their chance of being one of the five emotions, learnt from the votes (`in_scope`); `--no-scope` turns
  that off. `--field-weight W` weighs each labelled field clip W times in the fit (default 1; the library's loop uses 3).
- `--field cold` (issue 21): a field where the lab model is near chance. RAVDESS with its actors confounded (one or two emotions
  each, as in `norm.py`), its audio band-limited to a telephone's 300-3400 Hz and mixed with pink noise at 5 dB SNR, written
  once to benchmarks/out/cold_field/ (features cached like any clip).

Writes DIR/curves.csv, DIR/summary.json and DIR/active_learning.png (default DIR: benchmarks/out/active_learning).
"""
import argparse, hashlib, json, shutil, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, pandas as pd

from tamil_ser.data import EMOTIONS, read_manifest, five_class
from tamil_ser.features import embed
from tamil_ser.model import SERModel
from tamil_ser.acquire import queue
from tamil_ser.labels import export_labels
from tamil_ser.votes import Votes, vote_label
from norm import confounded      # benchmarks/norm.py: one or two emotions per actor

DATA = Path(__file__).resolve().parents[2]/'shared'/'data'

class SourceProbe(SERModel):
    "A linear probe on functionals z-scored with the field's own statistics, so that `queue` can score the pool with it."
    def __init__(self, clf, backbone, mu, sd):
        super().__init__(dict(backbone=backbone, mode='probe', labels=EMOTIONS, max_seconds=3.0))
        self.clf, self.backbone, self.mu, self.sd = clf, backbone, mu, sd
    def proba_from_features(self, X, speakers=None, sources=None):
        "Probabilities over EMOTIONS from field embeddings (n, 1, dim)."
        P = np.zeros((len(X), len(EMOTIONS)))
        P[:, self.clf.classes_] = self.clf.predict_proba((np.asarray(X)[:, 0] - self.mu) / self.sd)
        return P

def fit(Z, y, seed=0, w=None):
    "Top-1000 ANOVA features, then L2 logistic regression (balanced classes; clips weighted by `w`)."
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    k = min(1000, Z.shape[1])
    lr = LogisticRegression(C=0.1, max_iter=300, class_weight='balanced', random_state=seed)
    return make_pipeline(SelectKBest(f_classif, k=k), lr).fit(Z, y, logisticregression__sample_weight=w)

def zscore(X): return (X - X.mean(0)) / (X.std(0) + 1e-6), X.mean(0), X.std(0) + 1e-6

def degrade(x, sr, seed, snr_db=5.):
    "Telephone band (300-3400 Hz) and pink noise at `snr_db`."
    from scipy.signal import butter, sosfilt
    y = sosfilt(butter(6, [300, 3400], 'bandpass', fs=sr, output='sos'), x)
    w = np.fft.irfft(np.fft.rfft(np.random.default_rng(seed).normal(size=len(y))) / np.sqrt(np.arange(len(y) // 2 + 1) + 1), len(y))
    w *= np.sqrt(np.mean(y ** 2) / (np.mean(w ** 2) + 1e-12)) * 10 ** (-snr_db / 20)
    return (y + w).astype(np.float32)

def cold_field(field: pd.DataFrame, out=None, snr_db:float=5.) -> pd.DataFrame:
    "RAVDESS confounded, band-limited and noisy (pink noise at `snr_db`), written once under `out`."
    out = Path(out or ('benchmarks/out/cold_field' + ('' if snr_db == 5 else f'_snr{snr_db:g}')))
    import soundfile as sf
    from tamil_ser.audio import load_audio
    m = confounded(field).reset_index(drop=True)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, p in enumerate(m.path):
        f = (out/Path(p).name).resolve()
        if not f.exists(): sf.write(f, degrade(load_audio(p), 16000, i, snr_db), 16000)
        paths.append(str(f))
    return m.assign(path=paths)

def load(backbone, cold=False):
    "EmoDB (five classes) and all of RAVDESS (or its cold version) with their features (through the cache), and the actor split."
    lab = five_class(read_manifest(DATA/'emodb'/'manifest.csv'), verbose=False)
    field = read_manifest(DATA/'ravdess'/'manifest.csv')
    if cold: field = cold_field(field)
    t = time.time()
    XL, XF = embed(lab, backbone, progress=True)[:, 0], embed(field, backbone, progress=True)[:, 0]
    print(f'features: {len(lab)} EmoDB + {len(field)} RAVDESS clips in {time.time() - t:.0f} s ({backbone})')
    actors = field.drop_duplicates('speaker')[['speaker', 'gender']].sort_values('speaker')
    rng = np.random.default_rng(0)
    test = set(np.concatenate([rng.permutation(g.speaker.to_numpy())[:len(g) // 2] for _, g in actors.groupby('gender')]))
    return lab, XL, field, XF, test

def make_pool(root, field, test):
    "A pool folder whose pool.csv points at the pool actors' RAVDESS files; returns (pool, clip_id -> field row)."
    root.mkdir(parents=True, exist_ok=True)
    f = field[~field.speaker.isin(test)]
    ids = [hashlib.blake2b(p.encode(), digest_size=8).hexdigest() for p in f.path]
    pd.DataFrame(dict(path=f.path.to_numpy(), clip_id=ids, origin=f.path.to_numpy(), source='ravdess', speaker=f.speaker.to_numpy(),
                      accent='', gender=f.gender.to_numpy(), quality='', duplicate_of='')).to_csv(root/'pool.csv', index=False)
    pd.DataFrame(dict(speaker=sorted(set(f.speaker)), split='train')).to_csv(root/'splits.csv', index=False)
    return root, dict(zip(ids, f.index))

QUEUES = dict(spread=(lambda r: False, 'default'),   # strategy -> (whether round r's queue may ask the model, queue strategy)
              cold=(lambda r: r > 1, 'default'))

def run(strategy, seed, ctx, rounds, per_round, work, scope=True, field_weight=1.):
    "UAR on the field test set after 0..rounds rounds of `per_round` oracle labels under `strategy`."
    from sklearn.metrics import balanced_accuracy_score
    lab, ZL, yL, field, ZF, row_of, te, yte, bb, mu, sd, test = ctx
    pool, _ = make_pool(work/f'{strategy}-{seed}', field, test)
    model = SourceProbe(fit(ZL, yL, seed), bb, mu, sd)
    out = [dict(strategy=strategy, seed=seed, labels=0, trained=0, uar=balanced_accuracy_score(yte, model.clf.predict(ZF[te])))]
    v = Votes(pool)
    for r in range(1, rounds + 1):
        ask, how = QUEUES.get(strategy, (lambda r: True, strategy))
        q = queue(pool, model if ask(r) else None, n=per_round, strategy=how, seed=seed * 1000 + r, progress=False, backbone=bb,
                  scope=scope)
        answers = [vote_label(field.label[row_of[c]]) for c in q.clip_id]
        v.add_many(pd.DataFrame(dict(clip_id=q.clip_id, annotator='oracle', label=answers, at='', note='', seconds=np.nan)))
        m = export_labels(pool, verbose=False)
        rows = [row_of[c] for c in m.clip_id]
        Z, y = np.r_[ZL, ZF[rows]], np.r_[yL, m.label.map(EMOTIONS.index).to_numpy()]
        w = np.r_[np.ones(len(ZL)), np.full(len(rows), field_weight)]
        model = SourceProbe(fit(Z, y, seed, w), bb, mu, sd)
        out.append(dict(strategy=strategy, seed=seed, labels=r * per_round, trained=len(rows),
                        uar=balanced_accuracy_score(yte, model.clf.predict(ZF[te]))))
    v.close()
    return out

def labels_to_reach(curve: pd.Series, target: float):
    "Labels (linear interpolation between rounds) at which a mean curve first reaches `target`; None if never."
    xs, ys = curve.index.to_numpy(float), curve.to_numpy()
    for i in range(len(xs)):
        if ys[i] >= target:
            return float(xs[i]) if i == 0 else float(xs[i - 1] + (target - ys[i - 1]) / (ys[i] - ys[i - 1]) * (xs[i] - xs[i - 1]))
    return None

def plot(curves, path, per_round):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s, g in curves.groupby('strategy', sort=False):
        m = g.groupby('labels').uar.agg(['mean', 'std'])
        ax.plot(m.index, m['mean'], marker='o', label=s)
        ax.fill_between(m.index, m['mean'] - m['std'], m['mean'] + m['std'], alpha=0.15)
    ax.set(xlabel=f'oracle labels ({per_round} per round)', ylabel='UAR, RAVDESS field test actors',
           title='Active learning: EmoDB lab model → RAVDESS field')
    ax.grid(alpha=0.3); ax.legend(fontsize=10)
    fig.tight_layout(); fig.savefig(path, dpi=120)

def report(curves, a, seconds):
    "Write curves.csv, summary.json and the plot; print the mean curves and whether the goal is met."
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    curves.to_csv(out/'curves.csv', index=False)
    mean = curves.groupby(['strategy', 'labels']).uar.mean().unstack(0)
    target = mean['random'].iloc[-1] if 'random' in mean else None
    need = {s: labels_to_reach(mean[s], target) for s in mean} if target is not None else {}
    per_round = int(curves.labels[curves.labels > 0].min())
    summary = dict(backbone=a.backbone, seeds=sorted(curves.seed.unique().tolist()), per_round=per_round, seconds=seconds,
                   mean_uar={s: [round(x, 4) for x in mean[s]] for s in mean}, labels=mean.index.tolist(),
                   useful_labels_at_max=curves[curves.labels == curves.labels.max()].groupby('strategy').trained.mean().round(1).to_dict(),
                   random_at_max=None if target is None else round(float(target), 4), labels_to_reach_random_at_max=need,
                   goal_default_within_120=None if 'default' not in need else bool(need['default'] is not None and need['default'] <= 120))
    (out/'summary.json').write_text(json.dumps(summary, indent=2))
    plot(curves, out/'active_learning.png', per_round)
    print(mean.round(3).to_string())
    keys = ('random_at_max', 'labels_to_reach_random_at_max', 'useful_labels_at_max', 'goal_default_within_120')
    print(json.dumps({k: summary[k] for k in keys}))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--backbone', default='compare', choices=['compare', 'egemaps'])
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--per-round', type=int, default=40)
    ap.add_argument('--strategies', nargs='+', default=['random', 'uncertainty', 'diverse', 'default'])
    ap.add_argument('--field', default='ravdess', choices=['ravdess', 'cold'], help='cold: confounded, band-limited, noisy RAVDESS')
    ap.add_argument('--no-scope', dest='scope', action='store_false', help="queues do not weigh clips by their chance of being an emotion")
    ap.add_argument('--field-weight', type=float, default=1., help='weight of each labelled field clip in the fit (the library: 3)')
    ap.add_argument('--out', default='benchmarks/out/active_learning')
    ap.add_argument('--curves', nargs='+', metavar='CSV', help='no runs: summarise and plot curves.csv files of earlier runs together')
    a = ap.parse_args(argv)
    if a.curves: return report(pd.concat([pd.read_csv(f) for f in a.curves], ignore_index=True), a, 0)
    warnings.filterwarnings('ignore', module='sklearn')     # constant ComParE features on a few clips: harmless
    if not (DATA/'ravdess'/'manifest.csv').exists():
        sys.exit(f'active_learning: no {DATA}/ravdess/manifest.csv: this benchmark needs ../shared/data')
    lab, XL, field, XF, test = load(a.backbone, a.field == 'cold')
    ZL, (ZF, mu, sd) = zscore(XL)[0], zscore(XF)
    te = np.flatnonzero(field.speaker.isin(test) & field.label.isin(EMOTIONS))
    yte = field.label.iloc[te].map(EMOTIONS.index).to_numpy()
    work = Path(tempfile.mkdtemp(prefix='al-'))
    _, row_of = make_pool(work/'probe', field, test)
    ctx = (lab, ZL, lab.label.map(EMOTIONS.index).to_numpy(), field, ZF, row_of, te, yte, a.backbone, mu, sd, test)
    five = field.label.iloc[list(row_of.values())].isin(EMOTIONS).mean()
    print(f'pool: {len(row_of)} clips of {field.speaker.nunique() - len(test)} actors (five-class {five:.0%}); '
          f'field test: {len(te)} five-class clips of {len(test)} actors')
    rows, t0 = [], time.time()
    for s in a.strategies:
        for seed in a.seeds:
            t = time.time()
            rows += run(s, seed, ctx, a.rounds, a.per_round, work, a.scope, a.field_weight)
            curve = ' '.join(f"{r['uar']:.3f}" for r in rows[-a.rounds - 1:])
            print(f'{s:<12} seed {seed}: {curve}  ({time.time() - t:.0f} s)', flush=True)
    report(pd.DataFrame(rows), a, round(time.time() - t0))
    shutil.rmtree(work, ignore_errors=True)

if __name__ == '__main__': main()
