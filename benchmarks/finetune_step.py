"""Time of one fine-tuning step (forward + backward + optimizer step) on this machine's CPU.

Models, set up the way `tamil_ser.train` fine-tunes them (`freeze`: CNN feature encoder frozen; `optimizer`: AdamW with the
head at `head_lr` and the encoder at `lr`; class-weighted cross-entropy with `class_weights`), in training mode (dropout and
wav2vec2's time masking on):

- `base`: a wav2vec2-base-sized classifier with random weights (`transformers.Wav2Vec2Config()` defaults: 12 layers,
  768 wide, 95 M parameters) and `Wav2Vec2ForSequenceClassification`; random weights cost the same time as trained ones.
- `tiny`: the library's offline test backbone through `tamil_ser.model.hf_classifier('tiny')`.

Batch: `--batch` (8) clips of `--seconds` (3) s of random 16 kHz audio, all the same length (no padding).

    python benchmarks/finetune_step.py [--models base tiny] [--steps 3] [--batch 8] [--seconds 3] [--threads N]
"""
import argparse, time
import numpy as np, torch, torch.nn.functional as F
from tamil_ser.audio import SR
from tamil_ser.data import EMOTIONS
from tamil_ser.features import quiet_hf
from tamil_ser.model import freeze, hf_classifier, n_trainable
from tamil_ser.probe import class_weights
from tamil_ser.finetune import optimizer

def base_model():
    "wav2vec2-base-sized audio classifier with random weights and our labels."
    from transformers import Wav2Vec2Config, Wav2Vec2ForSequenceClassification
    cfg = Wav2Vec2Config(num_labels=len(EMOTIONS), id2label=dict(enumerate(EMOTIONS)), label2id={l: i for i, l in enumerate(EMOTIONS)}, classifier_proj_size=256)
    return Wav2Vec2ForSequenceClassification(cfg)

def time_steps(model, batch:int, seconds:float, steps:int, lr=3e-5, head_lr=1e-3) -> list:
    "Seconds per training step (after one warm-up step) of `model` on random clips."
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, int(seconds*SR), generator=g) * 0.1
    y = torch.arange(batch) % len(EMOTIONS)
    w, opt = class_weights(y.numpy()), optimizer(model, lr, head_lr)
    model.train(); out = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(input_values=x).logits.float(), y, weight=w)
        loss.backward(); opt.step()
        if i: out.append(time.perf_counter() - t0)          # step 0 is the warm-up (allocations, optimizer state)
    return out

def count(n:int) -> str: return f'{n/1e6:.1f} M' if n >= 1e6 else f'{n/1e3:.0f} k'

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--models', nargs='+', default=['base', 'tiny'], choices=['base', 'tiny'])
    ap.add_argument('--steps', type=int, default=3, help='timed steps after one warm-up step (default 3)')
    ap.add_argument('--batch', type=int, default=8); ap.add_argument('--seconds', type=float, default=3.0)
    ap.add_argument('--threads', type=int, default=None, help='torch threads (default: torch decides)')
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    quiet_hf(); torch.manual_seed(0)
    print(f'batch {a.batch} x {a.seconds:g} s clips, CPU, torch {torch.__version__}, {torch.get_num_threads()} thread(s)')
    for name in a.models:
        model = freeze(base_model() if name == 'base' else hf_classifier('tiny'))
        total = sum(p.numel() for p in model.parameters())
        ts = time_steps(model, a.batch, a.seconds, a.steps if name == 'base' else max(a.steps, 10))
        print(f'{name}: {count(total)} parameters ({count(n_trainable(model))} trainable, CNN feature encoder frozen): '
              f'{np.median(ts)*1e3:.0f} ms/step (median of {len(ts)}; min {min(ts)*1e3:.0f}, max {max(ts)*1e3:.0f})', flush=True)
        del model

if __name__ == '__main__': main()
