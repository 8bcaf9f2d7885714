"""The continuous-learning loop end to end on generated speech-like audio: init, retrain rounds through the CLI functions,
the gate's decisions on real trained models, a retrain killed mid-way, rollback. Offline; openSMILE eGeMAPS probes.
The pool is written directly in the collection contract's format (clips/<batch>/<clip_id>.flac + pool.csv), votes
through tamil_ser.votes and tamil_ser.labels."""
import hashlib, json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pandas as pd, pytest
from conftest import cli
from frozen import frozen
from tamil_ser.data import EMOTIONS
from tamil_ser.votes import add_vote
from tamil_ser.gate import gate, gate_cli
from tamil_ser.project import init, init_cli
from tamil_ser.registry import champion_run, loop_history, promote, recover_registry, resolve_model, rollback_cli
from tamil_ser.loop import retrain_cli
from tamil_ser.testing import voice_batch, voice_corpus

def lab_corpus(root, n_spk=6, per=2):
    "A lab manifest CSV of `n_spk` speakers with every emotion."
    return voice_corpus(root, [f'lab{s}' for s in range(n_spk)], per)

def add_batch(pool, batch, speakers, per=2, accent=lambda s: 'north' if int(s[1:]) % 2 else 'east', vote=True, voiced=None):
    "Collect a batch of field clips of `speakers` into `pool` (contract format) and vote their true labels; emotion e sounds as `voiced[e]`."
    t = voice_batch(pool, batch, speakers, per, voiced, accent).rename(columns={'label': '_label'})
    if vote:
        for cid, e in zip(t.clip_id, t._label): add_vote(pool, cid, 'oracle', e)
    return t

FIELD = [f's{i:02d}' for i in range(16)]

def pin_splits(pool, test):
    "Fix which speakers are in the field test set (a user may edit splits.csv)."
    pd.DataFrame(dict(speaker=FIELD, split=['test' if s in test else 'train' for s in FIELD])).to_csv(Path(pool)/'splits.csv', index=False)

@pytest.fixture(scope='module')
def lab(tmp_path_factory): return lab_corpus(tmp_path_factory.mktemp('lab'))

def probe_project(tmp_path, lab, name='proj'):
    "A new project of eGeMAPS probes."
    d = tmp_path/name
    assert init_cli([str(d), '--lab', str(lab), '--backbone', 'egemaps', '--mode', 'probe']) == 0
    set_params(d, valid=0)                                     # L-BFGS probes need no validation speakers: faster
    return d

def new_project(tmp_path, lab, name='proj'):
    "A new project of eGeMAPS probes whose field test speakers are the first six."
    d = probe_project(tmp_path, lab, name)
    pin_splits(d/'data'/'pool', FIELD[:6])
    return d

def set_params(d, **train):
    "Change training settings in params.yaml, as a user would."
    import yaml
    p = yaml.safe_load((d/'params.yaml').read_text()); p['train'].update(train)
    (d/'params.yaml').write_text(yaml.safe_dump(p, sort_keys=False))

def test_init_twice(tmp_path, lab, capsys):
    d = new_project(tmp_path, lab)
    for f in ('params.yaml', 'dvc.yaml', 'README.md', '.github/workflows/retrain.yml', 'data/pool/pool.csv', 'models/history.csv'):
        assert (d/f).exists(), f
    cfg = (d/'.dvc'/'config').read_text()
    assert 'analytics = false' in cfg and 'check_update = false' in cfg and 'proj-dvc-remote' in cfg
    wf = (d/'.github'/'workflows'/'retrain.yml').read_text()
    assert 'workflow_dispatch' in wf and 'schedule' in wf and 'fetch-depth: 0' in wf and 'tamil-ser retrain' in wf
    head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=d, capture_output=True, text=True).stdout
    before = {f: f.read_bytes() for f in d.rglob('*') if f.is_file() and '.git' not in f.parts}
    capsys.readouterr()
    assert init_cli([str(d), '--lab', str(lab)]) == 0
    assert 'nothing changed' in capsys.readouterr().out
    assert {f: f.read_bytes() for f in d.rglob('*') if f.is_file() and '.git' not in f.parts} == before
    assert subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=d, capture_output=True, text=True).stdout == head
    assert init_cli([str(tmp_path/'p2'), '--lab', str(tmp_path/'missing.csv')]) == 2
    assert not (tmp_path/'p2').exists()                        # refused before anything is made

