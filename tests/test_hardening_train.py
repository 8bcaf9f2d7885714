"""Hardening (issue 15) of features, model and train: bundles and cache entries survive SIGKILL at any moment, damaged
bundles and impossible settings are one line with exit status 2, run folders are locked, interrupted fine-tuning resumes,
and metrics say which classes they average over."""
import json, os, random, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pandas as pd, pytest, soundfile as sf
from conftest import SR, tone, wav
from test_hardening import cli, one_line, run_py, ROOT
from tamil_ser.data import EMOTIONS

@pytest.fixture(scope='module')
def voices(tmp_path_factory):
    "A manifest of 6 generated speakers x 5 emotions x 4 clips, each emotion its own pitch and loudness."
    d, rows = tmp_path_factory.mktemp('voices'), []
    for s in range(6):
        for e, emo in enumerate(EMOTIONS):
            for i in range(4):
                x = tone(1.0, f=120 + 40 * e + 7 * s, amp=0.1 + 0.08 * e, seed=100 * s + 10 * e + i)
                rows.append(dict(path=str(wav(d/f's{s}'/f'{emo}{i}.wav', x=x)), label=emo, speaker=f's{s}', source='gen'))
    m = pd.DataFrame(rows)
    m.to_csv(d/'manifest.csv', index=False)
    return d/'manifest.csv'

# ---- kills: a bundle or a cache entry written when SIGKILL comes is either whole or absent -----------------------------

SAVE = """
import sys, numpy as np, torch
from tamil_ser.model import ProbeHead, ProbeModel
from tamil_ser.data import EMOTIONS
h = ProbeHead(3, 4096)
m = ProbeModel(h, dict(backbone='tiny', mode='probe', labels=EMOTIONS, max_seconds=3.0, round=int(sys.argv[2])),
               {'lab': (np.zeros((3, 4096), np.float32), np.ones((3, 4096), np.float32))})
print('saving', flush=True)
for i in range(1000): m.save(sys.argv[1])
"""

def test_bundle_survives_sigkill(tmp_path):
    from tamil_ser.model import load_model
    from tamil_ser.predict import find_model
    rng = random.Random(0)
    for k in range(6):
        p = subprocess.Popen([sys.executable, '-c', SAVE, str(tmp_path/'runs'/'model'), str(k)], stdout=subprocess.PIPE,
                             env={**os.environ, 'PYTHONPATH': str(ROOT)}, cwd=ROOT)
        p.stdout.readline()
        time.sleep(rng.uniform(0.05, 0.6))
        p.send_signal(signal.SIGKILL)
        p.wait()
        if (tmp_path/'runs'/'model').exists():
            m = load_model(tmp_path/'runs'/'model')          # never half a bundle: it loads and has its weights
            assert m.meta['round'] <= k and sorted(m.sources) == ['lab']
            assert Path(find_model(tmp_path/'runs')).name == 'model'

CACHE = """
import sys, numpy as np
from tamil_ser.features import embed
clips = [np.random.default_rng(i).normal(0, .1, 16000).astype(np.float32) for i in range(400)]
print('encoding', flush=True)
embed(clips, 'tiny', cache=sys.argv[1], progress=False)
"""

def test_cache_survives_sigkill(tmp_path):
    from tamil_ser.features import embed
    p = subprocess.Popen([sys.executable, '-c', CACHE, str(tmp_path/'cache')], stdout=subprocess.PIPE,
                         env={**os.environ, 'PYTHONPATH': str(ROOT)}, cwd=ROOT)
    p.stdout.readline()
    deadline = time.time() + 120
    while time.time() < deadline and len(list((tmp_path/'cache').rglob('*.npy'))) < 20: time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    entries = [f for f in (tmp_path/'cache').rglob('*.npy') if not f.name.startswith('.')]
    assert entries
    for f in entries: np.load(f)                              # every named entry is whole
    clips = [np.random.default_rng(i).normal(0, .1, 16000).astype(np.float32) for i in range(400)]
    X = embed(clips, 'tiny', cache=tmp_path/'cache', progress=False)
    assert not np.isnan(X).any()

# ---- bundles: damaged or edited ones are one line, status 2 ---------------------------------------------------------------

@pytest.fixture(scope='module')
def probe(voices, tmp_path_factory):
    out = tmp_path_factory.mktemp('probe')/'run'
    r = cli('train', voices, '--backbone', 'egemaps', '--mode', 'probe', '--out', out, '-q')
    assert r.code == 0, r.text
    return out/'model'

