"Shared helpers: generated audio, bad files, synthetic manifests, the `tamil-ser` console script."
import os, struct, subprocess, sys, zlib
from pathlib import Path
import numpy as np, pandas as pd, soundfile as sf

SR = 16000
EMOS = ['angry', 'fear', 'happy', 'neutral', 'sad']
CLI = Path(sys.executable).parent / 'tamil-ser'

def tone(sec=1.0, f=220., amp=0.3, sr=SR, seed=0):
    "A sine at `f` Hz with a little seeded noise, float32."
    t = np.arange(int(round(sec * sr))) / sr
    return (amp * np.sin(2 * np.pi * f * t) + 0.01 * np.random.default_rng(seed).standard_normal(len(t))).astype('float32')

def wav(path, sec=1.0, x=None, sr=SR, subtype=None, **kw):
    "Write a clip to `path` (parents made); by default a tone whose pitch and noise depend on the path, so no two files share audio."
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    h = zlib.crc32(str(path).encode())
    sf.write(path, tone(sec, f=150 + h % 500, seed=h, sr=sr, **kw) if x is None else x, sr, subtype=subtype)
    return path

def riff(tag=0x55, n=3200):
    "A RIFF/WAVE file whose fmt chunk carries codec `tag`."
    fmt = struct.pack('<HHIIHH', tag, 1, SR, SR * 2, 2, 16)
    body = b'WAVE' + b'fmt ' + struct.pack('<I', len(fmt)) + fmt + b'data' + struct.pack('<I', n) + b'\x11' * n
    return b'RIFF' + struct.pack('<I', len(body)) + body

def _nan_wav(p):
    x = tone(); x[100] = np.nan
    sf.write(p, x, SR, subtype='FLOAT')

# file name -> (writer, regex the AudioError message must contain); each is one kind of unusable file
BAD_FILES = {
    'empty.wav': (lambda p: p.write_bytes(b''), r'empty'),
    'text.wav': (lambda p: p.write_text('this is a note, not audio\n' * 20), r'not audio'),
    'truncated.wav': (lambda p: p.write_bytes(riff(1)[:30]), r'corrupt header'),
    'aac.m4a': (lambda p: p.write_bytes(b'\0\0\0\x20ftypM4A ' + bytes(200)), r'unsupported codec MP4'),
    'mp3codec.wav': (lambda p: p.write_bytes(riff(0x55)), r'unsupported codec .*0x0055'),
    'noframes.wav': (lambda p: sf.write(p, np.zeros(0, 'float32'), SR), r'no samples'),
    'nan.wav': (_nan_wav, r'NaN'),
    'short.wav': (lambda p: wav(p, 0.1), r'shorter than 0\.25'),
}

def bad_file(path, kind=None):
    "Write the bad file of `kind` (default: the name of `path`) to `path`; return the path."
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    BAD_FILES[kind or path.name][0](path)
    return path

def cli(*args, cwd=None):
    "Run the installed `tamil-ser` console script."
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)

def fake_manifest(n_spk=16, seed=0, n_acc=4, sources=('emota', 'movie')):
    "A manifest of `n_spk` speakers over `n_acc` accents and the given sources; each speaker has 2-5 of the five labels and 1-4 clips per label."
    rng = np.random.default_rng(seed)
    acc = ['northern', 'eastern', 'western', 'central'][:n_acc]
    rows = []
    for s in range(n_spk):
        for lab in sorted(rng.choice(EMOS, rng.integers(2, 6), replace=False)):
            rows += [dict(path=f'/data/s{s}_{lab}_{i}.wav', label=lab, speaker=str(s), accent=acc[s % n_acc],
                          source=sources[s % len(sources)], sentence=str(i)) for i in range(rng.integers(1, 5))]
    return pd.DataFrame(rows)

os.environ.setdefault('HF_HUB_OFFLINE', '1')  # tests never reach a model hub: fail fast instead of retrying
