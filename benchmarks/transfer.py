"""Transfer between two real corpora, with and without test-time adaptation: EmoDB (German, 10 actors) and RAVDESS
(English, 24 actors), on the four emotions they share (angry, happy, neutral, sad).

A probe is trained on every clip of one corpus (validation by speaker) and tested on every clip of the other, once with
the training statistics (`adapt=False`) and once with the test corpus z-scored by its own statistics (`adapt=True`,
test-time adaptation; `tamil_ser.evaluate.transfer_table`). Prints the 2 x 2 figures (direction x adaptation) with
bootstrap 95% intervals, and the gain of adaptation in each direction. Issue 8 asks for at least +0.08 UAR each way.

    python benchmarks/transfer.py [--data ../shared/data] [--backbone compare] [--emotions angry happy neutral sad]

The corpora are read from DATA/emodb and DATA/ravdess (default ../shared/data relative to the repository root); a clone
of the project does not have them, and nothing else needs them. Features go through the embedding cache, so a rerun
takes seconds; the first ComParE pass over the ~1850 clips takes a few minutes on 2 cores.
The same matrix from the command line: tamil-ser transfer DATA/emodb DATA/ravdess --backbone compare --adapt both --out DIR
"""
import argparse, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=str(ROOT.parent/'shared'/'data'), help='folder holding emodb/ and ravdess/')
    p.add_argument('--backbone', default='compare')
    p.add_argument('--emotions', nargs='+', default=['angry', 'happy', 'neutral', 'sad'])
    a = p.parse_args(argv)
    from tamil_ser.data import read_data
    from tamil_ser.evaluate import transfer_table
    data = Path(a.data)
    m = read_data(data/'emodb', data/'ravdess')
    m = m[m.label.isin(a.emotions)]
    print(f"{len(m)} clips: " + ', '.join(f'{s} {n}' for s, n in m.source.value_counts().items()) + f"; emotions {', '.join(a.emotions)}")
    t0 = time.time()
    t = transfer_table(m, adapt=(False, True), within=False, out=tempfile.mkdtemp(), backbone=a.backbone, mode='probe')
    print(f'{a.backbone} probe, {time.time() - t0:.0f} s\n')
    print(f"{'direction':24} {'no adaptation':>24} {'adapted':>24} {'gain':>7}")
    for (tr, te), g in t.groupby(['train', 'test']):
        r = {row.adapt: row for row in g.itertuples()}
        cell = lambda x: f'{x.uar:.3f} [{x.uar_ci[0]:.3f}, {x.uar_ci[1]:.3f}]'
        print(f"{tr + ' -> ' + te:24} {cell(r['False']):>24} {cell(r['True']):>24} {r['True'].uar - r['False'].uar:+7.3f}")

if __name__ == '__main__': main()
