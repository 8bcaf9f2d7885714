"""Lab -> field transfer against a plain baseline, and an ablation of the recipe (issue 22), on real corpora.

Rows (ComParE functionals, the five emotions unless said):
- EmoDB -> RAVDESS and RAVDESS -> EmoDB, five emotions, and four (angry, happy, neutral, sad: trained and tested on them);
- speaker-independent crossval (5 folds) on a confounded RAVDESS: each actor keeps 1-2 emotions (`norm.py`'s `confounded`);
- EmoDB -> confounded RAVDESS.
These six make the average. EmoDB and RAVDESS crossval (as shipped) are printed as guards (targets 0.86 and 0.72).
A transfer row trains on every clip of one corpus (`train(test=0)`: validation speakers held out for calibration) and
tests on the other with the speakers given; a crossval row trains as `crossval` does.

Each ablation row changes one thing against the default (`default`: what `train`, `evaluate` and `crossval` do):
- the inference-time speaker rule: every test speaker z-scored alone (`alone=True`), speaker ids withheld, the spread rule
  that shipped before issue 22, one head for every clip (no source head: the recipe before issue 22 with the new rule);
- feature selection: 2000 (or 500) features ranked on the lab corpus after its z-scores, or on the raw features before them;
- the head: its L2 strength C, a one-hidden-layer MLP with early stopping on lab speakers, the validation speakers
  (calibration) left out of the final fit;
- test-time adaptation statistics: the test source's mean only, none (training statistics);
- calibration: no temperature (UAR unchanged, ECE shown), scores re-balanced so each emotion's mean score is equal.
`baseline` is `tamil_ser.train.BASELINE` (each source z-scored by itself, scikit-learn's balanced logistic regression).
Last, what `--emotions angry,happy,neutral,sad` changes for five-emotion models tested on the four-emotion clips.

    python benchmarks/transfer.py [--data ../shared/data] [--only default baseline ...] [--no-guards]

Needs ../shared/data (benchmarks only). Features come from the embedding cache (the first ComParE pass over ~1270 clips
takes several minutes on 2 cores); each ablation row fits ~30 heads.
"""
import argparse, contextlib, copy, dataclasses, io, sys, time
from pathlib import Path
import numpy as np, pandas as pd, torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from norm import confounded
from tamil_ser.data import EMOTIONS, LABEL2ID, folds, read_data, five_class
from tamil_ser.features import embed, group_norm
from tamil_ser.model import restrict
from tamil_ser.settings import settings
from tamil_ser.scores import metrics, uar
from tamil_ser.probe import train_probe, uses_lbfgs
from tamil_ser.train import BASELINE, crossval_baseline, held_out_baseline, splits
from tamil_ser.evaluate import ece
from tamil_ser.report import predictions

ROOT = Path(__file__).resolve().parent.parent
FOUR = ['angry', 'happy', 'neutral', 'sad']
MAIN = ['emodb -> ravdess', 'ravdess -> emodb', 'emodb -> ravdess, 4', 'ravdess -> emodb, 4', 'crossval confounded ravdess',
        'emodb -> confounded ravdess']
GUARDS = ['crossval emodb', 'crossval ravdess']

# name -> (Settings fields, inference options); one thing changed at a time
VARIANTS = {
    'default': ({}, {}),
    'speakers: every test speaker alone': ({}, dict(alone=True)),
    'speakers: ids withheld': ({}, dict(alone=False)),
    'speakers: spread rule (before issue 22)': ({}, dict(alone='spread')),
    'speakers: one head for all clips': ({}, dict(one_head=True)),
    'selection: 2000 after z-scores': (dict(select=2000), {}),
    'selection: 2000 before z-scores': (dict(select=2000, select_on='raw'), {}),
    'selection: 500 after z-scores': (dict(select=500), {}),
    'head: C 0.005': (dict(c=0.005), {}),
    'head: C 0.1': (dict(c=0.1), {}),
    'head: C 10': (dict(c=10.), {}),
    'head: MLP 256, early stopping on lab speakers': (dict(hidden=256), {}),
    'head: validation speakers left out of the fit': ({}, dict(refit=False)),
    'adaptation: test mean only': ({}, dict(adapt='mean')),
    'adaptation: none': ({}, dict(adapt=False)),
    'calibration: no temperature': ({}, dict(temperature=False)),
    'calibration: equal mean scores': ({}, dict(prior=True)),
}

def quiet(f, *a, **kw):
    "Call `f` with its printing (split lines) swallowed."
    with contextlib.redirect_stdout(io.StringIO()): return f(*a, **kw)

def col(d, c): return d[c].to_numpy() if c in d else None

def spread_speakers(model, X, d) -> set:
    "The test speakers the pre-issue-22 rule z-scored alone: 10+ clips and a score spread >= half the training speakers'."
    ref, out, spk = model.spread_ref, set(), d.speaker.astype(str).to_numpy()
    if not ref: return out
    for s in np.unique(spk):
        i = spk == s
        if i.sum() >= 10 and spread(model, X[i]) >= 0.5 * ref: out.add(s)
    return out

