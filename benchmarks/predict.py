"""Speed of `predict_batch` against `transformers.pipeline("audio-classification")` on the same wav2vec2-base-sized bundle
(random weights: `Wav2Vec2Config()` + `Wav2Vec2ForSequenceClassification`, saved as a tamil-ser bundle), on 64 clips of 3 s.
Target: at least 2.5x the pipeline's clips/s on a 2-core CPU, with every score within 1e-2 of the pipeline's.

    python benchmarks/predict.py [--n 64] [--repeats 3] [--backends torch,onnx,int8] [--bundle DIR] [--confident]

The pipeline gets the clips already decoded (arrays); predict_batch gets the WAV paths and decodes them itself, so its figure
includes decoding. Warm-up runs (and the one-off ONNX export of the fast backends) are not timed. Each repeat times every
contender in turn, so a noisy neighbour slows them alike; the best and median clips/s over the repeats are printed, and the
median over repeats of each repeat's own speed-up. `--confident` also measures the score gap of the fast backends on a copy whose
head gives confident, trained-like logits: random weights give near-uniform scores, which hide int8's error.
"""
import argparse, tempfile, time, warnings
from pathlib import Path
import numpy as np, soundfile as sf, torch
from tamil_ser.audio import SR, load_audio
from tamil_ser.data import EMOTIONS

def make_bundle(folder: Path) -> Path:
    "Save a random-weight wav2vec2-base classifier with our labels as a fine-tuned bundle (once)."
    if (folder/'tamil_ser.json').exists(): return folder
    from transformers import Wav2Vec2Config, Wav2Vec2ForSequenceClassification, Wav2Vec2FeatureExtractor
    from tamil_ser.model import FinetunedModel
    torch.manual_seed(0)
    cfg = Wav2Vec2Config(num_labels=len(EMOTIONS), id2label=dict(enumerate(EMOTIONS)), label2id={l: i for i, l in enumerate(EMOTIONS)})
    fe = Wav2Vec2FeatureExtractor(return_attention_mask=False, do_normalize=True)
    meta = dict(backbone='random wav2vec2-base (benchmark only)', mode='finetune', labels=EMOTIONS, max_seconds=3.0)
    return FinetunedModel(Wav2Vec2ForSequenceClassification(cfg), fe, meta).save(folder)

def make_clips(root: Path, n: int, secs=3.0, seed=0) -> list:
    "Write `n` noisy harmonic clips of `secs` seconds as 16-bit WAV; return their paths."
    rng, t, paths = np.random.default_rng(seed), np.arange(int(secs*SR))/SR, []
    for i in range(n):
        f0 = rng.uniform(90, 300)
        x = sum(np.sin(2*np.pi*f0*h*t)/h for h in range(1, 6))*0.1 + rng.normal(0, 0.01, len(t))
        p = root/f'clip{i:03d}.wav'; sf.write(p, (x*32767).astype(np.int16), SR); paths.append(p)
    return paths

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=64); ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--backends', default='torch,onnx,int8'); ap.add_argument('--batch-size', type=int, default=8)
    ap.add_argument('--bundle', help='folder for the random wav2vec2-base bundle (made there once; default: a temporary folder)')
    ap.add_argument('--confident', action='store_true', help='also compare int8 with torch on a copy whose head is rescaled to confident logits (std 3)')
    a = ap.parse_args()
    from transformers import pipeline
    from tamil_ser.features import quiet_hf
    from tamil_ser.predict import predict_batch
    quiet_hf(); warnings.filterwarnings('ignore')
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); bundle = make_bundle(Path(a.bundle) if a.bundle else d/'bundle')
        paths = make_clips(d, a.n); clips = [load_audio(p) for p in paths]
        print(f'{a.n} clips of 3 s, torch {torch.__version__}, {torch.get_num_threads()} threads')
        pipe = pipeline('audio-classification', model=str(bundle), top_k=None)
        run = {'pipeline': lambda: pipe(clips)}
        for b in a.backends.split(','):
            run[f'predict_batch {b}'] = lambda b=b: predict_batch(paths, bundle, batch_size=a.batch_size, progress=False, backend=b)
        out, times = {}, {k: [] for k in run}
        for k, f in run.items():  # warm-up: model loading, the ONNX export, first-call allocations
            t0 = time.perf_counter(); pipe(clips[:4]) if k == 'pipeline' else predict_batch(paths[:2*a.batch_size], bundle, progress=False, backend=k.split()[-1])
            print(f'warm-up {k}: {time.perf_counter()-t0:.1f} s', flush=True)
        for r in range(a.repeats):
            for k, f in run.items():
                t0 = time.perf_counter(); out[k] = f(); times[k].append(time.perf_counter() - t0)
                print(f'  repeat {r+1} {k}: {a.n/times[k][-1]:.2f} clips/s', flush=True)
        ref = np.array([[{s['label']: s['score'] for s in row}[l] for l in EMOTIONS] for row in out['pipeline']])
        best = {k: a.n/min(v) for k, v in times.items()}
        med = {k: a.n/np.median(v) for k, v in times.items()}
        ratio = {k: np.median(np.array(times['pipeline'])/np.array(v)) for k, v in times.items()}
        print(f"\n{'':24s} {'clips/s':>8s} {'(median)':>9s} {'ms/clip':>8s} {'x pipeline':>11s} {'(paired median)':>16s} {'max |Δscore|':>13s}")
        for k in run:
            diff = np.abs(out[k][EMOTIONS].to_numpy() - ref).max() if k != 'pipeline' else 0.
            print(f"{k:24s} {best[k]:8.2f} {med[k]:9.2f} {1000/best[k]:8.0f} {best[k]/best['pipeline']:11.2f} {ratio[k]:16.2f} {diff:13.1e}")
        if a.confident: confident_gap(bundle, d, paths)

def confident_gap(bundle, d, paths):
    "Score gaps of the fast backends on a copy of the bundle whose classifier is rescaled so its logits spread like a trained model's."
    from tamil_ser.model import load_model
    from tamil_ser.predict import predict_batch
    m = load_model(bundle)
    with torch.no_grad():
        L = m.logits([load_audio(p) for p in paths[:16]])
        m.model.classifier.weight *= 3 / (L - L.mean(0)).std(); m.model.classifier.bias.zero_()
    f = m.save(d/'confident')
    ex = predict_batch(paths, f, progress=False)
    print(f"\nconfident head (median top probability {ex.confidence.median():.2f}):")
    for b in ('onnx', 'int8'):
        fb = predict_batch(paths, f, progress=False, backend=b)
        print(f"  {b}: max |Δscore| vs torch {np.abs(fb[EMOTIONS].to_numpy() - ex[EMOTIONS].to_numpy()).max():.1e}, same top emotion {(fb.emotion == ex.emotion).mean():.0%}")

if __name__ == '__main__': main()
