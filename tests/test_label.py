"""Labelling end to end: the vote store survives kills and concurrent writers, imports are all-or-nothing and report bad rows,
export/agreement/queue through the CLI, the field test set is never queued, the app's undo and stale clicks."""
import hashlib, json, os, signal, sqlite3, subprocess, sys, textwrap, time
from pathlib import Path
import numpy as np, pandas as pd, pytest, soundfile as sf
from conftest import tone

from tamil_ser.pool import field_splits, pool_rows
from tamil_ser.votes import ANSWERS, Votes
from tamil_ser.labels import export_labels, import_votes, take_incoming
from tamil_ser.agreement import agreement
from tamil_ser.acquire import queue, queue_cli
from tamil_ser.labeller import Labeller, label_cli

SPEAKERS = ['s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8']

def make_pool(root, n=32, seed=0):
    "A pool of `n` tone clips over eight speakers; clip n-1 duplicates clip 0, clip n-2 is tagged quiet."
    root, rows = Path(root), []
    for i in range(n):
        x = tone(1.0, f=150 + 23 * i, seed=seed + i)
        cid = hashlib.blake2b(x.tobytes(), digest_size=8).hexdigest()
        p = root/'clips'/'b1'/f'{cid}.flac'
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, x, 16000)
        rows.append(dict(path=f'clips/b1/{cid}.flac', clip_id=cid, origin=f'r{i}.wav', start=0, end=1, source='field',
                         speaker=SPEAKERS[i % 8], accent='north' if i % 2 else 'south', gender='', consent='c', batch='b1',
                         collected_at='2026-11-25T10:00:00Z', duration=1.0, rms_db=-14, snr_db=30, clipped=0,
                         quality='quiet' if i == n - 2 else '', duplicate_of=rows[0]['clip_id'] if i == n - 1 else ''))
    pd.DataFrame(rows).to_csv(root/'pool.csv', index=False)
    pd.DataFrame(dict(speaker=SPEAKERS, split=['test', 'test'] + ['train'] * 6)).to_csv(root/'splits.csv', index=False)
    return root

@pytest.fixture
def pool(tmp_path): return make_pool(tmp_path/'pool')

def ids_of(pool): return pool_rows(pool).clip_id.tolist()

def run_py(code, **kw):
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True, text=True, timeout=120, **kw)

def test_cli_import_reports_bad_rows_and_keeps_the_rest(pool, tmp_path):
    ids = ids_of(pool)
    pd.DataFrame(dict(clip_id=ids[:3] + ['nope'], label=['angry', 'joy', 'meh', 'sad'])).to_csv(tmp_path/'a.csv', index=False)
    args = ['import', str(pool), str(tmp_path/'a.csv'), '--annotator', 'ann']
    r = run_py(f"import sys; from tamil_ser.labeller import label_cli; sys.exit(label_cli({args!r}))")
    assert r.returncode == 1, r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 2 and 'Traceback' not in r.stderr
    assert "a.csv: row 4: unknown label 'meh'" in err[0] and "row 5: no clip 'nope'" in err[1]
    assert Votes(pool).table().set_index('clip_id').label.to_dict() == {ids[0]: 'angry', ids[1]: 'happy'}