@pytest.mark.parametrize('edit, msg', [(dict(temperature=0), 'temperature must be a number above 0'),
                                       (dict(max_seconds=-1), 'max_seconds must be a number above 0'),
                                       (dict(labels=EMOTIONS[:4]), '4 labels but a head of 5 classes'),
                                       (dict(backbone=None), 'no backbone named')])
def test_edited_bundle_is_one_line(probe, tmp_path, edit, msg):
    import shutil
    b = shutil.copytree(probe, tmp_path/'b')
    (b/'tamil_ser.json').write_text(json.dumps({**json.loads((b/'tamil_ser.json').read_text()), **edit}))
    r = cli('predict', b, wav(tmp_path/'x.wav'), '-q')
    assert r.code == 2 and 'NaN' not in r.text
    one_line(r, msg)

def test_truncated_head_is_one_line(probe, tmp_path):
    import shutil
    b = shutil.copytree(probe, tmp_path/'b')
    (b/'head.safetensors').write_bytes((b/'head.safetensors').read_bytes()[:64])
    r = cli('predict', b, wav(tmp_path/'x.wav'), '-q')
    assert r.code == 2
    one_line(r, 'damaged weights')

# ---- train: impossible data and settings are one line; run folders are locked ---------------------------------------------

def test_one_emotion_refuses_to_train(voices, tmp_path):
    m = pd.read_csv(voices)
    m[m.label == 'sad'].to_csv(tmp_path/'sad.csv', index=False)
    r = cli('train', tmp_path/'sad.csv', '--backbone', 'egemaps', '--mode', 'probe', '--test', '0', '--out', tmp_path/'r', '-q')
    assert r.code == 2
    one_line(r, 'only one emotion (sad) in the training clips')

def test_one_speaker_says_how_many_it_needs(voices, tmp_path):
    m = pd.read_csv(voices)
    m[m.speaker == 's0'].to_csv(tmp_path/'one.csv', index=False)
    r = cli('train', tmp_path/'one.csv', '--backbone', 'egemaps', '--mode', 'probe', '--out', tmp_path/'r', '-q')
    assert r.code == 2 and 'Traceback' not in r.text and 'speaker' in r.err, r.text
    r = cli('train', tmp_path/'one.csv', '--backbone', 'egemaps', '--mode', 'probe', '--test', '0', '--out', tmp_path/'r0', '-q')
    assert r.code == 0 and (tmp_path/'r0'/'model'/'tamil_ser.json').exists(), r.text

@pytest.mark.parametrize('flag, msg', [(['--batch-size', '0'], 'batch_size must be at least 1, not 0'),
                                       (['--test', '1.5'], 'test must be a share from 0 to below 1'),
                                       (['--max-seconds', '-1'], 'max_seconds must be above 0')])
def test_impossible_settings_are_one_line(voices, tmp_path, flag, msg):
    r = cli('train', voices, '--backbone', 'egemaps', '--mode', 'probe', '--out', tmp_path/'r', '-q', *flag)
    assert r.code == 2
    one_line(r, msg)

def test_recorded_test_share_is_the_one_obtained(voices, tmp_path):
    r = cli('train', voices, '--backbone', 'egemaps', '--mode', 'probe', '--test', '0.9', '--out', tmp_path/'r', '-q')
    assert r.code == 0, r.text
    p = json.loads((tmp_path/'r'/'metrics.json').read_text())['protocol']
    n = len(pd.read_csv(voices))
    assert p['test'] == 0.9 and p['test_share'] == round(len(pd.read_csv(tmp_path/'r'/'predictions.csv')) / n, 3)

def test_missing_test_classes_are_named(voices):
    from tamil_ser.scores import metrics
    m = metrics(['angry', 'sad', 'sad'], ['angry', 'sad', 'fear'])
    assert m['classes'] == ['angry', 'sad'] and m['missing'] == ['fear', 'happy', 'neutral']
    assert 'NaN' not in json.dumps(metrics([], []))