def spread(model, X) -> float:
    "How much the head's scores move within one speaker's clips once the speaker's mean is taken away (the old rule)."
    with torch.no_grad(): L = model.head(torch.as_tensor((X - X.mean(0)) / model.head.sd.numpy()), normed=True)
    return float(L.std(0).mean())

def fit(d, X, st, tr, va, how: dict):
    "A probe on rows `tr` (calibrated on `va`) of `d`, changed as `how` says."
    model, _ = quiet(train_probe, d, st, X, tr, va, refit=how.get('refit', True))
    if how.get('one_head'): model.source_head = None
    if how.get('temperature') is False: model.meta.update(temperature=1., source_temperature=1.)
    if how.get('alone') == 'spread':       # the training speakers' spread, as training measured it before issue 22
        rows = np.r_[tr, va]
        alone = model.meta['normalisation']['speakers']
        spk = d.iloc[rows].speaker.astype(str).to_numpy()
        Xt = X[rows] if st.layer is None else X[rows][:, [st.layer]]
        model.spread_ref = float(np.mean([spread(model, Xt[spk == a]) for a in alone])) if alone else None
    return model

def proba(model, X, d, how: dict) -> np.ndarray:
    "The model's probabilities for clips `d` (speakers and sources given), normalised and post-processed as `how` says."
    adapt, alone = how.get('adapt', 'auto'), how.get('alone')
    new = not set(d.source) & model.train_sources
    if adapt == 'mean' and new:  # a new source's mean moved onto the training statistics, its spread kept
        X = X - X.mean(0) + model.head.mu.numpy()
        adapt = False
    if alone == 'spread': alone = spread_speakers(model, X, d)
    P = model.proba_from_features(X, speakers=col(d, 'speaker'), sources=col(d, 'source'), adapt=adapt, alone=alone)
    if how.get('prior'):
        for _ in range(10):
            P = P / np.clip(P.mean(0), 1e-9, None)
            P = P / P.sum(1, keepdims=True)
    return P

def scored(d, P, labels=EMOTIONS) -> dict:
    "UAR, its interval and ECE of probabilities `P` on clips `d`."
    pred = predictions(d.reset_index(drop=True), P, labels)
    met = metrics(pred.label, pred.pred, labels)
    return dict(uar=met['uar'], lo=met['uar_ci'][0], hi=met['uar_ci'][1], ece=ece(pred))

def pair(da, Xa, db, Xb, fields, how, emotions=None) -> dict:
    "Train on every clip of `da` (validation speakers as `train(test=0)` holds out), test on `db`."
    st = settings(backbone='compare', mode='probe', test=0, **fields)
    s = quiet(splits, da, st)
    tr, va = (np.flatnonzero(s.split.to_numpy() == k) for k in ('train', 'valid'))
    model = fit(da, Xa, st, tr, va, how)
    P, labels = restrict(proba(model, Xb, db, how), EMOTIONS, emotions)
    return scored(db, P, labels)

def cv(d, X, fields, how, k:int=5) -> dict:
    "Speaker-independent crossval as `crossval` runs it (L-BFGS heads: no validation speakers)."
    st = settings(backbone='compare', mode='probe', **fields)
    if uses_lbfgs(X, st.hidden): st = dataclasses.replace(st, valid=0)
    f = folds(d, k, 'speaker', st.seed)
    P = np.zeros((len(d), len(EMOTIONS)), np.float32)
    for i in range(k):
        te = np.flatnonzero(f.fold == i)
        rest = f[f.fold != i]
        inner = quiet(splits, rest, dataclasses.replace(st, split='speaker', test=0))
        tr, va = (rest.index[inner.split.to_numpy() == s].to_numpy() for s in ('train', 'valid'))
        model = fit(f, X, st, tr, va, how)
        P[te] = proba(model, X[te], f.iloc[te], how)
    return scored(f, P)

def baseline(kind, a) -> dict:
    "The baseline on a row: a pair (train on `a[0]`, test on `a[2]`) or a crossval."
    if kind == 'cv':
        d, X = a
        b = crossval_baseline(folds(d, 5, 'speaker', 0), X)
    else:
        da, Xa, db, Xb = a
        d = pd.concat([da, db], ignore_index=True)
        b = held_out_baseline(d, np.concatenate([Xa, Xb]), np.arange(len(da)), np.arange(len(da), len(d)))
    return dict(uar=b['uar'], lo=b['uar_ci'][0], hi=b['uar_ci'][1], ece=np.nan)