def test_cli_errors_are_one_line(pool, tmp_path, capsys):
    (tmp_path/'bad.csv').write_text('who,what\n1,2\n')
    assert label_cli(['import', str(pool), str(tmp_path/'bad.csv'), '--annotator', 'x']) == 2
    assert label_cli(['export', str(tmp_path/'nopool'), '--out', str(tmp_path/'m.csv')]) == 2
    assert label_cli(['import', str(pool), str(tmp_path/'missing.csv'), '--annotator', 'x']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(l.startswith('tamil-ser label: error: ') for l in err), err
    assert 'bad.csv: needs a clip_id' in err[0] and 'no pool.csv' in err[1] and 'missing.csv: no such file' in err[2]

def test_import_killed_midway_leaves_all_or_nothing(pool, tmp_path):
    ids = ids_of(pool)
    Votes(pool).add(ids[0], 'ann', 'sad')
    big = pd.DataFrame(dict(clip_id=np.resize(ids, 4000), annotator=[f'a{i // len(ids)}' for i in range(4000)], label='angry'))
    big.to_csv(tmp_path/'big.csv', index=False)
    flag = tmp_path/'halfway'
    code = f"""
        import time
        from pathlib import Path
        import tamil_ser.votes as V
        from tamil_ser.labels import import_votes
        rows = V._vote_rows
        def slow(votes):
            for i, r in enumerate(rows(votes)):
                if i == 2000: Path({str(flag)!r}).touch(); time.sleep(60)
                yield r
        V._vote_rows = slow
        import_votes({str(pool)!r}, {str(tmp_path/'big.csv')!r})
    """
    p = subprocess.Popen([sys.executable, '-c', textwrap.dedent(code)])
    t = time.time()
    while not flag.exists() and time.time() - t < 60 and p.poll() is None: time.sleep(0.05)
    assert flag.exists(), 'the import never reached half-way'
    os.kill(p.pid, signal.SIGKILL); p.wait()
    v = Votes(pool)
    assert v.table()[['clip_id', 'annotator', 'label']].values.tolist() == [[ids[0], 'ann', 'sad']]   # none of it
    assert len(v.history()) == 0
    s = import_votes(pool, tmp_path/'big.csv')                                                          # all of it
    assert s['new'] == big.drop_duplicates(['clip_id', 'annotator']).shape[0] and len(Votes(pool)) == s['new'] + 1

def test_concurrent_writers_lose_nothing(pool):
    ids = ids_of(pool)
    code = """
        import sys
        from tamil_ser.votes import Votes
        v = Votes(sys.argv[1])
        for c in sys.argv[3:]: v.add(c, sys.argv[2], 'happy')
    """
    ps = [subprocess.Popen([sys.executable, '-c', textwrap.dedent(code), str(pool), f'ann{k}', *ids]) for k in range(3)]
    assert all(p.wait(120) == 0 for p in ps)
    t = Votes(pool).table()
    assert len(t) == 3 * len(ids) and t.groupby('annotator').size().tolist() == [len(ids)] * 3

def test_replaced_votes_go_to_history_and_reimport_changes_nothing(pool, tmp_path):
    ids = ids_of(pool)
    pd.DataFrame(dict(clip_id=ids[:5], label='sad')).to_csv(tmp_path/'v.csv', index=False)
    assert import_votes(pool, tmp_path/'v.csv', 'ann')['new'] == 5
    assert import_votes(pool, tmp_path/'v.csv', 'ann')['unchanged'] == 5
    pd.DataFrame(dict(clip_id=ids[:2], label='fear')).to_csv(tmp_path/'w.csv', index=False)
    assert import_votes(pool, tmp_path/'w.csv', 'ann')['changed'] == 2
    h = Votes(pool).history()
    assert sorted(h.clip_id) == sorted(ids[:2]) and set(h.label) == {'sad'} and set(h.reason) == {'replaced'}

def test_export_manifest(pool, tmp_path):
    ids, v = ids_of(pool), Votes(pool)
    for a, labs in {'a': ['angry', 'sad', 'happy', 'no_speech', 'other', 'fear'],
                    'b': ['angry', 'happy', 'happy', 'bad_audio', 'other', 'fear'],
                    'c': ['sad', 'fear', 'happy', 'happy', 'other', None]}.items():
        for cid, lab in zip(ids, labs):
            if lab: v.add(cid, a, lab)
    v.add(ids[-1], 'a', 'sad')                                   # the duplicate
    v.add(ids[7], 'a', 'neutral')                                # one vote only
    m = export_labels(pool, tmp_path/'out'/'field.csv', min_votes=2)
    s = m.attrs['summary']
    assert (s['ties'], s['unusable'], s['other'], s['duplicates'], s['few_votes']) == (1, 1, 1, 0, 2)
    got = m.set_index('clip_id')
    assert got.label.to_dict() == {ids[0]: 'angry', ids[2]: 'happy', ids[5]: 'fear'}
    assert got.loc[ids[0], ['votes', 'agreement', 'p_angry', 'p_sad']].tolist() == [3, 2/3, 2/3, 1/3]
    assert got.loc[ids[0], 'split'] == 'test' and got.loc[ids[2], 'split'] == 'train'      # s1 is a test speaker, s3 is not
    from tamil_ser.data import read_manifest
    back = read_manifest(tmp_path/'out'/'field.csv')
    assert all(Path(p).exists() for p in back.path) and {'accent', 'source', 'quality', 'p_fear'} <= set(back.columns)
    assert not pd.read_csv(tmp_path/'out'/'field.csv').path[0].startswith('/')               # relative to the CSV
    assert len(export_labels(pool, min_votes=1)) == 4                                        # + the single vote; the duplicate left out

def test_agreement_json_and_careless_rater(pool, tmp_path):
    ids, rng = ids_of(pool)[:30], np.random.default_rng(0)
    truth = rng.choice(ANSWERS[:5], len(ids))
    rows = []
    for a, p in [('good1', .9), ('good2', .9), ('careless', .2)]:
        rows += [dict(clip_id=c, annotator=a, label=t if rng.random() < p else rng.choice(ANSWERS[:5])) for c, t in zip(ids, truth)]
    pd.DataFrame(rows).to_csv(tmp_path/'v.csv', index=False)
    assert label_cli(['import', str(pool), str(tmp_path/'v.csv')]) == 0
    r = run_py(f"from tamil_ser.labeller import label_cli; label_cli(['agreement', {str(pool)!r}, '--json'])")
    a = json.loads(r.stdout)
    assert {'alpha', 'fleiss_kappa', 'pairs', 'per_annotator'} <= set(a) and a['fleiss_clips'] == 30 and a['fleiss_votes'] == 3
    assert a['per_annotator'][0]['annotator'] == 'careless' and a['per_annotator'][0]['agreement'] < 0.5
    assert len(a['pairs']) == 3 and all('confusion' in p for p in a['pairs'])
    import krippendorff
    assert 0 < a['alpha'] < 1
    empty = str(make_pool(tmp_path/'p2'))
    one = json.loads(run_py(f"from tamil_ser.labeller import label_cli; label_cli(['agreement', {empty!r}, '--json'])").stdout)
    assert one['alpha'] is None and one['votes'] == 0                 # NaN is null: still valid JSON

def test_splits_keep_test_speakers_and_edits(pool):
    rows = pool_rows(pool)
    rows.loc[len(rows)] = {**rows.iloc[0].to_dict(), 'speaker': 'newcomer', 'clip_id': 'x1', 'path': 'clips/b1/x1.flac'}
    rows.to_csv(pool/'pool.csv', index=False)
    s = field_splits(pool)
    assert s.speaker.tolist() == SPEAKERS + ['newcomer'] and s.split.tolist()[:2] == ['test', 'test']
    assert field_splits(pool, test_share=0.0).split.tolist()[:2] == ['test', 'test']      # once in test, stays there

def test_queue_random_and_disagreement_need_no_model(pool, tmp_path):
    ids, v = ids_of(pool), Votes(pool)
    q = queue(pool, n=100, strategy='random')
    spk, dup, quiet = set(q.speaker), ids[-1], ids[-2]
    assert not spk & {'s1', 's2'} and dup not in set(q.clip_id) and quiet not in set(q.clip_id)
    assert len(q) == 32 - 8 - 2                                                                # all the others
    for a, lab in [('a', 'sad'), ('b', 'happy')]: v.add(ids[2], a, lab)
    v.add(ids[3], 'a', 'sad'); v.add(ids[3], 'b', 'sad')
    for a, lab in [('a', 'sad'), ('b', 'sad'), ('c', 'fear')]: v.add(ids[4], a, lab)
    d = queue(pool, n=5, strategy='disagreement')
    assert d.clip_id.tolist() == [ids[2], ids[4]] and d.strategy.tolist() == ['disagreement'] * 2
    assert queue(pool, n=5, strategy='disagreement', annotator='c').clip_id.tolist() == [ids[2]]
    assert ids[2] not in set(queue(pool, n=100, strategy='random').clip_id)                    # voted clips are not offered again
    t = queue(pool, n=100, strategy='random', test=True)
    assert set(t.speaker) == {'s1', 's2'}
    assert queue_cli([str(pool), '--n', '3', '--strategy', 'margin']) == 2

@pytest.fixture(scope='module')
def model(tmp_path_factory):
    "An eGeMAPS probe trained on the bundled sample."
    from tamil_ser.sample import sample_manifest
    from tamil_ser.train import train
    out = tmp_path_factory.mktemp('run')
    train(sample_manifest(), backbone='egemaps', mode='probe', test=0, out=out, progress=False)
    return out/'model'

def test_queue_with_a_model_cli_and_label_studio(pool, model, tmp_path, monkeypatch):
    import tamil_ser.features as F
    monkeypatch.setattr(F, 'CACHE', tmp_path/'cache')
    assert queue_cli([str(pool), '--model', str(model), '--n', '12', '--out', str(tmp_path/'q.csv')]) == 0
    q = pd.read_csv(tmp_path/'q.csv')
    assert len(q) == 12 and q['rank'].tolist() == list(range(1, 13)) and not set(q.speaker) & {'s1', 's2'}
    assert (q.strategy == 'random').sum() == 1 and set(q.emotion) <= set(ANSWERS[:5]) and q.confidence.between(0.2, 1).all()
    assert all((tmp_path/p).exists() for p in q.path)
    for s in ['uncertainty', 'margin', 'diverse', 'balanced']:
        assert len(queue(pool, model, n=6, strategy=s, progress=False)) == 6
    assert len(list((tmp_path/'cache'/'pool-index').rglob('*.npy'))) == 22                      # the index by clip_id
    assert label_cli(['export', str(pool), '--format', 'labelstudio', '--model', str(model), '--out', str(tmp_path/'ls.json')]) == 0
    tasks = json.loads((tmp_path/'ls.json').read_text())
    assert len(tasks) == 31 and all(t['predictions'][0]['result'][0]['value']['choices'][0] in ANSWERS for t in tasks)
    assert '<Choices name="emotion" toName="audio"' in (tmp_path/'ls.xml').read_text()
    # Label Studio's export of those tasks, one annotated, comes back as votes
    tasks[0]['annotations'] = [dict(result=[dict(type='choices', from_name='emotion', to_name='audio', value=dict(choices=['sad']))],
                                    completed_by=dict(id=1, email='x@y.z'), lead_time=3.0)]
    (tmp_path/'back.json').write_text(json.dumps(tasks))
    assert label_cli(['import', str(pool), str(tmp_path/'back.json')]) == 0
    assert Votes(pool).table('labelstudio:x@y.z').clip_id.tolist() == [tasks[0]['data']['clip_id']]

def test_incoming_votes_from_collect(pool):
    ids = ids_of(pool)
    pd.DataFrame(dict(clip_id=ids[:2], annotator='corpus.csv', label=['anger', 'sadness'])).to_csv(pool/'incoming_votes.csv', index=False)
    m = export_labels(pool, verbose=False)
    assert m.set_index('clip_id').label.to_dict() == {ids[0]: 'angry', ids[1]: 'sad'}
    assert not (pool/'incoming_votes.csv').exists() and take_incoming(pool) is None

def test_labeller_undo_restores_a_replaced_vote_and_ignores_stale_clicks(pool):
    ids = ids_of(pool)
    Votes(pool).add(ids[5], 'ann', 'sad')
    q = pd.DataFrame(dict(clip_id=ids[4:8]))
    lab = Labeller(pool, 'ann', queue=q)
    assert lab.current == ids[4]                                      # ids[5] is already done: skipped
    lab._on_msg(lab, dict(kind='vote', clip_id=ids[4], label='angry', note='n', seconds=1.5), [])
    lab._on_msg(lab, dict(kind='vote', clip_id=ids[4], label='happy'), [])     # a second press for the same clip: ignored
    assert lab.current == ids[6] and Votes(pool).table('ann').set_index('clip_id').label.to_dict() == {ids[4]: 'angry', ids[5]: 'sad'}
    lab._on_msg(lab, dict(kind='undo'), [])
    assert lab.current == ids[4] and ids[4] not in set(Votes(pool).table('ann').clip_id)
    lab2 = Labeller(pool, 'ann2', queue=pd.DataFrame(dict(clip_id=[ids[5]])))
    Votes(pool).add(ids[5], 'ann2', 'fear')
    lab2.vote('happy')                                                # replaces fear...
    lab2.undo()                                                       # ...and undo brings fear back
    assert Votes(pool).table('ann2').label.tolist() == ['fear']
    assert lab2.progress['done_today'] == 1
    with pytest.raises(ValueError): Labeller(pool, '  ')

def ls_task(i, clip, *anns): return dict(id=i, data=dict(clip_id=clip), annotations=list(anns))
def ls_vote(label, user=1, **kw): return {'result': [dict(type='choices', value=dict(choices=[label]))], 'completed_by': user, **kw}

def test_import_reports_repeats_bad_times_durations_and_long_notes(pool, tmp_path):
    ids = ids_of(pool)
    tasks = [ls_task(1, ids[0], ls_vote('sad')), ls_task(2, ids[0], ls_vote('happy')),           # the same annotator twice
             ls_task(3, ids[1], ls_vote('angry', updated_at='2099-01-01T00:00:00Z')),
             ls_task(4, ids[2], ls_vote('fear', updated_at='not-a-date')),
             ls_task(5, ids[3], ls_vote('neutral', lead_time=-3)), ls_task(6, ids[4], ls_vote('sad', lead_time=float('inf')))]
    (tmp_path/'ls.json').write_text(json.dumps(tasks))
    r = subprocess.run([sys.executable, '-m', 'tamil_ser.cli', 'label', 'import', str(pool), str(tmp_path/'ls.json')],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 5 and all(l.startswith(f'tamil-ser label: {tmp_path/"ls.json"}: task ') for l in err), err
    assert 'task 1: labelstudio:1 voted for clip' in err[0] and 'again later (task 2)' in err[0]
    assert 'task 3: time' in err[1] and 'in the future' in err[1] and "task 4: time 'not-a-date'" in err[2]
    assert "task 5: seconds '-3" in err[3] and "task 6: seconds 'inf'" in err[4]
    assert '3 rows skipped; 2 rows changed' in r.stdout
    t = Votes(pool).table().set_index('clip_id')
    assert t.label.to_dict() == {ids[0]: 'happy', ids[3]: 'neutral', ids[4]: 'sad'} and t.seconds.isna().all()
    soon = (pd.Timestamp.now(tz='UTC') + pd.Timedelta(seconds=60)).isoformat()                  # within the clock skew
    pd.DataFrame(dict(clip_id=ids[5:7], label='sad', at=[soon, ''], note=['x' * 5_000_000, 'ok'])).to_csv(tmp_path/'n.csv', index=False)
    s = import_votes(pool, tmp_path/'n.csv', 'ann')
    assert (s['new'], s['bad']) == (2, []) and len(s['fixed']) == 1 and 'a note of 5000000 characters: cut to 2000' in s['fixed'][0]
    assert Votes(pool).table('ann').note.str.len().tolist() == [2000, 2]

@pytest.mark.parametrize('tasks, says', [
    ('"tasks"', 'a list of tasks was expected, not a str'), ('[1, 2]', 'task 1: not an object'),
    ('[{"id": 4, "annotations": {"a": 1}}]', 'task 4: `annotations` is not a list'),
    ('[{"data": [1]}]', '`data` is not an object'), ('[{"annotations": [{"result": "sad"}]}]', '`result` is not a list'),
    ('[{"annotations": [{"result": [{"type": "choices", "value": {"text": ["sad"]}}]}]}]', 'a choices result has no list of `choices`'),
    ('[{"annotations": [{"result": [{"type": "choices", "value": null}]}]}]', 'a choices result has no list of `choices`'),
    ('[{"annotations": [{"result": [7]}]}]', 'a `result` item is not an object'), ('{"annotations": [null]}', 'task 1: not an object')])
def test_label_studio_files_of_the_wrong_shape_are_one_line(pool, tmp_path, capsys, tasks, says):
    (tmp_path/'odd.json').write_text(tasks)
    assert label_cli(['import', str(pool), str(tmp_path/'odd.json')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f'tamil-ser label: error: {tmp_path/"odd.json"}: ') and says in err[0], err
    assert len(Votes(pool)) == 0

def test_label_studio_values_of_the_wrong_type_are_rows(pool, tmp_path):
    ids = ids_of(pool)
    tasks = [dict(id=1, data=dict(clip_id=ids[0])), dict(id=2, data=dict(clip_id=ids[0]), annotations=None),           # no votes yet
             ls_task(3, ids[0], ls_vote(3)), ls_task(4, 17, ls_vote('sad')), ls_task(5, ids[1], ls_vote('sad', user=dict(id=[1]))),
             ls_task(6, ids[2], ls_vote('sad', lead_time='long', updated_at=12))]
    (tmp_path/'v.json').write_text(json.dumps(tasks))
    s = import_votes(pool, tmp_path/'v.json')
    assert (s['rows'], s['new'], len(s['bad']), s['fixed']) == (4, 1, 3, [])
    assert "task 3: unknown label '3'" in s['bad'][0] and "task 4: no clip '17'" in s['bad'][1] and "task 6: time '12'" in s['bad'][2]

def test_the_app_refuses_bad_votes_and_says_why(pool):
    ids = ids_of(pool)
    lab = Labeller(pool, 'ann', queue=pd.DataFrame(dict(clip_id=ids[:3])))
    for msg, says in [(dict(note='x' * 5_000_000), 'at most 2000'), (dict(seconds=-1), "seconds '-1' is not a duration"),
                      (dict(seconds='soon'), "seconds 'soon'"), (dict(note=['x']), 'a note is text'),
                      (dict(label={'a': 1}), 'unknown label')]:
        lab._on_msg(lab, {'kind': 'vote', 'clip_id': ids[0], 'label': 'sad', **msg}, [])
        assert says in lab.message and lab.current == ids[0], (msg, lab.message)
    assert len(Votes(pool)) == 0
    lab._on_msg(lab, dict(kind='vote', clip_id=ids[0], label='sad', note='fine', seconds=2.0), [])
    assert lab.current == ids[1] and lab.message == '' and Votes(pool).table('ann').seconds.tolist() == [2.0]
