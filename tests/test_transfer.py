"Issue 22 on generated data: the baseline beside every figure, inherited speaker decisions, long clips, --emotions."
import html, json, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest, soundfile as sf
from tamil_ser.audio import SR, load_audio
from tamil_ser.data import EMOTIONS
from tamil_ser.features import LONG_RULES, clip_windows
from tamil_ser.model import load_model
from tamil_ser.predict import predict_batch, probe_features
from tamil_ser.sample import SAMPLE_DIR, sample_manifest
from tamil_ser.settings import Settings, settings
from tamil_ser.scores import uar
from tamil_ser.probe import train_probe
from tamil_ser.train import BASELINE, crossval, train

CLI = str(Path(sys.executable).parent/'tamil-ser')
FOUR = ['angry', 'happy', 'neutral', 'sad']
def cli(*args): return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=900)

@pytest.fixture(scope='module')
def sm(): return sample_manifest()

@pytest.fixture(scope='module')
def bundle(sm, tmp_path_factory):
    "An eGeMAPS probe trained on every sample clip of the `read` source."
    out = tmp_path_factory.mktemp('run')/'run'
    return train(sm[sm.source == 'read'], backbone='egemaps', mode='probe', test=0, out=out, progress=False).path/'model'

# ---- 1. the baseline row --------------------------------------------------------------------------------------------

def test_transfer_cli_prints_and_writes_baseline(tmp_path):
    r = cli('transfer', SAMPLE_DIR, '--backbone', 'egemaps', '--no-within', '--adapt', 'source', '--out', tmp_path/'t', '--quiet')
    assert r.returncode == 0, r.stderr
    assert f'the baseline ({BASELINE})' in r.stdout and 'recipe minus baseline (UAR), adaptation source' in r.stdout, r.stdout
    t = pd.read_csv(tmp_path/'t'/'transfer.csv')
    assert sorted(t.adapt.unique()) == ['baseline', 'source']
    for (a, b), g in t.groupby(['train', 'test']):      # the baseline is on the same clips as the recipe
        assert g.set_index('adapt').n['baseline'] == g.set_index('adapt').n['source'], g
        assert 0 <= g.set_index('adapt').uar['baseline'] <= 1
    page = (tmp_path/'t'/'report.html').read_text()
    assert 'UAR, the baseline' in page and 'Recipe minus baseline, adaptation source' in page

def test_crossval_cli_baseline(tmp_path):
    r = cli('crossval', SAMPLE_DIR, '--backbone', 'egemaps', '--folds', '3', '--baseline', '--out', tmp_path/'cv', '-q')
    assert r.returncode == 0, r.stderr
    met = json.loads((tmp_path/'cv'/'metrics.json').read_text())
    b = met['baseline']
    assert b['n'] == met['n'] and len(b['fold_uar']) == 3 and b['uar_ci'][0] <= b['uar'] <= b['uar_ci'][1]
    assert f"baseline ({BASELINE}): UAR {b['uar']:.3f}" in r.stdout, r.stdout
    page = (tmp_path/'cv'/'report.html').read_text()
    assert html.escape(f"Baseline ({BASELINE}) on the same clips and features: UAR {b['uar']:.3f}") in page
    r = cli('crossval', SAMPLE_DIR, '--backbone', 'egemaps', '--folds', '3', '--out', tmp_path/'cv2', '-q')
    assert 'baseline' not in json.loads((tmp_path/'cv2'/'metrics.json').read_text())   # only when asked: it costs a fit per fold

# ---- 3. speaker normalisation by evidence ---------------------------------------------------------------------------

def toy(speakers, emotions_each, source, offset=3., clips=30, seed=0):
    "Features of generated speakers: each shows `emotions_each` emotions and has its own offset (the speaker's voice)."
    r, rows, X = np.random.default_rng(seed), [], []
    for s in speakers:
        off = r.normal(0, offset, 8)
        for j in range(clips):
            e = (int(s[1:]) + j % emotions_each) % 5
            rows.append(dict(speaker=s, source=source, label=EMOTIONS[e]))
            X.append(off + np.eye(8)[e] * 2 + r.normal(0, .7, 8))
    return pd.DataFrame(rows), np.array(X, np.float32)[:, None]

def test_inherited_speaker_decisions():
    (dl, Xl), (ds, Xs) = toy([f's{i}' for i in range(12)], 5, 'lab'), toy([f's{i}' for i in range(12, 24)], 1, 'scene', seed=1)
    d, X = pd.concat([dl, ds], ignore_index=True), np.concatenate([Xl, Xs])
    model, _ = train_probe(d, settings(backbone='egemaps', mode='probe'), X, np.arange(len(d)), [])
    assert model.meta['normalisation']['per_source'] == {'lab': 'speaker', 'scene': 'source'}
    assert model.source_head is not None                      # some speakers were z-scored alone: a head for the rest too
    (tl, Yl), (ts, Ys), (tf, Yf) = (toy([f's{i}' for i in r], k, src, seed=7) for r, k, src in
                                    ((range(30, 33), 5, 'lab'), (range(33, 36), 1, 'scene'), (range(36, 39), 5, 'field')))
    t, Y = pd.concat([tl, ts, tf], ignore_index=True), np.concatenate([Yl, Ys, Yf])
    _, alone, notes = model._normalised(Y, t.speaker.to_numpy(), t.source.to_numpy())
    assert alone.tolist() == (t.source == 'lab').tolist()     # lab speakers alone, as in training; scene and a new source not
    assert 'speaker ids not used (new source: field; by source in training: scene)' in notes
    forced = model._normalised(Y, t.speaker.to_numpy(), t.source.to_numpy(), alone=True)[1]
    assert forced.all()                                        # asked: every speaker alone