def test_second_run_into_a_busy_folder_stops(voices, tmp_path):
    (tmp_path/'r').mkdir()
    (tmp_path/'r'/'.lock').write_text(str(os.getppid()))      # a live process holds it
    r = cli('train', voices, '--backbone', 'egemaps', '--mode', 'probe', '--out', tmp_path/'r', '-q')
    assert r.code == 2
    one_line(r, 'another run (process')
    (tmp_path/'r'/'.lock').write_text('99999999')              # a dead one: the lock is stale and taken over
    assert cli('train', voices, '--backbone', 'egemaps', '--mode', 'probe', '--out', tmp_path/'r', '-q').code == 0
    assert not (tmp_path/'r'/'.lock').exists()
    r = cli('train', voices, '--backbone', 'egemaps', '--mode', 'probe', '--out', tmp_path/'r', '-q', '--overwrite', '--hidden', '8')
    assert r.code == 0, r.text[-2000:]
    assert json.loads((tmp_path/'r'/'model'/'tamil_ser.json').read_text())['train']['hidden'] == 8   # the new run replaced the old

def test_overwrite_clears_the_old_run(voices, tmp_path):
    assert cli('train', voices, '--backbone', 'tiny', '--mode', 'finetune', '--epochs', '1', '--out', tmp_path/'r', '-q').code == 0
    assert (tmp_path/'r'/'history.csv').exists()
    r = cli('train', voices, '--backbone', 'egemaps', '--mode', 'probe', '--out', tmp_path/'r', '-q', '--overwrite')
    assert r.code == 0, r.text
    assert not (tmp_path/'r'/'history.csv').exists() and not (tmp_path/'r'/'model'/'model.safetensors').exists()

def test_finetune_without_validation_and_on_two_clips(voices, tmp_path):
    r = cli('train', voices, '--backbone', 'tiny', '--mode', 'finetune', '--epochs', '1', '--valid', '0', '--out', tmp_path/'v0', '-q')
    assert r.code == 0, r.text
    m = pd.read_csv(voices)
    m[m.label.isin(['angry', 'sad'])].groupby('label').head(1).to_csv(tmp_path/'two.csv', index=False)
    r = cli('train', tmp_path/'two.csv', '--backbone', 'tiny', '--mode', 'finetune', '--epochs', '1', '--test', '0',
            '--out', tmp_path/'two', '-q')
    assert r.code == 0 and 'Traceback' not in r.text, r.text

def test_ctrl_c_says_where_and_resume_goes_on(voices, tmp_path):
    args = [sys.executable, '-m', 'tamil_ser.cli', 'train', str(voices), '--backbone', 'tiny', '--mode', 'finetune',
            '--epochs', '40', '--patience', '40', '--batch-size', '4', '--out', str(tmp_path/'r'), '-q']
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env={**os.environ, 'PYTHONPATH': str(ROOT), 'HF_HUB_OFFLINE': '1'}, cwd=ROOT)
    deadline = time.time() + 240
    while time.time() < deadline and not list((tmp_path/'r'/'checkpoints').glob('checkpoint-*')): time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    out = p.communicate(timeout=120)[0]
    assert p.returncode == 130 and 'run the same command with --resume' in out, out[-2000:]
    assert list((tmp_path/'r'/'checkpoints').glob('checkpoint-*'))
    r = run_py(args[1:3] + args[3:] + ['--resume', '--epochs', '3'], timeout=600)
    assert r.code == 0 and (tmp_path/'r'/'model'/'model.safetensors').exists(), r.text[-2000:]

def test_unreadable_clips_are_left_out_with_exit_status_1(voices, tmp_path):
    "Exit status 1 when some inputs failed and the rest were done: a corrupt clip is named, the run is written, status 1."
    m = pd.read_csv(voices)
    bad = tmp_path/'broken.wav'
    bad.write_bytes(b'RIFF\x24\x00\x00\x00WAVEfmt ')
    m = pd.concat([m, pd.DataFrame([dict(path=str(bad), label='sad', speaker='s0', source='gen')])], ignore_index=True)
    m.to_csv(tmp_path/'m.csv', index=False)
    r = cli('train', tmp_path/'m.csv', '--backbone', 'egemaps', '--mode', 'probe', '--out', tmp_path/'r', '-q')
    assert r.code == 1, r.text[-2000:]
    assert 'broken.wav' in r.text and '1 clip(s) could not be used' in r.text and 'Traceback' not in r.text
    assert (tmp_path/'r'/'model').is_dir() and (tmp_path/'r'/'report.html').exists()
    assert cli('train', voices, '--backbone', 'egemaps', '--mode', 'probe', '--out', tmp_path/'ok', '-q').code == 0
