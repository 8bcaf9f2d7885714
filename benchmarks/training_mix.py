"""What should a challenger be trained on as field labels arrive? Lab EmoDB, field RAVDESS (or its cold version), ComParE.

    python benchmarks/training_mix.py [--field ravdess|cold] [--seeds 0 1 2] [--labels 25 50 100 150 200]

Issue 21, section 3. The field's pool actors are labelled in a random order (an oracle; calm, disgust and surprise answer
`other` and teach nothing), and after each step a linear probe (the same ANOVA top-1000 + logistic regression as
`active_learning.py`, each corpus z-scored by itself) is fitted under each mix and scored on the field test actors:

- `lab + field, cells`: every (source, emotion) cell weighs the same (the library's `balance=True` today);
- `lab + field, pooled`: clips weigh the same, classes balanced;
- `field x3`: as `cells`, the field's cells weighed three times;
- `field only`: the field labels alone (the lab model while the field has fewer than two emotions);
- `chosen`: one of the three above, chosen by cross-validation over the field's labelled train speakers;
- `cells + self-training`: `cells`, then refitted with the unlabelled pool clips it labels with probability >= 0.8, each
  pseudo-labelled clip weighing 0.3 of a labelled one (pseudo-labels are never votes).

Prints the mean field-test UAR per mix and label count, and writes DIR/mix.csv (default DIR: benchmarks/out/training_mix).
"""
import argparse, sys, warnings
from pathlib import Path
import numpy as np, pandas as pd
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).parent))
from active_learning import DATA, EMOTIONS, load, zscore

MIXES = ['lab + field, cells', 'lab + field, pooled', 'field x3', 'field only', 'chosen', 'cells + self-training']

def fit(Z, y, w, seed=0):
    "Top-1000 ANOVA features, then L2 logistic regression with sample weights `w`."
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    pipe = make_pipeline(SelectKBest(f_classif, k=min(1000, Z.shape[1])), LogisticRegression(C=0.1, max_iter=300, random_state=seed))
    return pipe.fit(Z, y, logisticregression__sample_weight=w)

def cell_weights(y, src, field_factor=1.):
    "Weights (mean 1) under which every (source, emotion) cell weighs the same, the field's cells times `field_factor`."
    cell = pd.Series([f'{s}|{e}' for s, e in zip(src, y)])
    w = 1 / cell.map(cell.value_counts()).to_numpy(float)
    w *= np.where(np.asarray(src) == 'field', field_factor, 1.)
    return w / w.mean()

def class_weights(y):
    "Weights (mean 1) under which every emotion weighs the same."
    y = pd.Series(y)
    w = 1 / y.map(y.value_counts()).to_numpy(float)
    return w / w.mean()

def mix_data(mix, ZL, yL, Zf, yf):
    "(features, labels, weights) of the training set under `mix` (`cells`, `pooled`, `field x3` or `field only`)."
    if mix == 'field only': return Zf, yf, class_weights(yf)
    Z, y, src = np.r_[ZL, Zf], np.r_[yL, yf], ['lab'] * len(yL) + ['field'] * len(yf)
    if mix == 'lab + field, pooled': return Z, y, class_weights(y)
    return Z, y, cell_weights(y, src, 3. if mix == 'field x3' else 1.)

def usable(mix, yf):
    "Whether `mix` can be fitted on field labels `yf` (field only needs two emotions)."
    return mix != 'field only' or len(set(yf)) >= 2

def choose(ZL, yL, Zf, yf, spk, seed):
    "The mix of cells, field x3 and field only with the best mean UAR over folds of the field's labelled speakers."
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import GroupKFold
    options = [m for m in ('lab + field, cells', 'field x3', 'field only') if usable(m, yf)]
    if len(set(spk)) < 3 or len(yf) < 20: return 'lab + field, cells'
    score = {m: [] for m in options}
    for tr, va in GroupKFold(min(4, len(set(spk)))).split(Zf, yf, spk):
        for m in options:
            if not usable(m, yf[tr]): continue
            model = fit(*mix_data(m, ZL, yL, Zf[tr], yf[tr]), seed)
            score[m].append(balanced_accuracy_score(yf[va], model.predict(Zf[va])))
    return max(options, key=lambda m: np.mean(score[m]) if score[m] else -1)

