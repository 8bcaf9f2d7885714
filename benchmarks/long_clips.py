"""Long clips: judge a clip longer than the model's 3 s by its centre, by the mean of its windows' scores, or by their
speech-weighted mean (issue 22). Measured on real speech made long: the clips of one speaker and one emotion joined
with 0.5-1.5 s pauses (a faint noise floor, -60 dBFS) into clips of 6-20 s of speech (9-32 s with the pauses), as a field
recording or a film scene runs; and
on RAVDESS's own clips as shipped (3.3-4 s, mostly silence at both ends).

A ComParE probe is trained on one corpus's 3 s clips (every clip, `train(test=0)`) and tested on the other corpus's long
clips (EmoDB -> RAVDESS and RAVDESS -> EmoDB), and within a corpus on the long clips of held-out speakers (half the
speakers each way). Every rule sees the same model and the same test-time adaptation (the test source's statistics
over what is scored: centre crops, or windows); UAR over the long clips, with bootstrap 95% intervals.

    python benchmarks/long_clips.py [--data ../shared/data] [--hop 1.0]

Needs ../shared/data (benchmarks only). Windows go through the embedding cache: the first run extracts ComParE for
about 4000 windows (tens of minutes on 2 shared cores), a rerun takes a minute.
"""
import argparse, tempfile
from pathlib import Path
import numpy as np, pandas as pd
from tamil_ser.audio import SR, load_audio
from tamil_ser.data import read_data, five_class
from tamil_ser.features import LONG_RULES, clip_windows, embed
from tamil_ser.train import train
from tamil_ser.scores import metrics

ROOT = Path(__file__).resolve().parent.parent

def join_clips(m: pd.DataFrame, seed:int=0, lo:float=6., hi:float=20.) -> pd.DataFrame:
    "Long clips: the clips of each (speaker, emotion) in a random order, joined with pauses into 6-20 s; a row each with `audio`."
    rng, rows = np.random.default_rng(seed), []
    for (spk, lab), g in m.groupby(['speaker', 'label']):
        xs = [load_audio(p) for p in g.path.sample(frac=1, random_state=int(rng.integers(1 << 30)))]
        target, cur = rng.uniform(lo, hi), []
        for x in xs:
            cur.append(x)
            if sum(map(len, cur)) / SR >= target:
                rows.append(_joined(cur, spk, lab, g.source.iloc[0], rng))
                target, cur = rng.uniform(lo, hi), []
        if cur and sum(map(len, cur)) / SR >= lo: rows.append(_joined(cur, spk, lab, g.source.iloc[0], rng))
    return pd.DataFrame(rows)

def _joined(xs, spk, lab, src, rng) -> dict:
    "One long clip of clips `xs` with 0.5-1.5 s pauses of faint noise before, between and after."
    pause = lambda: (1e-3 * rng.standard_normal(int(rng.uniform(0.5, 1.5) * SR))).astype(np.float32)
    parts = [pause()]
    for x in xs: parts += [x, pause()]
    audio = np.concatenate(parts)
    return dict(audio=audio, seconds=len(audio) / SR, speaker=spk, label=lab, source=src)

def scores(model, t: pd.DataFrame, rule: str, hop: float) -> np.ndarray:
    "Probabilities of the clips of `t` (column `audio`) under `rule`, the test source adapted on what is scored."
    if rule == 'center':
        X = embed(list(t.audio), model.backbone, model.max_seconds, progress=False)
        return model.proba_from_features(X, sources=t.source.to_numpy(), adapt=True)
    wins, owner, share = [], [], []
    for i, x in enumerate(t.audio):
        ws, s = clip_windows(x, model.max_seconds, hop)
        wins += ws
        owner += [i] * len(ws)
        share.append(s)
    X = embed(wins, model.backbone, model.max_seconds, progress=False)
    P = model.proba_from_features(X, sources=t.source.to_numpy()[owner], adapt=True)
    w = np.concatenate(share) if rule == 'speech' else np.ones(len(P))
    owner = np.array(owner)
    out = np.zeros((len(t), P.shape[1]))
    for i in range(len(t)):
        j = owner == i
        wi = w[j] if w[j].sum() > 0 else np.ones(j.sum())
        out[i] = (P[j] * wi[:, None]).sum(0) / wi.sum()
    return out

def cell(model, t, rule, hop) -> str:
    "'UAR [lo, hi]' of `rule` on the clips of `t`."
    P = scores(model, t, rule, hop)
    met = metrics(t.label, np.array(model.labels)[P.argmax(1)])
    return f"{met['uar']:.3f} [{met['uar_ci'][0]:.3f}, {met['uar_ci'][1]:.3f}]"

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=str(ROOT.parent/'shared'/'data'), help='folder holding emodb/ and ravdess/')
    p.add_argument('--hop', type=float, default=1.0, help='seconds between window starts (default 1)')
    a = p.parse_args(argv)
    data = Path(a.data)
    lab = {s: five_class(read_data(data/s/'manifest.csv', source=s)).reset_index(drop=True) for s in ('emodb', 'ravdess')}
    long = {s: join_clips(m) for s, m in lab.items()}
    for s, t in long.items():
        print(f'{s}: {len(t)} long clips, {t.seconds.min():.1f}-{t.seconds.max():.1f} s (median {t.seconds.median():.1f})', flush=True)
    shipped = lab['ravdess'].assign(audio=[load_audio(p) for p in lab['ravdess'].path])
    rows, tmp = [], Path(tempfile.mkdtemp())
    def fit(m, name): return train(m, backbone='compare', mode='probe', test=0, out=tmp/name, progress=False, report=False).model
    models = {s: fit(m, s) for s, m in lab.items()}
    tests = {'emodb -> ravdess, long': (models['emodb'], long['ravdess']),
             'ravdess -> emodb, long': (models['ravdess'], long['emodb']),
             'emodb -> ravdess as shipped (3.3-4 s)': (models['emodb'], shipped)}
    for s, m in lab.items():   # within a corpus: train on half the speakers, test on the long clips of the other half
        spk = sorted(m.speaker.unique())
        half = set(spk[::2])
        model = fit(m[m.speaker.isin(half)], f'{s}-half')
        tests[f'{s} held-out speakers, long'] = (model, long[s][~long[s].speaker.isin(half)].reset_index(drop=True))
    for name, (model, t) in tests.items():
        rows.append(dict(test=name, clips=len(t), **{r: cell(model, t, r, a.hop) for r in LONG_RULES}))
        print(rows[-1], flush=True)
    print(pd.DataFrame(rows).to_markdown(index=False))

if __name__ == '__main__': main()
