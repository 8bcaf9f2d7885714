"""Speed of `stream` (live emotion): real-time factor and latency on a recording of sample clips separated by a second of faint
noise, fed in 32 ms chunks as a microphone would give them.

    python benchmarks/stream.py [--clips 60] [--base-clips 12] [--skip-base] [--threads N]

1. eGeMAPS and ComParE probes. Targets: real-time factor <= 0.05 (processing time / audio time, VAD included), median latency
   <= 300 ms (`latency_ms`: from the VAD's end of speech to the event, as a live source would see it: the VAD's wait for
   `min_silence_ms` of silence, 226 ms with the defaults and 32 ms chunks, plus the model). Also printed: the model's time alone
   per utterance, and the latency from the true end of each clip (the VAD decides a little after the speech really stops).
2. A wav2vec2-base-sized probe (random `Wav2Vec2Config()` weights saved to a temporary folder, no hub) reading all 13 hidden
   states, against a probe reading hidden state 6 only (the `layer=6` training setting), which `stream` runs through
   `truncated_backbone` (6 of 12 transformer layers): real-time factor of each, and the time per 3 s clip of the features.

On a shared machine wall-clock figures depend on the neighbours; the CPU time of the process (`time.process_time`, one torch
thread with `--threads 1`, the VAD and openSMILE are single-threaded) is what the same work costs on an idle core.

The heads get their standardisation statistics from the sample's features and random weights: speed does not depend on them.
"""
import argparse, tempfile, time
from pathlib import Path
import numpy as np, torch
from tamil_ser.audio import SR, load_audio
from tamil_ser.data import EMOTIONS
from tamil_ser.features import embed
from tamil_ser.model import ProbeHead, ProbeModel
from tamil_ser.sample import sample_manifest
from tamil_ser.predict import probe_features, probe_proba as proba, truncated_backbone
from tamil_ser.stream import stream

def recording(n: int, gap=1.0, seed=0):
    "`n` sample clips separated by `gap` s of noise at -60 dBFS: (audio, true end of each clip in s)."
    rng, m = np.random.default_rng(seed), sample_manifest()
    parts, ends, t = [], [], 0
    for p in m.sample(n, random_state=seed, replace=n > len(m)).path:
        x, g = load_audio(p), (rng.standard_normal(int(gap * SR)) * 1e-3).astype(np.float32)
        parts += [g, x]
        t += len(g) + len(x)
        ends.append(t / SR)
    parts.append(np.zeros(SR, np.float32))
    return np.concatenate(parts), np.array(ends)

def probe(backbone: str, X: np.ndarray, layer=None) -> ProbeModel:
    "A random-weight linear probe on `backbone` standardised on features `X`; on hidden state `layer` alone if given."
    torch.manual_seed(0)
    Xl = X if layer is None else X[:, [layer]]
    h = ProbeHead(Xl.shape[1], Xl.shape[2]).fit_stats(Xl)
    meta = dict(backbone=backbone, mode='probe', labels=EMOTIONS, max_seconds=3.0, train=dict(layer=layer), head=h.cfg)
    return ProbeModel(h, meta)

def run(model, audio, ends, chunk=512, **kw) -> dict:
    "Stream `audio` through `model` in `chunk`-sample pieces: real-time factor and latencies."
    t, cpu = time.perf_counter(), time.process_time()
    evs = [e for e in stream([audio[i:i+chunk] for i in range(0, len(audio), chunk)], model, **kw) if e['kind'] == 'utterance']
    took, cpu = time.perf_counter() - t, time.process_time() - cpu
    lat = np.array([e['latency_ms'] for e in evs])
    true_end = np.array([ends[np.argmin(np.abs(ends - e['end']))] for e in evs])
    from_true = lat + 1000 * (np.array([e['end'] for e in evs]) - true_end)
    model_ms, model_cpu = [], []
    for e in evs[:20]:                                                     # the model's share of the latency, timed alone
        t, c = time.perf_counter(), time.process_time()
        proba(model, [audio[int(e['start'] * SR):int(e['end'] * SR)]], kw.get('truncate', True))
        model_ms.append(1000 * (time.perf_counter() - t))
        model_cpu.append(1000 * (time.process_time() - c))
    return dict(events=len(evs), clips=len(ends), rtf=took / (len(audio) / SR), cpu_rtf=cpu / (len(audio) / SR),
                median_ms=float(np.median(lat)), model_ms=float(np.median(model_ms)), model_cpu=float(np.median(model_cpu)), p90_ms=float(np.percentile(lat, 90)), median_true_ms=float(np.median(from_true)))

def show(name, r):
    print(f"{name:<34} {r['events']:>3}/{r['clips']:<3} events  RTF {r['rtf']:.3f} (CPU time {r['cpu_rtf']:.3f})  latency median "
          f"{r['median_ms']:.0f} ms (p90 {r['p90_ms']:.0f}; from the true end {r['median_true_ms']:.0f}; model alone {r['model_ms']:.0f}, "
          f"CPU {r['model_cpu']:.0f})", flush=True)

def base_folder(root: Path) -> str:
    "A random wav2vec2-base-sized encoder (transformers defaults) and its feature extractor, saved to `root`."
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model
    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config()).save_pretrained(root)
    Wav2Vec2FeatureExtractor(return_attention_mask=False, do_normalize=True).save_pretrained(root)
    return str(root)

def clip_time(m, clips, repeats=3) -> float:
    "Best seconds per clip of `probe_features` over `repeats`."
    probe_features(m, clips[:1])
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        probe_features(m, clips)
        best = min(best, (time.perf_counter() - t) / len(clips))
    return best

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--clips', type=int, default=60, help='sample clips in the openSMILE recording')
    ap.add_argument('--base-clips', type=int, default=12, help='sample clips in the wav2vec2-base recording')
    ap.add_argument('--skip-base', action='store_true')
    ap.add_argument('--threads', type=int, help="torch threads (1 is faster on a loaded machine: OpenMP waits for busy cores)")
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads')
    train_clips = [load_audio(p) for p in sample_manifest().path[::6]]
    audio, ends = recording(a.clips)
    print(f'recording: {a.clips} clips, {len(audio) / SR:.0f} s, 32 ms chunks')
    for bb in ('egemaps', 'compare'):
        m = probe(bb, embed(train_clips, bb, cache=False, progress=False))
        run(m, audio[:5 * SR], ends[:1])                                 # warm-up: the VAD, openSMILE
        show(f'{bb} probe', run(m, audio, ends))
    if a.skip_base: return
    with tempfile.TemporaryDirectory() as d:
        folder = base_folder(Path(d))
        X = embed(train_clips[:8], folder, cache=False, progress=False)
        full, six = probe(folder, X), probe(folder, X, layer=6)
        kept = len(truncated_backbone(folder, 6).model.encoder.layers)
        print(f'wav2vec2-base-sized: {X.shape[1]} hidden states; the truncated copy keeps {kept} of 12 layers')
        clips = [np.resize(x, 3 * SR) for x in train_clips[:8]]
        tf, t6 = clip_time(full, clips), clip_time(six, clips)
        print(f'features of a 3 s clip: all layers {1000 * tf:.0f} ms, layer 6 truncated {1000 * t6:.0f} ms ({1 - t6 / tf:.0%} less)')
        audio, ends = recording(a.base_clips, seed=1)
        for name, m, kw in (('base probe, all 13 hidden states', full, {}),
                            ('base probe, layer 6, full encoder', six, dict(truncate=False)),
                            ('base probe, layer 6, truncated', six, {})):
            show(name, run(m, audio, ends, **kw))

if __name__ == '__main__': main()
