"""The inference-time speaker rule on real speech: when are a test speaker's clips z-scored alone?

A ComParE probe is trained (norm='auto', every clip of its actors) on RAVDESS actors who show every emotion, then tested on
held-out actors twice: as shipped (every actor shows all five emotions) and confounded (each actor keeps one or two
emotions, as in `benchmarks/norm.py`). The test clips keep the test corpus's source statistics; the speakers are:
- `inherit` (the rule since issue 22): z-scored alone because most training speakers of their source (ravdess) were;
- `spread` (the rule before issue 22): alone when the head's scores move within the speaker at least half as much as
  within the training speakers (`benchmarks/transfer.py` implements it);
- `every speaker`: all z-scored alone (what a model trained with norm='speaker' does);
- `no speakers`: speaker ids withheld, source statistics only.
And the same held-out actors under a source name the model has not seen (`as a new source`): the rule then keeps the
source's own statistics whatever the speaker ids. 4 folds by actor; UAR over all held-out clips. Needs ../shared/data.

    python benchmarks/spread_rule.py [--folds 4]
"""
import argparse, sys, tempfile
from pathlib import Path
import numpy as np, pandas as pd
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tamil_ser.data import read_data, five_class
from tamil_ser.train import train
from tamil_ser.scores import uar
from norm import confounded
from transfer import spread, spread_speakers

DATA = Path(__file__).resolve().parents[2]/'shared'/'data'
RULES = {'inherit': None, 'spread': 'spread', 'every speaker': True, 'no speakers': False}

def scores(model, t: pd.DataFrame, rule) -> tuple:
    "Predicted emotions of test clips `t` under speaker rule `rule`, and the model's note on what it did."
    X = model.features(t)
    alone = spread_speakers(model, X, t) if rule == 'spread' else rule
    spk = None if rule is False else t.speaker.to_numpy()
    P = model.proba_from_features(X, speakers=spk, sources=t.source.to_numpy(), alone=alone)
    return np.array(model.labels)[P.argmax(1)], model.norm_used

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--folds', type=int, default=4)
    a = p.parse_args()
    rav = five_class(read_data(DATA/'ravdess'/'manifest.csv', source='ravdess'))
    conf = confounded(rav)
    actors = np.array(sorted(rav.speaker.unique()))
    folds = np.array_split(np.random.default_rng(0).permutation(actors), a.folds)
    preds, notes = {}, []
    for i, test in enumerate(folds):
        with tempfile.TemporaryDirectory() as tmp:
            run = train(rav[~rav.speaker.isin(test)], backbone='compare', mode='probe', test=0, norm='auto',
                        out=Path(tmp)/'run', progress=False, report=False)
        model, tr = run.model, rav[~rav.speaker.isin(test)]
        alone = model.meta['normalisation']['speakers']
        Xt, spk = model.features(tr), tr.speaker.astype(str).to_numpy()
        model.spread_ref = float(np.mean([spread(model, Xt[spk == s]) for s in alone])) if alone else None
        for data, m in (('as shipped', rav), ('confounded', conf), ('confounded, as a new source', conf.assign(source='field'))):
            t = m[m.speaker.isin(test)].reset_index(drop=True)
            for name, rule in RULES.items():
                pred, note = scores(model, t, rule)
                preds.setdefault((data, name), []).append(pd.DataFrame(dict(label=t.label, pred=pred)))
                if name == 'inherit': notes.append(dict(fold=i, data=data, note=note))
        print(f'fold {i} done', flush=True)
    rows = [dict(data=d, rule=h, uar=uar(pd.concat(v).label, pd.concat(v).pred)) for (d, h), v in preds.items()]
    print(pd.DataFrame(rows).pivot(index='data', columns='rule', values='uar')[list(RULES)].round(3).to_markdown())
    print(pd.DataFrame(notes).drop_duplicates(['data', 'note']).to_string(index=False))

if __name__ == '__main__': main()