def test_loop_twice_then_nothing_new_then_rollback(tmp_path, lab, capsys):
    d = new_project(tmp_path, lab)
    pool = d/'data'/'pool'
    add_batch(pool, 'b1', FIELD[:6] + FIELD[6:9])               # test speakers and three training speakers
    assert retrain_cli([str(d)]) == 0
    h = loop_history(d)
    assert list(h.decision) == ['promote'], h                  # a first model that beats chance
    first = champion_run(d)
    assert first == h.run[0] and (d/'models'/'champion'/'tamil_ser.json').exists()
    assert resolve_model(d) == str(d/'models'/'champion')
    g = json.loads((d/'gate'/'gate.json').read_text())
    assert g['n_speakers'] == 6 and g['resampled'] == 'speakers'
    assert json.loads(h.data[0])['data/test.csv']
    add_batch(pool, 'b2', FIELD[9:], per=3)                    # more training speakers
    assert retrain_cli([str(d)]) == 0
    h = loop_history(d)
    assert len(h) == 2 and h.run[1] != h.run[0]
    assert (pool/'clips'/'b1.dvc').exists() and (pool/'clips'/'b2.dvc').exists()
    capsys.readouterr()
    commits = lambda: subprocess.run(['git', 'log', '--format=%s'], cwd=d, capture_output=True, text=True).stdout.splitlines()
    before = commits()
    assert sum(c.endswith('the data and pipeline the round trained and judged on') for c in before) == 2   # one per round
    assert retrain_cli([str(d)]) == 0                           # nothing new
    assert 'nothing new' in capsys.readouterr().out and len(loop_history(d)) == 2
    assert commits() == before                                  # ...and no commit
    assert not subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=d, capture_output=True, text=True).stdout
    assert any((tmp_path/'proj-dvc-remote').rglob('*'))        # dvc push reached the remote
    if h.decision[1] == 'promote':
        assert rollback_cli([str(d)]) == 0 and champion_run(d) == first
        assert loop_history(d).decision.iloc[-1] == 'rollback'
    assert rollback_cli([str(d), '--to', 'nope']) == 2

def test_retrain_killed_then_rerun(tmp_path, lab):
    d = new_project(tmp_path, lab)
    add_batch(d/'data'/'pool', 'b1', FIELD[:9])
    code = f'from tamil_ser.loop import retrain_cli; raise SystemExit(retrain_cli([{str(d)!r}]))'
    p = subprocess.Popen([sys.executable, '-c', code], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not (d/'runs'/'challenger').exists() and time.time() - t0 < 120: time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL); p.wait()                # killed while training (the whole process group)
    assert loop_history(d).empty
    assert retrain_cli([str(d)]) == 0
    h = loop_history(d)
    assert len(h) == 1 and h.decision[0] == 'promote' and champion_run(d) == h.run[0]

def trained(tmp_path, m, name, shuffle=False):
    from tamil_ser.train import train
    if shuffle: m = m.assign(label=np.random.default_rng(0).permutation(m.label.to_numpy()))
    return train(m, backbone='egemaps', mode='probe', test=0, valid=0, out=tmp_path/name, progress=False).model

@pytest.fixture(scope='module')
def field(tmp_path_factory):
    "A pool with every speaker labelled: the manifest of training speakers and that of test speakers."
    from tamil_ser.labels import export_labels
    root = tmp_path_factory.mktemp('field')
    pool = root/'pool'; pool.mkdir()
    pd.DataFrame(columns=['path', 'clip_id', 'speaker', 'accent', 'source', 'duplicate_of']).to_csv(pool/'pool.csv', index=False)
    add_batch(pool, 'b1', FIELD, per=3)
    pin_splits(pool, FIELD[:8])
    m = export_labels(pool, out=root/'field.csv', verbose=False)
    return m[m.split == 'train'].reset_index(drop=True), root/'test.csv', m[m.split == 'test']

