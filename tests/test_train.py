"Training end to end: reproducible runs, honest splits, the CLI as a user runs it."
import json, os, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest
from tamil_ser.data import EMOTIONS
from tamil_ser.sample import SAMPLE_DIR, sample_manifest
from tamil_ser.train import crossval, train
from tamil_ser.model import load_model

CLI = str(Path(sys.executable).parent/'tamil-ser')
def cli(*args): return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=600)

@pytest.fixture(scope='module')
def sm(): return sample_manifest()

def test_probe_runs_are_reproducible(sm, tmp_path):
    a, b = (train(sm, backbone='egemaps', mode='probe', out=tmp_path/n, seed=3, progress=False) for n in 'ab')
    assert a.metrics == b.metrics
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    c = train(sm, backbone='egemaps', mode='probe', out=tmp_path/'c', seed=4, progress=False)
    assert set(c.predictions.path) != set(a.predictions.path)   # another seed, other test speakers

def test_train_test_speakers_never_trained_on(sm, tmp_path):
    r = train(sm, backbone='egemaps', mode='probe', out=tmp_path/'r', progress=False)
    assert not set(r.model.meta['data']['speakers']) & set(r.predictions.speaker)

def test_accent_holdout(sm, tmp_path):
    r = train(sm, backbone='egemaps', mode='probe', split='accent', test=0.5, valid=0, out=tmp_path/'r', progress=False)
    assert r.predictions.accent.nunique() == 1 and r.metrics['protocol']['split'] == 'accent'

def test_crossval_by_source(sm, tmp_path):
    r = crossval(sm, k=2, by='source', backbone='egemaps', valid=0, out=tmp_path/'cv', progress=False)
    assert r.predictions.groupby('source').fold.nunique().max() == 1 and len(r.predictions) == len(sm)

def test_bad_clip_left_out_not_fatal(sm, tmp_path):
    bad = tmp_path/'bad.wav'; bad.write_bytes(b'RIFF....WAVEjunk')
    m = pd.concat([sm, pd.DataFrame([dict(path=str(bad), label='sad', speaker='n1', accent='north', source='read')])], ignore_index=True)
    r = train(m, backbone='egemaps', mode='probe', out=tmp_path/'r', progress=False)
    assert str(bad) not in set(r.predictions.path) and r.model.meta['data']['n_train'] + r.model.meta['data']['n_valid'] + r.model.meta['data']['n_test'] == len(sm)

def test_cli_train_crossval_evaluate(tmp_path):
    r = cli('crossval', SAMPLE_DIR, '--backbone', 'egemaps', '--folds', '3', '--out', tmp_path/'cv', '-q')
    assert r.returncode == 0, r.stderr
    met = json.loads((tmp_path/'cv'/'metrics.json').read_text())
    assert met['n'] == 240 and len(met['fold_uar']) == 3 and met['uar_ci'][0] <= met['uar'] <= met['uar_ci'][1]
    assert not (tmp_path/'cv'/'history.csv').exists()   # an openSMILE linear probe is solved by L-BFGS: no epochs, no curves
    r = cli('train', SAMPLE_DIR, '--backbone', 'tiny', '--mode', 'finetune', '--epochs', '1', '--batch-size', '16', '--out', tmp_path/'ft', '-q')
    assert r.returncode == 0, r.stderr
    assert {'config.json', 'model.safetensors', 'preprocessor_config.json', 'tamil_ser.json'} <= {f.name for f in (tmp_path/'ft'/'model').iterdir()}
    assert (tmp_path/'ft'/'plots'/'curves.png').exists() and len(pd.read_csv(tmp_path/'ft'/'history.csv')) == 1
    r = cli('evaluate', tmp_path/'ft'/'model', SAMPLE_DIR, '--out', tmp_path/'ev', '-q')
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr
    assert len(pd.read_csv(tmp_path/'ev'/'predictions.csv')) == 240

def test_finetune_under_torchrun_two_processes(tmp_path):
    "`torchrun -m tamil_ser.cli train` with two CPU processes: each takes half of every epoch, process 0 alone writes the run."
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', '-m', 'tamil_ser.cli', 'train', SAMPLE_DIR,
                        '--backbone', 'tiny', '--mode', 'finetune', '--epochs', '2', '--batch-size', '8', '--out', tmp_path/'ddp', '-q'],
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count('model bundle:') == 1, r.stdout
    n = load_model(tmp_path/'ddp'/'model').meta['data']['n_train']
    h = pd.read_csv(tmp_path/'ddp'/'history.csv')
    assert h.step.tolist() == [k * -(-(-(-n // 2)) // 8) for k in (1, 2)], (n, h.step.tolist())   # ceil(ceil(n / 2 processes) / batch 8) steps an epoch
    assert len(pd.read_csv(tmp_path/'ddp'/'predictions.csv')) > 0 and not (tmp_path/'ddp'/'checkpoints').exists()

@pytest.mark.parametrize('args,msg', [(('train', 'nowhere/'), 'not found'), (('evaluate', 'no_model_here', str(SAMPLE_DIR)), 'no model bundle there, nor an audio-classification model on the hub'),
                                      (('crossval', str(SAMPLE_DIR), '--folds', '9', '--backbone', 'egemaps', '-q'), 'cannot make 9 folds')])
def test_cli_errors_are_one_line(args, msg):
    r = cli(*args)
    assert r.returncode == 2 and 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1 and msg in r.stderr, r.stderr
