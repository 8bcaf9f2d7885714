"""Unlabelled clips for normalisation (issue 21): are a field's few labelled clips better z-scored with the statistics of
the whole pool of their source (labelled or not) than with their own?

    python benchmarks/pool_stats.py [--seeds 0 1 2 3 4] [--labels 40 80 120]

Lab EmoDB (five classes) plus k RAVDESS clips of the pool actors (alternate actors, as in `loop.py`; random five-class clips,
field weight 3 as in the loop), a ComParE probe trained by `train` (no validation), scored on every five-class clip of the
test actors through `proba_from_features` (which z-scores that batch by itself: more clips than training had).
`pool` swaps the source statistics of RAVDESS, in training and in the bundle, for those of all 720 pool clips (calm,
disgust and surprise included, as an unlabelled pool would be); `labelled` is the library as it is.
It patches `tamil_ser.probe`'s `_source_stats` and `group_norm`: a measurement, not a feature.
"""
import argparse, tempfile, warnings
from pathlib import Path
import numpy as np, pandas as pd
import tamil_ser.probe as PR
from tamil_ser.data import EMOTIONS, five_class, read_manifest
from tamil_ser.evaluate import uar
from tamil_ser.features import embed, group_stats
from tamil_ser.train import train

DATA = Path(__file__).resolve().parents[2]/'shared'/'data'
POOL = {}                                   # source -> features of its whole pool, while `pool` is measured
_stats, _norm = PR._source_stats, PR.group_norm

def source_stats(X, d, norm):
    "The library's per-source statistics, with a pooled source's taken from its whole pool."
    return {s: group_stats(POOL[s]) if s in POOL else v for s, v in _stats(X, d, norm).items()}

def group_norm(X, groups, min_clips=5, stats=None, eps=1e-6):
    "The library's z-scores, with a pooled source's clips z-scored by its whole pool."
    Z, g = _norm(X, groups, min_clips, stats, eps), np.asarray(groups, object)
    for s, Xs in POOL.items():
        mu, sd = group_stats(Xs)
        Z[g == 'source:' + s] = (X[g == 'source:' + s] - mu) / sd
    return Z

def main(a):
    warnings.filterwarnings('ignore')
    PR._source_stats, PR.group_norm = source_stats, group_norm
    lab = five_class(read_manifest(DATA/'emodb'/'manifest.csv'), verbose=False).assign(source='emodb', domain='lab')
    rav = read_manifest(DATA/'ravdess'/'manifest.csv').assign(source='ravdess', domain='field')
    test = set(sorted(rav.speaker.unique())[1::2])
    pool = rav[~rav.speaker.isin(test)]
    te = rav[rav.speaker.isin(test) & rav.label.isin(EMOTIONS)].reset_index(drop=True)
    XP, Xte = embed(pool, 'compare', progress=True), embed(te, 'compare', progress=True)
    five, rows = pool[pool.label.isin(EMOTIONS)], []
    for how in ('labelled', 'pool'):
        POOL.clear()
        if how == 'pool': POOL['ravdess'] = XP
        for seed in a.seeds:
            order = five.sample(frac=1, random_state=seed)
            for k in a.labels:
                m = pd.concat([lab, order.head(k)], ignore_index=True).fillna('')
                with tempfile.TemporaryDirectory() as d:
                    r = train(m, backbone='compare', mode='probe', test=0, valid=0, field_weight=3, out=Path(d)/'run',
                              progress=False, report=False)
                P = r.model.proba_from_features(Xte, speakers=te.speaker.to_numpy(), sources=te.source.to_numpy())
                rows.append(dict(stats=how, seed=seed, labels=k, uar=uar(te.label, np.array(r.model.labels)[P.argmax(1)])))
            print(how, seed, ' '.join(f"{r['uar']:.3f}" for r in rows[-len(a.labels):]), flush=True)
    t = pd.DataFrame(rows).groupby(['stats', 'labels']).uar.agg(['mean', 'std']).round(3).unstack(0)
    print(t.to_string())

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    ap.add_argument('--labels', type=int, nargs='+', default=[40, 80, 120])
    main(ap.parse_args())
