"""Figures for issue 15 (hardening), each in a child process so that its peak memory is its own:

1. `validate` on 100k manifest rows (over `--files` distinct 3 s clips, each listed many times): time. Target < 60 s.
2. `tamil-ser predict` on a 2-hour WAV against a 10 s one: the peak RSS of each. Target < 200 MB more.
3. `predict_long` on the 2-hour WAV with an openSMILE (eGeMAPS) probe: time, windows per second, peak RSS.

    python benchmarks/hardening.py [--rows 100000] [--files 1000] [--hours 2] [--skip validate,predict,long]
"""
import argparse, os, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SR = 16000

def child(code: str, *args) -> tuple[str, float, float]:
    "Run Python `code` with `args` in a child: its stdout, wall seconds and peak RSS (MB)."
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'PYTHONPATH': str(ROOT)}
    with tempfile.TemporaryFile('w+') as out:
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, '-c', code, *map(str, args)], stdout=out, env=env, cwd=ROOT)
        _, status, usage = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) not in (0, 1): raise SystemExit(f'child failed:\n{text[-2000:]}')
    return text, dt, usage.ru_maxrss / 1024

def tone(secs: float, f: float, seed: int = 0) -> np.ndarray:
    "A harmonic tone with a little noise, float32."
    t = np.arange(int(secs * SR)) / SR
    x = sum(np.sin(2*np.pi*f*h*t) / h for h in range(1, 6)) * 0.1
    return (x + np.random.default_rng(seed).normal(0, 0.01, len(t))).astype(np.float32)

def long_wav(path: Path, hours: float) -> Path:
    "A `hours`-long 16 kHz 16-bit WAV, written 10 s at a time."
    block = (tone(10, 180) * 32767).astype(np.int16)
    with sf.SoundFile(path, 'w', SR, 1, 'PCM_16') as f:
        for _ in range(int(hours * 360)): f.write(block)
    return path

VALIDATE = '''
import sys, time, pandas as pd
from tamil_ser.data import validate
m = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
t0 = time.perf_counter()
r = validate(m, progress=False)
print(f'{time.perf_counter() - t0:.2f} {len(r.clips)} {len(r.problems)}')
'''

def bench_validate(d: Path, rows: int, files: int):
    "Time `validate` on `rows` rows over `files` distinct clips (each listed rows/files times)."
    paths = []
    for i in range(files):
        p = d/f'clip{i:05d}.wav'
        sf.write(p, (tone(3, 90 + (i * 7) % 210, seed=i) * 32767).astype(np.int16), SR)
        paths.append(str(p))
    labels = ['angry', 'fear', 'happy', 'neutral', 'sad']
    m = pd.DataFrame(dict(path=[paths[i % files] for i in range(rows)], label=[labels[i % 5] for i in range(rows)],
                          speaker=[f'spk{i % 50}' for i in range(rows)], source='bench'))
    m.to_csv(d/'rows.csv', index=False)
    out, wall, rss = child(VALIDATE, d/'rows.csv')
    secs, n, problems = out.split()
    print(f'validate: {n} rows over {files} files in {float(secs):.1f} s ({problems} problem rows; child wall {wall:.1f} s '
          f'incl. imports, peak RSS {rss:.0f} MB; target < 60 s)')

PREDICT = '''
import sys
from tamil_ser.cli import main
sys.exit(main(['predict', sys.argv[1], sys.argv[2], '-q']))
'''

def tiny_bundle(folder: Path) -> Path:
    "A fine-tuned bundle on the offline tiny backbone (random weights: the figure is memory, not accuracy)."
    import torch
    from transformers import AutoFeatureExtractor
    from tamil_ser.data import EMOTIONS
    from tamil_ser.features import tiny_backbone
    from tamil_ser.model import FinetunedModel, hf_classifier
    torch.manual_seed(0)
    fe = AutoFeatureExtractor.from_pretrained(tiny_backbone())
    meta = dict(backbone='tiny', mode='finetune', labels=EMOTIONS, max_seconds=3.0)
    return FinetunedModel(hf_classifier('tiny'), fe, meta).save(folder)

def bench_predict(d: Path, long: Path):
    "Peak RSS of `tamil-ser predict` on a 10 s file and on the long one."
    bundle, short = tiny_bundle(d/'tiny'), d/'ten.wav'
    sf.write(short, tone(10, 200), SR)
    res = {}
    for name, f in [('10 s', short), ('long', long)]:
        out, wall, rss = child(PREDICT, bundle, f)
        res[name] = rss
        print(f'predict {name}: {out.strip()} in {wall:.1f} s, peak RSS {rss:.0f} MB')
    print(f'predict: the long file costs {res["long"] - res["10 s"]:+.0f} MB over a 10 s one (target < 200 MB)')

def egemaps_probe(folder: Path) -> Path:
    "An eGeMAPS probe bundle with a head fitted to a few generated clips (the figure is time, not accuracy)."
    from tamil_ser.data import EMOTIONS
    from tamil_ser.features import embed
    from tamil_ser.model import ProbeHead, ProbeModel
    X = embed([tone(2, 100 + 20*i, seed=i) for i in range(10)], 'egemaps', cache=False, progress=False)
    head = ProbeHead(X.shape[1], X.shape[2]).fit_stats(X)
    return ProbeModel(head, dict(backbone='egemaps', mode='probe', labels=EMOTIONS, max_seconds=3.0)).save(folder)

LONG = '''
import sys, time
from tamil_ser.predict import predict_long
t0 = time.perf_counter()
df = predict_long(sys.argv[1], model=sys.argv[2], progress=True)
dt = time.perf_counter() - t0
print(f'{dt:.1f} {len(df)} {df.emotion.notna().sum()}')
'''

def bench_long(d: Path, long: Path, hours: float):
    "Time `predict_long` (3 s windows, 1 s hop) over the long file with an eGeMAPS probe."
    out, wall, rss = child(LONG, long, egemaps_probe(d/'egemaps'))
    secs, n, labelled = out.split()
    print(f'predict_long: {hours:g} h, {n} windows ({labelled} labelled) with an eGeMAPS probe in {float(secs):.0f} s '
          f'= {int(n)/float(secs):.0f} windows/s; peak RSS {rss:.0f} MB (progress bar on stderr)')

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--rows', type=int, default=100_000)
    ap.add_argument('--files', type=int, default=1000)
    ap.add_argument('--hours', type=float, default=2.)
    ap.add_argument('--skip', default='', help='comma-separated: validate, predict, long')
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(',')))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        print(f'load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores')
        if 'validate' not in skip: bench_validate(d, a.rows, a.files)
        if not {'predict', 'long'} <= skip:
            long = long_wav(d/'long.wav', a.hours)
            if 'predict' not in skip: bench_predict(d, long)
            if 'long' not in skip: bench_long(d, long, a.hours)