def corpora(data: Path) -> dict:
    "Prepared manifests and ComParE features: EmoDB, RAVDESS, confounded RAVDESS, and their four-emotion parts."
    from tamil_ser.train import prepare
    out = {}
    for s in ('emodb', 'ravdess'):
        m = quiet(prepare, five_class(read_data(data/s/'manifest.csv', source=s), verbose=False), progress=False)
        out[s] = (m.reset_index(drop=True), embed(m, 'compare', progress=False))
    m, X = out['ravdess']
    c = confounded(m)
    out['confounded ravdess'] = (c, X[pd.Index(m.path).get_indexer(c.path)])
    for s in ('emodb', 'ravdess'):
        m, X = out[s]
        i = m.label.isin(FOUR).to_numpy()
        out[f'{s}, 4'] = (m[i].reset_index(drop=True), X[i])
    return out

def rows(c: dict, guards: bool) -> dict:
    "Row name -> ('pair', (da, Xa, db, Xb)) or ('cv', (d, X))."
    p = lambda a, b: ('pair', (*c[a], *c[b]))
    r = {'emodb -> ravdess': p('emodb', 'ravdess'), 'ravdess -> emodb': p('ravdess', 'emodb'),
         'emodb -> ravdess, 4': p('emodb, 4', 'ravdess, 4'), 'ravdess -> emodb, 4': p('ravdess, 4', 'emodb, 4'),
         'crossval confounded ravdess': ('cv', c['confounded ravdess']), 'emodb -> confounded ravdess': p('emodb', 'confounded ravdess')}
    if guards: r.update({'crossval emodb': ('cv', c['emodb']), 'crossval ravdess': ('cv', c['ravdess'])})
    return r

def run_variant(name, r: dict) -> dict:
    "UAR (and interval, ECE) of one variant on every row."
    out = {}
    for row, (kind, a) in r.items():
        if name == 'baseline': out[row] = baseline(kind, a)
        else:
            fields, how = VARIANTS[name]
            out[row] = cv(*a, fields, how) if kind == 'cv' else pair(*a, fields, how)
    return out

def emotions_table(c: dict) -> pd.DataFrame:
    "Five-emotion models (default, baseline) tested on the four-emotion clips, with and without `--emotions`."
    t = []
    for a, b in (('emodb', 'ravdess, 4'), ('ravdess', 'emodb, 4')):
        da, Xa, db, Xb = *c[a], *c[b]
        row = {'pair': f'{a} (5) -> {b}'}
        for emo, tag in ((None, 'five'), (FOUR, '--emotions four')):
            row[f'default, {tag}'] = pair(da, Xa, db, Xb, {}, {}, emo)['uar']
            d = pd.concat([da, db], ignore_index=True)
            row[f'baseline, {tag}'] = held_out_baseline(d, np.concatenate([Xa, Xb]), np.arange(len(da)),
                                                        np.arange(len(da), len(d)), emotions=emo)['uar']
        t.append(row)
    return pd.DataFrame(t).set_index('pair')

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=str(ROOT.parent/'shared'/'data'), help='folder holding emodb/ and ravdess/')
    p.add_argument('--only', nargs='+', help='variants to run (default: all); baseline and default always run')
    p.add_argument('--no-guards', action='store_true', help='skip the EmoDB and RAVDESS crossval guard rows')
    p.add_argument('--no-emotions', action='store_true', help='skip the --emotions table')
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    c = corpora(Path(a.data))
    print(', '.join(f'{k} {len(v[0])}' for k, v in c.items()) + f' clips; baseline: {BASELINE}', flush=True)
    r = rows(c, not a.no_guards)
    names = ['baseline', 'default'] + [v for v in VARIANTS if v != 'default' and (not a.only or v in a.only)]
    res = {}
    for n in names:
        res[n] = run_variant(n, r)
        print(f'{n}: ' + ', '.join(f'{k} {v["uar"]:.3f}' for k, v in res[n].items()) + f'  ({time.time() - t0:.0f} s)', flush=True)
    u = pd.DataFrame({n: {k: v['uar'] for k, v in rr.items()} for n, rr in res.items()}).T
    u['mean of six'] = u[MAIN].mean(axis=1)
    u['worst vs baseline'] = (u[MAIN] - u.loc['baseline', MAIN]).min(axis=1)
    print('\nUAR (rows: variants; the first six columns make the mean)\n' + u.round(3).to_markdown())
    ci = {n: {k: f"{v['uar']:.3f} [{v['lo']:.3f}, {v['hi']:.3f}]" for k, v in rr.items()} for n, rr in res.items() if n in ('baseline', 'default')}
    print('\n95% intervals\n' + pd.DataFrame(ci).to_markdown())
    e = pd.DataFrame({n: {k: v['ece'] for k, v in rr.items() if k in MAIN} for n, rr in res.items() if n != 'baseline'}).T
    print('\nECE of the default and the calibration rows\n' + e.loc[[n for n in e.index if n == 'default' or 'calibration' in n]].round(3).to_markdown())
    if not a.no_emotions: print('\nFive-emotion models on four-emotion clips: what --emotions changes (UAR)\n' + emotions_table(c).round(3).to_markdown())
    print(f'\n{time.time() - t0:.0f} s')

if __name__ == '__main__': main()