def self_train(model, ZL, yL, Zf, yf, Zu, seed, threshold=0.8, weight=0.3):
    "`cells` refitted with the confident pseudo-labels of unlabelled clips `Zu` (probability >= `threshold`) at `weight`."
    P = model.predict_proba(Zu)
    keep = P.max(1) >= threshold
    Z, y, w = mix_data('lab + field, cells', ZL, yL, Zf, yf)
    yp = model.classes_[P[keep].argmax(1)]
    return fit(np.r_[Z, Zu[keep]], np.r_[y, yp], np.r_[w, np.full(keep.sum(), weight)], seed), int(keep.sum())

def run(seed, ctx, sizes):
    "Rows (mix, labels, UAR, ...) for one random labelling order."
    from sklearn.metrics import balanced_accuracy_score
    ZL, yL, ZF, field, pool, te, yte = ctx
    order = np.random.default_rng(seed).permutation(pool)
    rows = []
    for n in sizes:
        picked = order[:n]
        lab = picked[field.label.iloc[picked].isin(EMOTIONS).to_numpy()]       # the oracle's `other` teaches nothing
        Zf, yf, spk = ZF[lab], field.label.iloc[lab].map(EMOTIONS.index).to_numpy(), field.speaker.iloc[lab].to_numpy()
        Zu = ZF[np.setdiff1d(pool, picked)]
        chosen = choose(ZL, yL, Zf, yf, spk, seed)
        for mix in MIXES:
            how, extra = (chosen if mix == 'chosen' else mix), ''
            if mix == 'cells + self-training':
                model, k = self_train(fit(*mix_data('lab + field, cells', ZL, yL, Zf, yf), seed), ZL, yL, Zf, yf, Zu, seed)
                extra = f'{k} pseudo-labels'
            else:
                how = how if usable(how, yf) else 'lab + field, cells'
                model = fit(*mix_data(how, ZL, yL, Zf, yf), seed)
            uar = balanced_accuracy_score(yte, model.predict(ZF[te]))
            rows.append(dict(seed=seed, labels=n, useful=len(lab), mix=mix, uar=uar, chosen=how if mix == 'chosen' else '', note=extra))
    return rows

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--field', default='ravdess', choices=['ravdess', 'cold'])
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--labels', type=int, nargs='+', default=[25, 50, 100, 150, 200])
    ap.add_argument('--out', default='benchmarks/out/training_mix')
    a = ap.parse_args(argv)
    warnings.filterwarnings('ignore')
    if not (DATA/'ravdess'/'manifest.csv').exists(): sys.exit(f'training_mix: no {DATA}/ravdess/manifest.csv: needs ../shared/data')
    lab, XL, field, XF, test = load('compare', a.field == 'cold')
    ZL, ZF = zscore(XL)[0], zscore(XF)[0]
    yL = lab.label.map(EMOTIONS.index).to_numpy()
    te = np.flatnonzero(field.speaker.isin(test) & field.label.isin(EMOTIONS))
    pool = np.flatnonzero(~field.speaker.isin(test))
    ctx = (ZL, yL, ZF, field, pool, te, field.label.iloc[te].map(EMOTIONS.index).to_numpy())
    rows = []
    for seed in tqdm(a.seeds, desc='seeds'): rows += run(seed, ctx, a.labels)
    d = pd.DataFrame(rows)
    out = Path(a.out)/a.field
    out.mkdir(parents=True, exist_ok=True)
    d.to_csv(out/'mix.csv', index=False)
    print(f'field {a.field}: {len(pool)} pool clips, {len(te)} test clips of {len(test)} actors; mean UAR over seeds {a.seeds}')
    print(d.pivot_table(index='mix', columns='labels', values='uar', aggfunc='mean').loc[MIXES].round(3).to_string())
    print('chosen:', d[d.mix == 'chosen'].groupby('labels').chosen.agg(lambda s: ', '.join(s)).to_dict())

if __name__ == '__main__': main()
