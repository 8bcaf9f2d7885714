"""The inference-time speaker rule on confounded speech: does `auto` refuse to z-score a speaker who shows one emotion?

A ComParE probe is trained (norm='auto', every clip of its actors) on RAVDESS actors who show every emotion, so the
bundle records how much the head's scores move within a varied speaker (`spread_ref`). It is then tested on held-out
actors twice: as shipped (every actor shows all five emotions) and confounded (each actor keeps one or two emotions, as
in `benchmarks/norm.py`). Three ways to normalise the test clips, all with the test corpus's source statistics:
- `auto`: the model's rule; a speaker is z-scored alone only when its spread is at least half the training speakers';
- `speaker`: every test speaker z-scored alone (what the old per-speaker default did);
- `no speakers`: speaker ids withheld, source statistics only.
4 folds by actor; UAR over all held-out clips, and how many test speakers `auto` z-scored alone. Needs ../shared/data.

    python benchmarks/spread_rule.py [--folds 4]
"""
import argparse, copy, tempfile
from pathlib import Path
import numpy as np, pandas as pd
from tamil_ser.data import read_data, five_class, EMOTIONS
from tamil_ser.train import train, uar
from norm import confounded

DATA = Path(__file__).resolve().parents[2]/'shared'/'data'

def scores(model, t: pd.DataFrame, how: str) -> tuple:
    "Predicted emotions of test clips `t` normalised `how`, and the model's note on what it did."
    m = model
    if how == 'speaker':
        m = copy.copy(model)
        m.meta = copy.deepcopy(model.meta)
        m.meta['normalisation']['norm'] = 'speaker'
    spk = None if how == 'no speakers' else t.speaker.to_numpy()
    P = m.proba_from_features(model.features(t), speakers=spk, sources=t.source.to_numpy())
    return np.array(model.labels)[P.argmax(1)], m.norm_used

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--folds', type=int, default=4)
    a = p.parse_args()
    rav = five_class(read_data(DATA/'ravdess'/'manifest.csv', source='ravdess'))
    conf = confounded(rav)
    actors = np.array(sorted(rav.speaker.unique()))
    rng = np.random.default_rng(0)
    folds = np.array_split(rng.permutation(actors), a.folds)
    preds, notes = {}, []
    for i, test in enumerate(folds):
        with tempfile.TemporaryDirectory() as tmp:
            run = train(rav[~rav.speaker.isin(test)], backbone='compare', mode='probe', test=0, norm='auto',
                        out=Path(tmp)/'run', progress=False, report=False)
        ref = run.model.meta['normalisation'].get('spread_ref')
        for data, m in (('as shipped', rav), ('confounded', conf)):
            t = m[m.speaker.isin(test)].reset_index(drop=True)
            for how in ('auto', 'speaker', 'no speakers'):
                pred, note = scores(run.model, t, how)
                preds.setdefault((data, how), []).append(pd.DataFrame(dict(label=t.label, pred=pred)))
                if how == 'auto': notes.append(dict(fold=i, data=data, spread_ref=ref, note=note, speakers=t.speaker.nunique()))
        print(f'fold {i}: spread_ref {ref}', flush=True)
    rows = [dict(data=d, normalisation=h, uar=uar(pd.concat(v).label, pd.concat(v).pred)) for (d, h), v in preds.items()]
    print(pd.DataFrame(rows).pivot(index='data', columns='normalisation', values='uar')[['auto', 'speaker', 'no speakers']]
          .round(3).to_string())
    print(pd.DataFrame(notes).to_string(index=False))

if __name__ == '__main__': main()