def test_gate_on_trained_models(tmp_path, lab, field):
    tr, test_csv, te = field
    te.assign(path=[str((test_csv.parent/p).resolve()) for p in te.path]).to_csv(test_csv, index=False)
    m = tr.assign(path=[str((test_csv.parent/p).resolve()) for p in tr.path])
    good, bad = trained(tmp_path, m, 'good'), trained(tmp_path, m, 'bad', shuffle=True)
    v = gate(good, bad, test_csv, out=tmp_path/'g1')
    assert v['decision'] == 'promote' and v['delta_ci'][0] > 0, v['reasons']             # a better challenger
    assert gate(bad, good, test_csv)['decision'] == 'reject'                               # a worse one (shuffled labels)
    same = gate(good, good, test_csv)
    assert same['decision'] == 'reject' and same['delta'] == 0 and same['delta_ci'] == [0, 0]   # the champion against itself
    g = json.loads((tmp_path/'g1'/'gate.json').read_text())
    assert set(g) >= {'decision', 'reasons', 'challenger', 'champion', 'delta', 'delta_ci', 'groups'}
    assert {x['column'] for x in g['groups']} == {'accent', 'source'} and (tmp_path/'g1'/'report.html').stat().st_size > 1000

def test_group_regression_blocks(tmp_path, field):
    "A challenger better overall that loses one accent is rejected, naming the accent."
    tr, test_csv, te = field
    te.assign(path=[str((test_csv.parent/p).resolve()) for p in te.path]).to_csv(test_csv, index=False)
    m = tr.assign(path=[str((test_csv.parent/p).resolve()) for p in tr.path])
    champ = trained(tmp_path, m, 'champ')
    # the challenger learns the north accent only from shuffled labels: better nowhere, worse in the north
    east, north = m[m.accent == 'east'], m[m.accent == 'north']
    mixed = pd.concat([east, north.assign(label=np.roll(north.label.to_numpy(), 7))], ignore_index=True)
    chal = trained(tmp_path, mixed, 'chal')
    v = gate(chal, champ, test_csv, rules=dict(min_gain=-1.0, max_ece_rise=1.0))
    assert v['decision'] == 'reject'
    assert any(r.startswith('accent north') for r in v['reasons']), v['reasons']
    assert gate(chal, champ, test_csv, rules=dict(min_gain=-1.0, max_ece_rise=1.0, min_group_n=10**6))['decision'] == 'promote'

def test_gate_cli(tmp_path, field, capsys):
    tr, test_csv, te = field
    te.assign(path=[str((test_csv.parent/p).resolve()) for p in te.path]).to_csv(test_csv, index=False)
    good = trained(tmp_path, tr.assign(path=[str((test_csv.parent/p).resolve()) for p in tr.path]), 'good')
    assert gate_cli([str(tmp_path/'good'/'model'), 'none', str(test_csv), '--out', str(tmp_path/'g')]) == 0
    assert json.loads((tmp_path/'g'/'gate.json').read_text())['decision'] == 'promote'
    assert gate_cli([str(tmp_path/'good'/'model'), 'none', str(tmp_path/'missing.csv'), '--out', str(tmp_path/'g')]) == 2
    assert 'tamil-ser gate: error:' in capsys.readouterr().err

# ---- issue 19: a new project, the user's own work, init into a folder with files, one-line errors ----------------------

def git(d, *args):
    return subprocess.run(['git', *args], cwd=d, capture_output=True, text=True).stdout

def snapshot(d):
    "Every file under `d` and its bytes."
    return {str(f.relative_to(d)): f.read_bytes() for f in Path(d).rglob('*') if f.is_file()}

