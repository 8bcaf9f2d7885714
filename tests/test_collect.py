"Collection end to end: VAD onsets, idempotence, duplicates, bad sources, manifests and votes, removal, the CLI."
import io, os, random, signal, sqlite3, subprocess, sys, time
from pathlib import Path
import numpy as np, pandas as pd, pytest, soundfile as sf, soxr
from frozen import frozen
from tamil_ser.audio import SR, load_audio, clip_hash
from tamil_ser.pool import POOL_COLUMNS, Pool
from tamil_ser.collect import collect
from tamil_ser.consent import remove, speaker_pseudonym
from tamil_ser.sample import sample_manifest

REMOVING = '.removing.json'   # a removal's plan, while it runs

def recording(rows, seed=0, noise_db=-50.):
    "Clips of `rows` with 0.6-2.5 s of noise between them; (audio, true onsets in s)."
    rng = np.random.default_rng(seed)
    parts, t, onsets = [], 0., []
    for p in rows.path:
        gap = rng.normal(0, 10**(noise_db/20), int(rng.uniform(0.6, 2.5)*SR)).astype(np.float32)
        x = load_audio(p)
        onsets.append(t + len(gap)/SR)
        t += (len(gap) + len(x))/SR
        parts += [gap, x]
    return np.concatenate(parts + [np.zeros(SR, np.float32)]), np.array(onsets)

@pytest.fixture(scope='module')
def sample():
    return sample_manifest()

@pytest.fixture(scope='module')
def long_wav(tmp_path_factory, sample):
    "A 44.1 kHz WAV over 60 s (so it is streamed and resampled block by block) and its true onsets."
    d = tmp_path_factory.mktemp('rec')
    x, onsets = recording(sample[sample.source == 'read'].sample(40, random_state=1))
    sf.write(d/'call.wav', soxr.resample(x, SR, 44100), 44100, subtype='PCM_16')
    assert len(x)/SR > 60
    return d/'call.wav', onsets

def run_cli(*args):
    code = 'import sys; from tamil_ser.collect import collect_cli; sys.exit(collect_cli(sys.argv[1:]))'
    return subprocess.run([sys.executable, '-c', code, *map(str, args)], capture_output=True, text=True, timeout=300)

@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    "Features cached by a test (and looked for by a removal) stay in the test's folder, in this process and its children."
    import tamil_ser.features as F
    monkeypatch.setenv('TAMIL_SER_CACHE', str(tmp_path/'cache'))
    monkeypatch.setattr(F, 'CACHE', tmp_path/'cache')

def one_line(r, *words):
    "Exit status 2 and one line on stderr naming `words`, no traceback."
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and 'Traceback' not in r.stderr, r.stderr
    assert all(w in r.stderr for w in words), r.stderr

def test_onsets_within_035s(long_wav, tmp_path):
    path, onsets = long_wav
    s = collect(path, tmp_path/'pool', speaker='s1', progress=False)
    t = Pool(tmp_path/'pool').table
    assert len(t) == len(s.rows) and list(t.columns) == POOL_COLUMNS
    near = np.abs(t.start.to_numpy()[None] - onsets[:, None]).min(1)
    assert (near <= 0.35).mean() >= 0.95, near
    assert t.duration.between(1, 10).all() and (t.end - t.start - t.duration).abs().max() < 0.01
    assert abs(s.seconds_in - len(load_audio(path))/SR) < 0.1
    cid = t.clip_id.iloc[3]
    assert clip_hash(Pool(tmp_path/'pool').audio(cid)) == cid          # the id is the hash of the stored samples
    x = load_audio(path)[int(t.start.iloc[3]*SR):int(t.end.iloc[3]*SR)]
    y = Pool(tmp_path/'pool').audio(cid)
    assert np.corrcoef(x, y[:len(x)])[0, 1] > 0.999                 # the clip is that stretch of the origin

def test_idempotent(long_wav, tmp_path):
    path, _ = long_wav
    collect(path, tmp_path/'pool', progress=False)
    files = sorted((tmp_path/'pool').rglob('*.flac'))
    before = (tmp_path/'pool'/'pool.csv').read_bytes()
    s = collect([path, path.parent], tmp_path/'pool', progress=False)        # the file again, and its folder
    assert s.rows == [] and s.copies == 2
    assert (tmp_path/'pool'/'pool.csv').read_bytes() == before and sorted((tmp_path/'pool').rglob('*.flac')) == files

