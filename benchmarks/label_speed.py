"""Speed of the labelling plumbing on a large pool: `queue` over 10k clips whose embeddings are cached, and `label import` of 100k votes.

    python benchmarks/label_speed.py [--clips 10000] [--votes 100000] [--backbone egemaps] [--annotators 10000]

- The pool is a pool.csv of `--clips` rows (no audio is decoded: every clip's embedding is already in the cache, which is the
  case this measures: scoring a pool again after a retrain). The cache is filled with random vectors of the backbone's size.
- The model is a probe bundle (`ProbeModel` with a linear head) on that backbone; its weights do not matter for the timing.
- `queue(strategy='default')`: read 10k cached embeddings by clip id, probabilities, entropy, the top 5 × n shortlist,
  standardise + PCA, k-center, 10 % random. Target < 10 s.
- `import_votes` of a CSV of `--votes` votes (10 annotators): read, check every label and clip against the pool, one SQLite
  transaction. Target < 10 s. Then the same file again (nothing changes) and `export_labels` of the result.
- `agreement` with many annotators: `--annotators` (10k) annotators, each voting on about 8 clips, 3 to 6 votes per clip
  (about 90k votes). It is computed from per-clip counts and one join on clip_id, so its time grows with the votes (and the
  pairs of votes on a clip), not with the square of the annotators. Target < 10 s. For scale, the issue's case: 200
  annotators and 2,400 votes, which took 173 s when agreement looped over every pair of annotators.
"""
import argparse, hashlib, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--clips', type=int, default=10_000)
    ap.add_argument('--votes', type=int, default=100_000)
    ap.add_argument('--backbone', default='egemaps', choices=['egemaps', 'compare'])
    ap.add_argument('--n', type=int, default=50, help='queue length')
    ap.add_argument('--annotators', type=int, default=10_000, help='annotators for the agreement benchmark')
    a = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix='label-speed-'))
    import tamil_ser.features as F
    F.CACHE = tmp/'cache'
    from tamil_ser.data import EMOTIONS
    from tamil_ser.features import get_backbone
    from tamil_ser.model import ProbeHead, ProbeModel
    import tamil_ser.pool as P, tamil_ser.labels as L, tamil_ser.acquire as A, tamil_ser.agreement as G
    bb, rng = get_backbone(a.backbone), np.random.default_rng(0)
    pool = tmp/'pool'; pool.mkdir()
    ids = [hashlib.blake2b(str(i).encode(), digest_size=8).hexdigest() for i in range(a.clips)]
    pd.DataFrame(dict(path=[f'clips/b1/{c}.flac' for c in ids], clip_id=ids, speaker=[f's{i % 200}' for i in range(a.clips)],
                      accent=[['north', 'south', 'east', 'west'][i % 4] for i in range(a.clips)], source='field',
                      quality='', duplicate_of='')).to_csv(pool/'pool.csv', index=False)
    d = P._index_dir(bb, 3.0); d.mkdir(parents=True)
    X = rng.normal(size=(a.clips, bb.n_layers, bb.dim)).astype(np.float32)
    for c, x in zip(ids, X): np.save(d/f'{c}.npy', x)
    head = ProbeHead(bb.n_layers, bb.dim).fit_stats(X[:1000])
    model = ProbeModel(head, dict(backbone=a.backbone, mode='probe', labels=EMOTIONS, max_seconds=3.0))
    P.field_splits(pool)
    t = time.time(); q = A.queue(pool, model, n=a.n, progress=False); tq = time.time() - t
    print(f'queue (default, n={a.n}) over {a.clips} cached clips ({a.backbone}, dim {bb.dim}): {tq:.2f} s  [target < 10 s]  '
          f'{len(q)} clips, {(q.strategy == "random").sum()} random')
    votes = pd.DataFrame(dict(clip_id=np.resize(ids, a.votes), annotator=[f'a{i // a.clips}' for i in range(a.votes)],
                              label=rng.choice(EMOTIONS + ['other'], a.votes)))
    votes.to_csv(tmp/'votes.csv', index=False)
    t = time.time(); s = L.import_votes(pool, tmp/'votes.csv'); ti = time.time() - t
    print(f"label import of {a.votes} votes: {ti:.2f} s  [target < 10 s]  new {s['new']}, bad {len(s['bad'])}")
    t = time.time()
    s = L.import_votes(pool, tmp/'votes.csv')
    print(f"the same file again: {time.time() - t:.2f} s, unchanged {s['unchanged']}")
    t = time.time(); m = L.export_labels(pool, verbose=False); print(f'export_labels of {len(m)} clips: {time.time() - t:.2f} s')
    t = time.time(); g = G.agreement(pool); print(f"agreement over {g['votes']} votes: {time.time() - t:.2f} s (alpha {g['alpha']:.3f})")
    for n_ann, n_votes in [(200, 2_400), (a.annotators, 9 * a.annotators)]:
        v = many_annotators(n_ann, n_votes, rng)
        t = time.time(); g = G.agreement(v); ta = time.time() - t
        print(f"agreement of {g['annotators']} annotators, {g['votes']} votes on {g['clips']} clips: {ta:.2f} s  [target < 10 s]  "
              f"alpha {g['alpha']:.3f}, {len(g['pairs'])} pairs")

def many_annotators(n_ann:int, n_votes:int, rng) -> pd.DataFrame:
    "About `n_votes` votes by `n_ann` annotators, 3 to 6 votes per clip, 70 % of them the clip's true answer."
    from tamil_ser.votes import ANSWERS
    per_clip = rng.integers(3, 7, n_votes // 4)
    per_clip = per_clip[:np.searchsorted(per_clip.cumsum(), n_votes) + 1]
    clip = np.repeat(np.arange(len(per_clip)), per_clip)
    ann = np.concatenate([rng.choice(n_ann, k, replace=False) for k in per_clip])
    truth = rng.integers(0, 6, len(per_clip))[clip]
    label = np.where(rng.random(len(clip)) < 0.7, truth, rng.integers(0, len(ANSWERS), len(clip)))
    return pd.DataFrame(dict(clip_id=[f'c{c}' for c in clip], annotator=[f'a{x}' for x in ann], label=np.array(ANSWERS)[label]))

if __name__ == '__main__': main()