def test_new_project_without_test_votes_then_with(tmp_path, lab, capsys):
    "No labelled clip of a field test speaker yet: one line, no round, the pipeline still runs; and rounds commit only their own files."
    d = new_project(tmp_path, lab)
    pool = d/'data'/'pool'
    b = add_batch(pool, 'b1', FIELD[:9], vote=False)
    test = b.speaker.isin(FIELD[:6])
    for cid, e in zip(b.clip_id[~test], b._label[~test]): add_vote(pool, cid, 'oracle', e)   # training speakers only
    (d/'notes.md').write_text('my own notes\n')
    git(d, 'add', 'notes.md')                                  # the user's own work, staged
    (d/'README.md').write_text((d/'README.md').read_text() + '\nmy edit\n')          # ...and an edit not staged
    capsys.readouterr()
    assert retrain_cli([str(d)]) == 0
    out = capsys.readouterr()
    said = [l for l in out.out.splitlines() if 'no round' in l]
    assert len(said) == 1 and 'none of the 6 field test speakers' in said[0] and not out.err, out
    assert loop_history(d).empty and champion_run(d) is None
    r = subprocess.run([sys.executable, '-m', 'dvc', 'repro', '-q'], cwd=d, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr              # every stage's declared outputs appear, plots too
    for cid, e in zip(b.clip_id[test], b._label[test]): add_vote(pool, cid, 'oracle', e)
    assert retrain_cli([str(d)]) == 0
    assert list(loop_history(d).decision) == ['promote']
    assert git(d, 'diff', '--cached', '--name-only').split() == ['notes.md']        # still staged
    assert git(d, 'log', '--all', '--format=%h', '--', 'notes.md') == ''             # in no commit
    assert git(d, 'diff', '--name-only').split() == ['README.md'] and 'my edit' in (d/'README.md').read_text()

def test_init_into_a_folder_with_files(tmp_path, lab, capsys):
    "Another tool's params.yaml or history.csv: refused in one line, nothing made; a README, .gitignore and staged work: kept."
    d = tmp_path/'p'
    d.mkdir()
    for f, text in (('params.yaml', 'lr: 0.1\n'), ('models/history.csv', 'date,score\n2024-01-01,0.5\n')):
        (d/f).parent.mkdir(parents=True, exist_ok=True)
        (d/f).write_text(text)
        before = snapshot(d)
        capsys.readouterr()
        assert init_cli([str(d), '--lab', str(lab), '--backbone', 'egemaps']) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and f in err and snapshot(d) == before and not (d/'.git').exists(), err
        (d/f).unlink()
    subprocess.run(['git', 'init', '-q', str(d)], check=True)
    (d/'README.md').write_text('# my project\n')
    (d/'.gitignore').write_text('*.log\n')
    (d/'todo.txt').write_text('call Meena\n')
    git(d, 'add', 'todo.txt')
    capsys.readouterr()
    assert init_cli([str(d), '--lab', str(lab), '--backbone', 'egemaps', '--mode', 'probe']) == 0
    assert 'kept what was there: README.md' in capsys.readouterr().out
    assert (d/'README.md').read_text() == '# my project\n'
    assert (d/'.gitignore').read_text().startswith('*.log\n') and 'models/.incoming/' in (d/'.gitignore').read_text()
    assert git(d, 'diff', '--cached', '--name-only').split() == ['todo.txt'] and not git(d, 'log', '--all', '--', 'todo.txt')
    import yaml
    assert yaml.safe_load((d/'params.yaml').read_text())['train']['backbone'] == 'egemaps'
    capsys.readouterr()
    assert init_cli([str(d), '--backbone', 'compare']) == 2                         # not silently ignored
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and 'backbone egemaps' in err and '--backbone compare' in err, err
    assert init_cli([str(d), '--lab', str(lab), '--backbone', 'egemaps']) == 0 and 'nothing changed' in capsys.readouterr().out

def test_init_and_retrain_refuse_in_one_line(tmp_path, lab, capsys):
    "init on a file or under a read-only folder, retrain on a read-only project: one line, exit 2, nothing changed."
    (tmp_path/'afile').write_text('not a folder\n')
    ro = tmp_path/'ro'
    ro.mkdir()
    d = new_project(tmp_path, lab)
    before = snapshot(d)
    capsys.readouterr()
    with frozen(ro): rc = [init_cli([str(tmp_path/'afile'), '--lab', str(lab)]), init_cli([str(ro/'proj'), '--lab', str(lab)])]
    with frozen(d): rc.append(retrain_cli([str(d)]))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == [2, 2, 2] and len(err) == 3 and 'is a file' in err[0] and 'ro' in err[1] and 'cannot write' in err[2], err
    assert not (ro/'proj').exists() and snapshot(d) == before

# ---- the registry: readers leave a promotion alone, writers wait for it, kills leave it whole --------------------------

PROMOTE_SLOWLY = """
import shutil, sys, time
copytree = shutil.copytree
def slow(a, b):
    time.sleep(float(sys.argv[4]) if '.incoming' in b else 0)     # the champion being installed takes its time
    return shutil.copy2(a, b)
shutil.copytree = lambda src, dst, **kw: copytree(src, dst, copy_function=slow, **kw)
from tamil_ser.registry import promote
print('ready', flush=True)
promote(sys.argv[1], sys.argv[2], sys.argv[3])
"""

def promoting(bundle, proj, run, wait=1.0):
    "A promotion of `bundle` in a child process, slowed while it installs; returned once it is installing."
    p = subprocess.Popen([sys.executable, '-c', PROMOTE_SLOWLY, str(bundle), str(proj), run, str(wait)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == 'ready'
    t0 = time.time()
    while not (proj/'models'/'.incoming').exists():
        assert p.poll() is None and time.time() - t0 < 60
        time.sleep(0.01)
    return p

def fake_bundle(d, run, n=5):
    d.mkdir(parents=True)
    (d/'tamil_ser.json').write_text(json.dumps(dict(run=run)))
    for i in range(n): (d/f'part{i}.bin').write_bytes(os.urandom(1000))
    return d

def whole(proj, runs):
    "The registry holds one whole champion of `runs` and nothing half made."
    m = proj/'models'
    run, meta = json.loads((m/'champion'/'registry.json').read_text())['run'], json.loads((m/'champion'/'tamil_ser.json').read_text())
    assert run == champion_run(proj) and run in runs and meta.get('run', run) == run      # the bundle is the one it names
    assert not (m/'.incoming').exists() and not (m/'.outgoing').exists() and not list((m/'archive').glob('.*'))

def test_gate_during_a_promotion_leaves_it_alone(tmp_path, field):
    "`tamil-ser gate` on a project reads its champion while a promotion installs another: the promotion completes."
    tr, test_csv, te = field
    te.assign(path=[str((test_csv.parent/p).resolve()) for p in te.path]).to_csv(test_csv, index=False)
    trained(tmp_path, tr.assign(path=[str((test_csv.parent/p).resolve()) for p in tr.path]), 'good')
    bundle, proj = tmp_path/'good'/'model', tmp_path/'proj'
    promote(bundle, proj, 'a')
    p = promoting(bundle, proj, 'b', wait=2.0)
    assert gate_cli([str(bundle), str(proj), str(test_csv), '--out', str(tmp_path/'g')]) == 0
    assert p.wait(120) == 0
    whole(proj, ['b'])

def test_recovery_waits_for_a_promotion(tmp_path):
    "What retrain and rollback run first, recover_registry, holds the registry's lock: it waits for a promotion to end."
    proj = tmp_path/'proj'
    promote(fake_bundle(tmp_path/'a', 'a'), proj, 'a')
    p = promoting(fake_bundle(tmp_path/'b', 'b'), proj, 'b')
    recover_registry(proj)
    assert p.wait(5) == 0
    whole(proj, ['b'])

def test_promotion_killed_anywhere_leaves_one_champion(tmp_path):
    "SIGKILL at any moment of a promotion: after recovery the champion is the old one or the new one, whole."
    import random
    proj, rng = tmp_path/'proj', random.Random(3)
    promote(fake_bundle(tmp_path/'a', 'a'), proj, 'a')
    for i in range(5):
        p = promoting(fake_bundle(tmp_path/f'b{i}', f'b{i}'), proj, f'b{i}', wait=0.3)
        time.sleep(rng.uniform(0, 2))
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert Path(resolve_model(proj)).is_dir()                # readers find a champion at every moment
        recover_registry(proj)
        whole(proj, ['a'] + [f'b{j}' for j in range(i + 1)])

# ---- withdrawal in a project: the toolkit's copies go, what it cannot rewrite is named with its command ----------------

def test_withdrawal_in_a_project(tmp_path, lab, monkeypatch):
    "After `collect remove`, no file of the project outside git and models holds the speaker's clips; the next round runs."
    import tamil_ser.features as F
    from tamil_ser.features import embed
    monkeypatch.setenv('TAMIL_SER_CACHE', str(tmp_path/'cache'))           # the stages' processes cache features here
    monkeypatch.setattr(F, 'CACHE', tmp_path/'cache')
    d = new_project(tmp_path, lab)
    pool = d/'data'/'pool'
    add_batch(pool, 'b1', FIELD[:9])
    assert retrain_cli([str(d)]) == 0                          # DVC holds the clips; exports, predictions, caches exist
    t = pd.read_csv(pool/'pool.csv', dtype=str)
    mine = t[t.speaker == FIELD[0]]                            # a field test speaker: in the exports and the predictions
    files = [pool/p for p in mine.path]
    md5s = [hashlib.md5(f.read_bytes()).hexdigest() for f in files]
    objects = [d/'.dvc'/'cache'/'files'/'md5'/m[:2]/m[2:] for m in md5s]
    embed([str(f) for f in files], 'egemaps', cache=tmp_path/'own', progress=False)   # the names embed gives their features
    cached = lambda: {f.name for f in (tmp_path/'cache'/'embeddings').rglob('*.npy')}
    theirs = {f.name for f in (tmp_path/'own').rglob('*.npy')}
    assert all(f.exists() for f in objects) and theirs <= cached() and len(cached()) > len(theirs)
    r = cli('collect', 'remove', pool, '--speaker', FIELD[0])
    print(r.stdout)
    assert r.returncode == 0 and f'removed {len(mine)} clips of speaker {FIELD[0]}' in r.stdout, r.stdout + r.stderr
    assert 'filter-repo --force --replace-text' in r.stdout and 'dvc gc --workspace --cloud --remote store' in r.stdout, r.stdout
    assert not any(f.exists() for f in files + objects) and not theirs & cached() and cached()
    for f, b in snapshot(d).items():                           # exports, predictions, splits, votes (overwritten): all clean
        if f.startswith(('.git/', '.dvc/tmp/', 'models/', 'runs/')): continue
        assert not any(c.encode() in b for c in mine.clip_id), f
    assert f'{FIELD[0]},' not in (pool/'splits.csv').read_text()
    st = subprocess.run([sys.executable, '-m', 'dvc', 'status', '--json', 'data/pool/clips/b1.dvc', 'data/pool/labels.sqlite.dvc'],
                        cwd=d, capture_output=True, text=True)
    assert json.loads(st.stdout or '{}') == {}, st.stdout      # DVC records the batch and the votes without them
    rx = next((d/'.git').glob('tamil-ser-withdrawn-*.txt')).read_text()
    assert all(c in rx for c in mine.clip_id)                  # the expressions that purge the history
    assert retrain_cli([str(d)]) == 0 and len(loop_history(d)) == 2

def test_init_killed_anywhere_then_run_again(tmp_path, lab):
    "SIGKILL at any moment of `init` (files are written whole): running it again makes the whole project and commits it."
    import random, yaml
    rng = random.Random(4)
    code = 'import sys; from tamil_ser.project import init_cli; print("ready", flush=True); sys.exit(init_cli(sys.argv[1:]))'
    for i in range(3):
        d = tmp_path/f'p{i}'
        p = subprocess.Popen([sys.executable, '-c', code, str(d), '--lab', str(lab), '--backbone', 'egemaps'], stdout=subprocess.PIPE,
                             text=True, start_new_session=True)
        assert p.stdout.readline().strip() == 'ready'
        time.sleep(rng.uniform(0.5, 5))
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        if (d/'.git'/'index.lock').exists(): os.utime(d/'.git'/'index.lock', (0, 0))   # as if a minute had passed
        assert init_cli([str(d), '--lab', str(lab), '--backbone', 'egemaps']) == 0
        assert yaml.safe_load((d/'params.yaml').read_text())['train']['backbone'] == 'egemaps'
        assert 'store' in subprocess.run([sys.executable, '-m', 'dvc', 'remote', 'list'], cwd=d, capture_output=True, text=True).stdout
        for f in ('params.yaml', 'dvc.yaml', 'README.md', 'data/pool/pool.csv', 'models/history.csv', '.dvc/config'):
            assert git(d, 'ls-tree', '--name-only', 'HEAD', '--', f).strip() == f, (i, f)       # committed

KILL_SPLITS = """
import sys, time, tamil_ser.pool as P
write = P.write_table
def slow(df, path, **k):                  # a slow disk: the kill can land inside the write
    time.sleep(0.3)
    return write(df, path, **k)
P.write_table = slow
print('ready', flush=True)
P.field_splits(sys.argv[1])
"""

def test_field_splits_killed_anywhere(tmp_path):
    "SIGKILL at any moment while splits.csv grows (speakers and speakerless recordings): it stays whole, and the rerun matches."
    import random
    from tamil_ser.pool import field_splits, POOL_COLUMNS
    n = 20000
    rows = pd.DataFrame({c: '' for c in POOL_COLUMNS}, index=range(n)).assign(
        path=[f'clips/b1/{i}.flac' for i in range(n)], clip_id=[f'{i:016x}' for i in range(n)],
        speaker=[f'spk{i}' if i % 2 else '' for i in range(n)], origin=[f'film{i}.mp4' for i in range(n)])
    clean = tmp_path/'clean'
    clean.mkdir()
    rows.to_csv(clean/'pool.csv', index=False)
    want = field_splits(clean)
    assert len(want) == n and (want.speaker == '').sum() == n // 2          # a row per speaker, or per recording without one
    rng = random.Random(5)
    for i, wait in enumerate([0.05, 0.32] + [rng.uniform(0, 0.6) for _ in range(3)]):
        d = tmp_path/f'k{i}'
        d.mkdir()
        rows.to_csv(d/'pool.csv', index=False)
        p = subprocess.Popen([sys.executable, '-c', KILL_SPLITS, str(d)], stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == 'ready'
        time.sleep(wait)
        p.send_signal(signal.SIGKILL)
        p.wait()
        if (d/'splits.csv').exists():                                   # never a torn file: absent, or all of it
            assert pd.read_csv(d/'splits.csv', dtype=str, keep_default_na=False).equals(want), i
        assert field_splits(d).equals(want), i

def test_speakerless_field_runs_the_loop(tmp_path, lab, capsys):
    "Film clips without speaker ids: whole recordings form the field test set, queue needs no model, the gate resamples recordings."
    from tamil_ser.acquire import queue
    from tamil_ser.pool import clip_splits, pool_rows
    d = probe_project(tmp_path, lab, 'films')
    pool = d/'data'/'pool'
    t = add_batch(pool, 'b1', FIELD[:12], vote=False)           # 60 recordings of two clips each...
    rows = pd.read_csv(pool/'pool.csv', dtype=str, keep_default_na=False)
    rows.assign(speaker='').to_csv(pool/'pool.csv', index=False)   # ...and no speaker ids
    split = clip_splits(pool)
    assert set(split) == {'train', 'test'}
    assert pd.crosstab(pool_rows(pool).origin, split).gt(0).sum(axis=1).max() == 1   # no recording straddles train and test
    q = queue(pool, n=20, progress=False)                       # no champion yet: no model needed
    assert set(q.strategy) <= {'spread', 'random'} and (q.strategy == 'spread').sum() == 18
    origin = pool_rows(pool).set_index('clip_id').origin
    assert origin[q.clip_id].nunique() == 20 and set(split[pool_rows(pool).clip_id.isin(q.clip_id)]) == {'train'}
    for cid, e in zip(t.clip_id, t._label): add_vote(pool, cid, 'oracle', e)
    assert retrain_cli([str(d)]) == 0
    g = json.loads((d/'gate'/'gate.json').read_text())
    assert g['resampled'] == 'origin recordings' and g['n_speakers'] == (split == 'test').groupby(pool_rows(pool).origin).any().sum()
    assert 'the bootstrap resamples origin recordings' in (d/'gate'/'summary.md').read_text()
    assert list(loop_history(d).decision) == ['promote']          # a first model above chance on whole test recordings
    q = queue(d, n=10, progress=False)                          # the project's champion scores the next queue
    assert set(q.strategy) <= {'diverse', 'random'} and (q.emotion != '').all() and q.confidence.notna().all()
    splits = pd.read_csv(pool/'splits.csv', dtype=str, keep_default_na=False)
    assert (splits.speaker == '').all() and splits.origin.nunique() == 60

SHIFTED = dict(zip(EMOTIONS, EMOTIONS[1:] + EMOTIONS[:1]))   # a field that voices each emotion as the lab voices the next

def votes_for(pool, queue_csv, t):
    "The annotator's answers (here the true labels) for the clips of a queue written by `tamil-ser queue --out`."
    q, truth = pd.read_csv(queue_csv, dtype=str), t.set_index('clip_id')._label
    for cid in q.clip_id: add_vote(pool, cid, 'oracle', truth[cid])
    return q

def test_cold_start_below_chance(tmp_path, lab, capsys):
    "A field where the lab model is below chance, through the README's commands: init, collect, retrain, queue, label, retrain."
    from tamil_ser.pool import pool_rows
    d = probe_project(tmp_path, lab, 'cold')
    pool = d/'data'/'pool'
    t = add_batch(pool, 'b1', FIELD, vote=False, voiced=SHIFTED)  # 16 speakers, nothing labelled
    capsys.readouterr()
    assert retrain_cli([str(d)]) == 0                           # no round: it says what to label first
    said = capsys.readouterr().out
    assert f'tamil-ser queue {pool} --test --strategy random' in said, said
    votes_for(pool, _queue([pool, '--test', '--strategy', 'random', '--n', '100'], tmp_path/'qt.csv'), t)
    assert retrain_cli([str(d)]) == 0                           # round 0: the lab model alone, below chance
    g = json.loads((d/'gate'/'gate.json').read_text())
    assert g['decision'] == 'reject' and g['challenger']['uar'] < 0.2 and g['n_speakers'] >= 3, g['reasons']
    said = capsys.readouterr().out
    assert f'next: label more field clips: `tamil-ser queue {pool} --n 50 --out queue.csv`' in said, said
    q = votes_for(pool, _queue([pool, '--n', '40'], tmp_path/'q1.csv'), t)   # no champion: the model-free queue
    assert 'spread' in capsys.readouterr().out
    spk = pool_rows(pool).set_index('clip_id').speaker[q.clip_id]
    assert spk.nunique() == 16 - g['n_speakers'] and spk.value_counts().max() <= 6, spk.value_counts()   # over every train speaker
    assert retrain_cli([str(d)]) == 0                           # round 1: 40 field labels
    h = loop_history(d)
    assert list(h.decision) == ['reject', 'promote'], h.reasons.tolist()
    assert h.challenger_uar.astype(float).iloc[-1] > 0.5

def _queue(args, out):
    "Run `tamil-ser queue ARGS --out OUT`; the queue's path."
    from tamil_ser.acquire import queue_cli
    assert queue_cli([str(a) for a in args] + ['--out', str(out)]) == 0
    return out
