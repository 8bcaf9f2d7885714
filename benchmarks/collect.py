"""`collect` on long recordings of real emotional speech: speed (x real time), onset recall, peak memory by length.

A recording is EmoDB (or RAVDESS) utterances from `../shared/data/<corpus>/manifest.csv`, cycled as often as needed,
with 0.6-2.5 s pauses of -50 dBFS noise between them, written block by block to a 16 kHz FLAC (never held in memory). An
utterance's onset counts as found when a clip of the pool starts within 0.35 s of it (clip starts include silero's 30 ms
padding; RAVDESS files start with about a second of silence, so their true onset is taken where the file first reaches
-35 dB below its peak, `--onset-db`). Each length is collected in a fresh process, which reports its own peak RSS.

    python benchmarks/collect.py                      # EmoDB once through (about 22 min), then 10 min, 40 min, 2 h
    python benchmarks/collect.py --corpus ravdess --skip-once --minutes 10
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SR = 16000

def onset_in_file(x, db=35.):
    "Seconds to where a clip first comes within `db` of its peak (10 ms frames)."
    n = len(x)//160*160
    e = np.sqrt(np.mean(x[:n].reshape(-1, 160)**2, 1))
    return float(np.argmax(e > e.max()*10**(-db/20))*0.01)

def build(manifest, out, minutes=None, seed=0, onset_db=35.):
    "Write a long recording of the manifest's utterances to `out`; return the true onsets (s) and its duration."
    from tamil_ser.audio import load_audio
    m = pd.read_csv(manifest)
    paths = [str(Path(manifest).parent/p) for p in m[[c for c in ('path', 'audio_path') if c in m][0]]]
    rng, onsets, t = np.random.default_rng(seed), [], 0.
    limit = minutes*60 if minutes else sum(sf.info(p).duration + 1.55 for p in paths)
    with sf.SoundFile(out, 'w', SR, 1, format='FLAC', subtype='PCM_16') as f:
        i = 0
        while t < limit:
            x = load_audio(paths[i % len(paths)]); i += 1
            gap = rng.normal(0, 10**(-50/20), int(rng.uniform(0.6, 2.5)*SR)).astype(np.float32)
            onsets.append(t + len(gap)/SR + onset_in_file(x, onset_db)); t += (len(gap) + len(x))/SR
            f.write(np.concatenate([gap, x + rng.normal(0, 10**(-50/20), len(x)).astype(np.float32)]))
        f.write(np.zeros(SR, np.float32))
    return np.array(onsets), t + 1

CHILD = """
import json, resource, sys, time
t0 = time.time()
from tamil_ser.collect import collect
from tamil_ser.pool import Pool
from tamil_ser.vad import shared_vad
shared_vad()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024
t, c = time.time(), time.process_time()
s = collect(sys.argv[1], sys.argv[2], progress=False)
dt, cpu = time.time() - t, time.process_time() - c
starts = Pool(sys.argv[2]).table.start.tolist()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024
near = int((s.clips.duplicate_of != '').sum())
print(json.dumps(dict(seconds=dt, cpu=cpu, audio=s.seconds_in, clips=len(s.rows), near=near, rss_import=base,
                      rss_peak=peak, starts=starts)))
"""

def run(rec, pool):
    "Collect `rec` into `pool` in a fresh process; its figures."
    r = subprocess.run([sys.executable, '-c', CHILD, str(rec), str(pool)], capture_output=True, text=True)
    if r.returncode: sys.exit(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])

def recall(onsets, starts, tol=0.35):
    s = np.sort(np.asarray(starts))
    i = np.clip(np.searchsorted(s, onsets), 1, len(s) - 1)
    near = np.minimum(np.abs(s[i] - onsets), np.abs(s[i - 1] - onsets))
    return float(np.mean(near <= tol))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--corpus', default='emodb', help='emodb or ravdess (../shared/data/<corpus>/manifest.csv)')
    ap.add_argument('--manifest', help='another manifest instead')
    ap.add_argument('--minutes', type=float, nargs='*', default=[10, 40, 120], help='lengths for the memory curve')
    ap.add_argument('--onset-db', type=float, default=35., help='true onset: where a file first comes this many dB '
                    'below its peak (default 35; RAVDESS breathes before speaking: at 35 dB breaths count as onsets)')
    ap.add_argument('--skip-once', action='store_true', help='skip the recording of the whole corpus once through')
    a = ap.parse_args(argv)
    man = Path(a.manifest or ROOT.parent/'shared'/'data'/a.corpus/'manifest.csv')
    print(f'machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start (other work changes every '
          'figure)')
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for mins in [*([] if a.skip_once else [None]), *a.minutes]:
            t = time.time()
            onsets, dur = build(man, d/'rec.flac', mins, onset_db=a.onset_db)
            built = time.time() - t
            r = run(d/'rec.flac', d/f'pool{mins}')
            kind = 'corpus once' if mins is None else 'cycled'
            print(f"{dur/60:6.1f} min ({kind}): {r['audio']/r['seconds']:5.1f}x real time ({r['seconds']:.0f} s wall, "
                  f"{r['audio']/r['cpu']:.0f}x per CPU second), {r['clips']} clips ({r['near']} near-duplicates), "
                  f"onsets within 0.35 s {recall(onsets, r['starts']):.1%} of {len(onsets)}, peak RSS "
                  f"{r['rss_peak']:.0f} MB ({r['rss_import']:.0f} MB after imports), load {os.getloadavg()[0]:.1f}; "
                  f"built in {built:.0f} s", flush=True)
            (d/'rec.flac').unlink()

if __name__ == '__main__': main()