def test_speaker_ids_never_cost_on_confounded_speech(sm, tmp_path):
    "Each generated speaker keeps 1-2 emotions; crossval by accent with and without the speaker column: within 0.02 UAR."
    keep = []
    for i, (spk, g) in enumerate(sm.groupby('speaker')):
        keep.append(g[g.label.isin([EMOTIONS[i % 5], EMOTIONS[(i + 2) % 5]])])
    conf = pd.concat(keep, ignore_index=True)
    kw = dict(k=2, by='accent', backbone='egemaps', progress=False, report=False)
    with_ids = crossval(conf, out=tmp_path/'with', **kw)
    without = crossval(conf.drop(columns='speaker'), out=tmp_path/'without', **kw)
    assert with_ids.metrics['uar'] >= without.metrics['uar'] - 0.02, (with_ids.metrics['uar'], without.metrics['uar'])

def test_new_source_keeps_its_statistics(sm, bundle, tmp_path):
    "A field of one-emotion speakers, new to the model: the same scores with the speaker column as without, and the report says why."
    from tamil_ser.evaluate import evaluate
    field = sm[sm.source == 'dramatic'].assign(source='field')
    field = pd.concat([g[g.label == EMOTIONS[i % 5]] for i, (_, g) in enumerate(field.groupby('speaker'))], ignore_index=True)
    a = evaluate(bundle, field, progress=False)
    b = evaluate(bundle, field.drop(columns='speaker'), progress=False)
    assert np.allclose(a.predictions[EMOTIONS], b.predictions[EMOTIONS], atol=1e-6)
    assert 'speaker ids not used (new source: field)' in a.metrics['normalisation'], a.metrics['normalisation']

# ---- 4. long clips and --emotions -----------------------------------------------------------------------------------

def long_clip(sm, path) -> Path:
    "Three sample clips of one speaker and emotion joined with half-second pauses: a 7-10 s clip."
    g = sm[(sm.speaker == sm.speaker.iloc[0]) & (sm.label == 'sad')]
    pause = np.zeros(SR // 2, np.float32)
    sf.write(path, np.concatenate([np.concatenate([load_audio(p), pause]) for p in g.path[:3]]), SR)
    return path

def test_long_clips_scored_by_the_bundles_rule(sm, bundle, tmp_path):
    m = load_model(bundle)
    assert m.long_clips == Settings.long_clips and m.long_clips in LONG_RULES     # the default, recorded in the bundle
    p = long_clip(sm, tmp_path/'long.wav')
    wins, share = clip_windows(load_audio(p))
    P = m.proba_from_features(probe_features(m, wins))
    w = share if m.long_clips == 'speech' else np.ones(len(wins))
    want = (P * w[:, None]).sum(0) / w.sum() if m.long_clips != 'center' else None
    got = predict_batch([p], m, progress=False)
    if want is not None: assert np.allclose(got.loc[0, EMOTIONS].to_numpy(float), want, atol=1e-5)
    m.meta['long_clips'] = 'center'
    centre = predict_batch([p], m, progress=False).loc[0, EMOTIONS].to_numpy(float)
    assert not np.allclose(centre, got.loc[0, EMOTIONS].to_numpy(float), atol=1e-4)   # the rule matters on a long clip

def test_emotions_renormalise_cli(sm, bundle, tmp_path):
    r = cli('predict', bundle, sm.path.iloc[0], '--json', '--emotions', ','.join(FOUR))
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout.strip())
    assert set(row['scores']) == set(FOUR) and abs(sum(row['scores'].values()) - 1) < 1e-3 and row['emotion'] in FOUR
    full = json.loads(cli('predict', bundle, sm.path.iloc[0], '--json').stdout.strip())['scores']
    total = sum(full[e] for e in FOUR)
    assert all(abs(row['scores'][e] - full[e] / total) < 2e-3 for e in FOUR)
    r = cli('evaluate', bundle, SAMPLE_DIR, '--emotions', ','.join(FOUR), '--out', tmp_path/'ev', '-q')
    assert r.returncode == 0, r.stderr                          # fear clips left out by request are not 'unusable'
    met = json.loads((tmp_path/'ev'/'metrics.json').read_text())
    assert met['labels'] == FOUR and met['n'] == int((sm.label != 'fear').sum())
    assert set(pd.read_csv(tmp_path/'ev'/'predictions.csv').pred) <= set(FOUR)
    assert 'Decisions among angry, happy, neutral, sad only' in (tmp_path/'ev'/'report.html').read_text()
    r = cli('predict', bundle, sm.path.iloc[0], '--emotions', 'angry,sleepy')
    assert r.returncode == 2 and 'sleepy not among' in r.stderr and 'Traceback' not in r.stderr