def test_duplicates(sample, tmp_path):
    x, _ = recording(sample[sample.speaker == 'e1'].sample(12, random_state=2), seed=3)
    sf.write(tmp_path/'a.flac', x, SR)
    (tmp_path/'copy').mkdir()
    (tmp_path/'copy'/'b.flac').write_bytes((tmp_path/'a.flac').read_bytes())        # byte-identical, another name
    b = io.BytesIO(); sf.write(b, soxr.resample(x, SR, 22050)*0.6, 22050, format='OGG', subtype='VORBIS')
    (tmp_path/'c.ogg').write_bytes(b.getvalue())                                    # re-encoded
    s1 = collect(tmp_path/'a.flac', tmp_path/'pool', progress=False)
    s2 = collect([tmp_path/'copy'/'b.flac', tmp_path/'c.ogg'], tmp_path/'pool', progress=False)
    assert s2.copies == 1
    c = s2.clips
    assert len(c) >= 10 and (c.duplicate_of != '').mean() >= 0.9
    assert set(c.duplicate_of) - {''} <= set(s1.clips.clip_id)
    assert (s1.clips.duplicate_of == '').all()          # different utterances are not near-duplicates of each other

def test_bad_source_among_good(long_wav, tmp_path):
    path, _ = long_wav
    (tmp_path/'notes.wav').write_text('not audio at all')
    (tmp_path/'empty').mkdir()
    sf.write(tmp_path/'full.flac', *sf.read(path))
    b = (tmp_path/'full.flac').read_bytes()
    (tmp_path/'cut.flac').write_bytes(b[:len(b)//2])           # over 60 s, so streamed: the error comes halfway through
    srcs = tmp_path/'notes.wav', tmp_path/'missing.flac', tmp_path/'cut.flac', path, tmp_path/'empty'
    r = run_cli(*srcs, '--pool', tmp_path/'pool', '-q')
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 4 and 'Traceback' not in r.stderr, r.stderr
    assert all(l.startswith('tamil-ser collect: error: ') for l in lines)
    for name in ('notes.wav', 'missing.flac', 'cut.flac', 'empty'): assert sum(name in l for l in lines) == 1
    assert set(Pool(tmp_path/'pool').table.origin.map(lambda o: Path(o).name)) == {path.name}   # nothing of the cut file
    assert len(Pool(tmp_path/'pool')) > 20                                           # the good one was collected
    r = run_cli(path, '--pool', tmp_path/'pool2', '--speaker', 'x', '--accent', 'north')
    assert r.returncode == 0 and 'clips' in r.stdout and 'north' in r.stdout

def test_manifest_source(sample, tmp_path):
    rows = sample[sample.source == 'read'].groupby('speaker').head(3).reset_index(drop=True)
    x, _ = recording(sample[sample.speaker == 'n3'].head(8), seed=4)                 # one long row, to be cut
    sf.write(tmp_path/'long.wav', x, SR)
    m = rows[['path', 'label', 'speaker', 'accent', 'sentence']].copy()
    m.loc[len(m)] = dict(path='long.wav', label='happy', speaker='n3', accent='', sentence='')
    m.loc[2, 'label'] = ''                                                            # an unlabelled row
    m.to_csv(tmp_path/'batch.csv', index=False)
    s = collect(tmp_path/'batch.csv', tmp_path/'pool', source='radio', consent='form-2', progress=False)
    t = Pool(tmp_path/'pool').table
    whole = t[t.origin != str(tmp_path/'long.wav')]
    assert len(whole) == len(rows) and set(whole.speaker) == set(rows.speaker)
    assert (whole.source == 'radio').all() and (t.consent == 'form-2').all()
    assert dict(zip(whole.origin, whole.accent)) == dict(zip(rows.path, rows.accent))
    for o, d in zip(whole.origin, whole.duration): assert d <= len(load_audio(o))/SR + 1e-3   # kept whole, trimmed
    assert (t.origin == str(tmp_path/'long.wav')).sum() >= 5                           # cut like a recording
    v = pd.read_csv(tmp_path/'pool'/'incoming_votes.csv', dtype=str, keep_default_na=False)
    assert list(v.columns) == ['clip_id', 'annotator', 'label'] and set(v.annotator) == {'batch.csv'}
    assert len(v) == len(t) - 1 and set(v.clip_id) <= set(t.clip_id) and s.votes == len(v)
    lab = dict(zip(t.clip_id, t.origin))
    assert all(dict(zip(m.path.map(lambda p: str(tmp_path/p) if not os.path.isabs(p) else p), m.label))[lab[c]] == l
               for c, l in zip(v.clip_id, v.label))
    collect(tmp_path/'batch.csv', tmp_path/'pool', annotator='asha', progress=False)  # known recordings: no new votes
    assert len(pd.read_csv(tmp_path/'pool'/'incoming_votes.csv')) == len(v)

def snapshot(root):
    return {str(f.relative_to(root)): f.read_bytes() for f in Path(root).rglob('*') if f.is_file()}

def test_removal_leaves_everything_else_byte_identical(sample, tmp_path):
    rows = sample[sample.source == 'read'].groupby('speaker').head(4)
    rows[['path', 'label', 'speaker', 'accent']].to_csv(tmp_path/'m.csv', index=False)
    collect(tmp_path/'m.csv', tmp_path/'pool', hash_speaker=True, progress=False)
    pool = Pool(tmp_path/'pool')
    t = pool.table
    assert 'n1' not in set(t.speaker) and speaker_pseudonym(pool, 'n1') in set(t.speaker)   # pseudonymous ids
    with sqlite3.connect(pool.root/'labels.sqlite') as con:
        con.execute('CREATE TABLE votes (clip_id TEXT, annotator TEXT, label TEXT)')
        con.execute('CREATE TABLE history (clip_id TEXT, what TEXT)')
        con.executemany('INSERT INTO votes VALUES (?, ?, ?)', [(c, 'a', 'sad') for c in t.clip_id])
        con.executemany('INSERT INTO history VALUES (?, ?)', [(c, 'x') for c in t.clip_id])
    before = snapshot(pool.root)
    r = run_cli('remove', pool.root, '--speaker', 'n1')
    assert r.returncode == 0 and 'removed 4 clips' in r.stdout, r.stderr
    after = snapshot(pool.root)
    gone = t[t.speaker == speaker_pseudonym(pool, 'n1')]
    assert len(gone) == 4 and not any(p in after for p in gone.path)
    edited = {'pool.csv', 'incoming_votes.csv', 'labels.sqlite'} | {f'fingerprints/{b}.npz' for b in gone.batch}
    for k in set(before) - set(gone.path) - edited:
        assert after[k] == before[k], k
    keep = lambda b: [l for l in b.decode().splitlines() if not any(c in l for c in gone.clip_id)]
    for f in ('pool.csv', 'incoming_votes.csv'): assert after[f].decode().splitlines() == keep(before[f])
    with sqlite3.connect(pool.root/'labels.sqlite') as con:
        for table in ('votes', 'history'):
            left = {c for (c,) in con.execute(f'SELECT clip_id FROM {table}')}
            assert left == set(t.clip_id) - set(gone.clip_id)
    with np.load(pool.root/'fingerprints'/f'{gone.batch.iloc[0]}.npz') as z: assert not set(z.files) & set(gone.clip_id)
    o = pool.table.origin.iloc[0]
    assert len(remove(pool, origin=o)) == 1 and o not in set(pool.table.origin)
    r = run_cli('remove', tmp_path/'nothing', '--speaker', 'n1')
    assert r.returncode == 2 and 'not a pool' in r.stderr

def assert_whole(root):
    "Every clip file of the pool has its row and every row its file; fingerprints of exactly those clips; no self-duplicates."
    root = Path(root)
    t = Pool(root).table
    fps = set()
    for f in (root/'fingerprints').glob('*.npz'):
        with np.load(f) as z: fps |= set(z.files)
    assert {str(f.relative_to(root)) for f in (root/'clips').rglob('*.flac')} == set(t.path)
    assert fps == set(t.clip_id) and t.clip_id.is_unique
    assert not (t.duplicate_of == t.clip_id).any()
    assert not list(root.rglob('.*.part*'))

def marks(t):
    "Each clip's near-duplicate mark."
    return dict(zip(t.clip_id, t.duplicate_of))

KILL_COLLECT = """
import sys, time, tamil_ser.collect as c
c.time.time = lambda t=[0.]: t.__setitem__(0, t[0] + 11) or t[0]     # a flush after every source
append = c.append_rows
def slow(path, rows, columns):                                        # a wide gap between the fingerprints and the rows
    if path.name == 'pool.csv' and rows: time.sleep(1)
    append(path, rows, columns)
c.append_rows = slow
sys.exit(c.collect_cli(sys.argv[1:]))
"""

def stored(root):
    "How many clip files, fingerprints and rows the pool has on disk."
    fps = 0
    for f in (root/'fingerprints').glob('*.npz'):
        with np.load(f) as z: fps += len(z.files)
    return len(list((root/'clips').rglob('*.flac'))), fps, len(pd.read_csv(root/'pool.csv')) if (root/'pool.csv').exists() else 0

def test_survives_kills_and_finishes_on_rerun(long_wav, tmp_path):
    "SIGKILL while clips have no rows yet, and between storing fingerprints and rows: the rerun completes it exactly."
    path, _ = long_wav
    x, srcs, root = load_audio(path), [tmp_path/f'r{i}.wav' for i in range(6)], tmp_path/'pool'
    for i, f in enumerate(srcs): sf.write(f, x[i*SR:(i+20)*SR], SR)
    for orphan in (lambda f, p, n: f > n, lambda f, p, n: p > n):     # clips without rows; fingerprints without rows
        p = subprocess.Popen([sys.executable, '-c', KILL_COLLECT, *map(str, srcs), '--pool', str(root), '-q'])
        t0 = time.time()
        while not (root/'pool.csv').exists() or not orphan(*stored(root)):
            assert p.poll() is None and time.time() - t0 < 120, 'the collect ended before the moment to kill it'
            time.sleep(0.01)
        p.send_signal(signal.SIGKILL)
        p.wait()
        t = Pool(root).table
        assert len(t) and all((root/f).exists() for f in t.path)
    collect(srcs, root, progress=False)
    t = Pool(root).table
    assert set(t.origin) == set(map(str, srcs))
    assert_whole(root)
    assert marks(t) == marks(collect(srcs, tmp_path/'clean', progress=False).clips)    # as if nothing had been killed

def test_failed_collect_leaves_nothing_that_changes_the_retry(long_wav, tmp_path):
    "A collect whose rows cannot be stored deletes its clips and fingerprints: the retry marks nothing a copy of itself."
    path, _ = long_wav
    x, a, b = load_audio(path), tmp_path/'a.wav', tmp_path/'b.wav'
    sf.write(a, x[:20*SR], SR)
    sf.write(b, x[18*SR:45*SR], SR)                      # overlaps a: true near-duplicates as well as new clips
    pool = tmp_path/'pool'
    collect(a, pool, progress=False)
    before = snapshot(pool)
    with frozen(pool): r = run_cli(b, '--pool', pool, '-q')   # pool.csv cannot be replaced
    one_line(r, 'tamil-ser collect: error:')
    assert snapshot(pool) == before
    collect(b, pool, progress=False)
    assert_whole(pool)
    assert marks(Pool(pool).table) == marks(collect([a, b], tmp_path/'clean', progress=False).clips)

def test_blank_ids_remove_nothing(sample, tmp_path):
    "An empty or blank --speaker (an unset shell variable) or --origin is refused: it would match every clip without one."
    m = sample[sample.source == 'read'].groupby('speaker').head(2)[['path', 'label', 'speaker']].reset_index(drop=True)
    m.loc[:2, 'speaker'] = ''
    m.to_csv(tmp_path/'m.csv', index=False)
    collect(tmp_path/'m.csv', tmp_path/'pool', progress=False)
    before = snapshot(tmp_path/'pool')
    for args in (['--speaker', ''], ['--speaker', ' '], ['--origin', '']):
        one_line(run_cli('remove', tmp_path/'pool', *args), 'empty')
    assert snapshot(tmp_path/'pool') == before
    with pytest.raises(ValueError, match='empty speaker'): remove(tmp_path/'pool', speaker='\t')

@pytest.fixture
def voted(sample, tmp_path):
    "A pool of three read clips of each speaker, their votes in labels.sqlite, splits.csv and an earlier export."
    from tamil_ser.labels import export_labels, take_incoming
    from tamil_ser.pool import field_splits
    rows = sample[sample.source == 'read'].groupby('speaker').head(3)
    rows[['path', 'label', 'speaker', 'accent']].to_csv(tmp_path/'m.csv', index=False)
    collect(tmp_path/'m.csv', tmp_path/'pool', progress=False)
    take_incoming(tmp_path/'pool', verbose=False)                  # the labels become votes, the file is set aside
    field_splits(tmp_path/'pool')
    export_labels(tmp_path/'pool', out=tmp_path/'pool'/'labels.csv', verbose=False)
    return Pool(tmp_path/'pool')

def n1_gone(pool, before):
    "Nothing of speaker n1 is left in the pool, and everything else is as it was."
    root, t = pool.root, pool.table
    assert 'n1' not in set(t.speaker) and not (root/REMOVING).exists() and not list(root.rglob('.*.part*'))
    assert_whole(root)
    ids = {l.split(',')[1] for l in before['pool.csv'].decode().splitlines()[1:] if ',n1,' in l}
    for f, b in snapshot(root).items():
        assert not any(i.encode() in b for i in ids) or f == 'labels.sqlite', f
    with sqlite3.connect(root/'labels.sqlite') as con:
        assert not {c for (c,) in con.execute('SELECT clip_id FROM votes')} & ids
    assert 'n1' not in pd.read_csv(root/'splits.csv').speaker.tolist()
    for f in set(before) - {'pool.csv', 'labels.sqlite', 'labels.csv', 'splits.csv'}:
        if not any(i in f for i in ids) and not f.startswith(('fingerprints', 'incoming_votes-')): assert snapshot(root)[f] == before[f], f

@pytest.mark.parametrize('what', ['pool', 'votes', 'clips'])
def test_read_only_removal_is_one_line_and_changes_nothing(voted, what):
    "A read-only pool folder, votes database or clips folder: one line, exit 2, before anything changes (the votes too)."
    root, t = voted.root, voted.table
    target = dict(pool=root, votes=root/'labels.sqlite', clips=(root/t.path[t.speaker == 'n1'].iloc[0]).parent)[what]
    before = snapshot(root)
    with frozen(target): r = run_cli('remove', root, '--speaker', 'n1')
    one_line(r, 'nothing was removed')
    assert snapshot(root) == before
    r = run_cli('remove', root, '--speaker', 'n1')                   # once writable, the same command does it
    assert r.returncode == 0 and 'removed 3 clips of speaker n1' in r.stdout, r.stderr
    n1_gone(voted, before)

def test_removal_that_stops_part_way_is_resumed(voted, monkeypatch):
    "A removal that fails after its checks says so in one line, hides its clips, and `--resume` finishes it."
    import tamil_ser.consent as C
    root, before = voted.root, snapshot(voted.root)
    def fails(*a): raise PermissionError(13, 'Permission denied', 'labels.csv')
    monkeypatch.setattr(C, '_drop_rows', fails)
    with pytest.raises(ValueError, match='stopped part way.*--resume') as e: remove(voted, speaker='n1')
    assert len(str(e.value).splitlines()) == 1
    monkeypatch.undo()
    assert (root/REMOVING).exists() and 'n1' not in set(voted.table.speaker)
    r = run_cli('remove', root, '--resume')
    assert r.returncode == 0 and 'finished removing 3 clips of speaker n1' in r.stdout, r.stderr
    n1_gone(voted, before)

KILL_REMOVE = """
import sys, time, tamil_ser.consent as c
def slow(f): return lambda *a, **k: (time.sleep(0.2), f(*a, **k))[1]
for n in ('_drop_votes', '_drop_fingerprints', '_drop_rows', '_drop_speakers', 'rewrite_without', '_dvc_record'):
    setattr(c, n, slow(getattr(c, n)))
print('ready', flush=True)
c.remove(sys.argv[1], speaker='n1')
"""

def test_removal_killed_anywhere_is_finished(voted, tmp_path):
    "SIGKILL at any moment of a removal: the pool stays whole for readers, and the next removal or --resume finishes it."
    import shutil
    rng = random.Random(2)
    for i, wait in enumerate([0.05] + [rng.uniform(0, 4) for _ in range(4)]):
        root = tmp_path/f'copy{i}'
        shutil.copytree(voted.root, root)
        before = snapshot(root)
        p = subprocess.Popen([sys.executable, '-c', KILL_REMOVE, str(root)], stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == 'ready'
        time.sleep(wait)
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert all((root/f).exists() for f in Pool(root).table.path)     # a reader never meets a row without its clip
        r = run_cli('remove', root, '--speaker', 'n1')
        assert r.returncode == 0, r.stderr
        n1_gone(Pool(root), before)
