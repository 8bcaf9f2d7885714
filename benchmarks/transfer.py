"""Transfer between two real corpora, with and without test-time adaptation: EmoDB (German, 10 actors) and RAVDESS
(English, 24 actors), on the four emotions they share (angry, happy, neutral, sad).

A probe is trained on every clip of one corpus (validation by speaker) and tested on every clip of the other
(`tamil_ser.evaluate.transfer_table`) three ways: with the training statistics (`none`), with the test corpus z-scored by
its own statistics (`source`, test-time adaptation), and with each varied-enough test speaker z-scored alone on top
(`source+speaker`, what `evaluate` does by default when it knows the speakers). Prints the figures per direction with
bootstrap 95% intervals, and the gain of adaptation over `none`. Issue 8 asks for at least +0.08 UAR each way.

    python benchmarks/transfer.py [--data ../shared/data] [--backbone compare] [--emotions angry happy neutral sad]

The corpora are read from DATA/emodb and DATA/ravdess (default ../shared/data relative to the repository root); a clone
of the project does not have them, and nothing else needs them. Features go through the embedding cache, so a rerun
takes seconds; the first ComParE pass over the ~1850 clips takes a few minutes on 2 cores.
The same matrix from the command line: tamil-ser transfer DATA/emodb DATA/ravdess --backbone compare --adapt compare --out DIR
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
    modes = ('none', 'source', 'source+speaker')
    t = transfer_table(m, adapt=modes, within=False, out=tempfile.mkdtemp(), backbone=a.backbone, mode='probe')
    print(f'{a.backbone} probe, {time.time() - t0:.0f} s\n')
    cell = lambda x: f'{x.uar:.3f} [{x.uar_ci[0]:.3f}, {x.uar_ci[1]:.3f}]'
    print(f"{'direction':20}" + ''.join(f'{k:>24}' for k in modes) + f"{'gain':>16}")
    for (tr, te), g in t.groupby(['train', 'test']):
        r = {row.adapt: row for row in g.itertuples()}
        gain = ' / '.join(f'{r[k].uar - r["none"].uar:+.3f}' for k in modes[1:])
        print(f"{tr + ' -> ' + te:20}" + ''.join(f'{cell(r[k]):>24}' for k in modes) + f'{gain:>16}')

if __name__ == '__main__': main()
