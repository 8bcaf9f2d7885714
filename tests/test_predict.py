"Prediction on bad input, model discovery and its errors, and the fast ONNX path on models the tutorial does not show."
import os, re, warnings
import numpy as np, pandas as pd, pytest, torch
from conftest import BAD_FILES, SR, bad_file, tone, wav
from transformers import AutoFeatureExtractor
from tamil_ser.audio import AudioError
from tamil_ser.data import EMOTIONS
from tamil_ser.features import embed, tiny_backbone
from tamil_ser.model import META, FinetunedModel, ProbeHead, ProbeModel, hf_classifier
from tamil_ser import predict as P
from tamil_ser.predict import ModelNotFoundError, fast_model, find_model, get_model, predict_batch, predict_emotion, predict_long

def tiny_bundle(folder, mask=False, seed=0):
    "A fine-tuned bundle on the tiny backbone (random head, seeded)."
    torch.manual_seed(seed)
    fe = AutoFeatureExtractor.from_pretrained(tiny_backbone(), return_attention_mask=mask)
    return FinetunedModel(hf_classifier('tiny'), fe, dict(backbone='tiny', mode='finetune', labels=EMOTIONS, max_seconds=3.0)).save(folder)

@pytest.fixture(scope='module')
def bundle(tmp_path_factory): return tiny_bundle(tmp_path_factory.mktemp('b')/'model')

@pytest.fixture(scope='module')
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp('good')
    return [wav(d/f'g{i}.wav', 1 + i/2) for i in range(4)]

def one_line(msg, name):
    assert '\n' not in msg and msg.startswith(f'{name}: '), msg

# ---- bad input ------------------------------------------------------------------------------------------------------

CASES = {'missing.wav': (lambda p: None, 'file not found'), 'folder.wav': (lambda p: p.mkdir(), 'is a directory'), **BAD_FILES}

@pytest.mark.parametrize('name', CASES)
def test_batch_keeps_good_rows_around_each_bad_kind(tmp_path, bundle, good, name):
    p = tmp_path/name; CASES[name][0](p)
    df = predict_batch([good[0], p, good[1]], bundle, progress=False)
    assert list(df.path) == [str(good[0]), str(p), str(good[1])]
    assert list(df.error == '') == [True, False, True]
    one_line(df.error[1], p); assert re.search(CASES[name][1], df.error[1], re.I), df.error[1]
    assert df.loc[1, EMOTIONS].isna().all() and np.isnan(df.confidence[1]) and pd.isna(df.emotion[1])
    assert np.allclose(df.loc[[0, 2], EMOTIONS].sum(axis=1), 1, atol=1e-5)

@pytest.mark.parametrize('name', CASES)
def test_predict_emotion_raises_one_line(tmp_path, bundle, name):
    p = tmp_path/name; CASES[name][0](p)
    with pytest.raises(AudioError) as e: predict_emotion(p, bundle)
    one_line(str(e.value), p); assert re.search(CASES[name][1], str(e.value), re.I)

def test_batch_all_bad_and_empty(tmp_path, bundle):
    bad = [bad_file(tmp_path/n) for n in BAD_FILES]
    df = predict_batch(bad, bundle, progress=False)
    assert len(df) == len(bad) and (df.error != '').all() and df[EMOTIONS].isna().all().all()
    e = predict_batch([], bundle, progress=False)
    assert len(e) == 0 and list(e.columns) == ['path', 'emotion', 'confidence'] + EMOTIONS + ['error']

def test_batch_many_in_order_across_chunks(tmp_path, bundle):
    "More files than one read-ahead window and one model chunk, bad ones sprinkled in: rows stay in input order."
    paths = [wav(tmp_path/f'c{i:03d}.wav', 0.5 + (i % 7)/4) if i % 9 else bad_file(tmp_path/f'c{i:03d}.wav', 'text.wav') for i in range(150)]
    df = predict_batch(paths, bundle, batch_size=4, progress=False)
    assert list(df.path) == list(map(str, paths))
    assert [i for i in range(150) if df.error[i]] == list(range(0, 150, 9))
    ref = predict_emotion(paths[100], bundle)['scores']
    assert np.allclose(df.loc[100, EMOTIONS].to_numpy(float), [ref[e] for e in EMOTIONS], atol=1e-5)

def test_batch_inputs(tmp_path, bundle, good):
    m = pd.DataFrame(dict(path=list(map(str, good)), label='angry'))
    assert list(predict_batch(m, bundle, progress=False).path) == m.path.tolist()
    assert len(predict_batch(good[0], bundle, progress=False)) == 1

def test_predict_emotion_bad_arrays(bundle):
    with pytest.raises(AudioError, match='NaN'): predict_emotion(np.full(SR, np.nan, 'float32'), bundle)
    with pytest.raises(AudioError, match='shorter than'): predict_emotion(np.zeros(100, 'float32'), bundle)

# ---- which model ----------------------------------------------------------------------------------------------------

def test_no_model_message(tmp_path, monkeypatch, good):
    monkeypatch.delenv('TAMIL_SER_MODEL', raising=False); monkeypatch.chdir(tmp_path)
    for f in (lambda: predict_emotion(good[0]), lambda: predict_batch(good, progress=False), lambda: find_model()):
        with pytest.raises(ModelNotFoundError) as e: f()
        msg = str(e.value)
        assert '\n' not in msg and 'TAMIL_SER_MODEL' in msg and str(tmp_path/'ser_results') in msg, msg
        assert 'tamil-ser train DATA' in msg and 'tamil-ser demo' in msg, msg
    assert isinstance(e.value, FileNotFoundError)  # the CLI turns these into one line and exit status 2

def test_env_model_missing(tmp_path, monkeypatch, good):
    monkeypatch.setenv('TAMIL_SER_MODEL', str(tmp_path/'gone'))
    with pytest.raises(ModelNotFoundError, match=r'^\$TAMIL_SER_MODEL: .*gone'): predict_emotion(good[0])

def test_newest_bundle_in_cwd(tmp_path, monkeypatch, good):
    monkeypatch.delenv('TAMIL_SER_MODEL', raising=False); monkeypatch.chdir(tmp_path)
    a = tiny_bundle(tmp_path/'ser_results'/'a'/'model', seed=1)
    b = tiny_bundle(tmp_path/'ser_results'/'deep'/'b'/'model', seed=2)
    (tmp_path/'ser_results'/'notes').mkdir()
    os.utime(a/META, (1e9, 1e9))
    assert find_model() == str(b.relative_to(tmp_path))
    assert predict_emotion(good[0]) == predict_emotion(good[0], b)
    os.utime(b/META, (9e8, 9e8))
    assert find_model() == str(a.relative_to(tmp_path))

def test_model_cache_reloads_retrained_bundle(tmp_path, good):
    f = tiny_bundle(tmp_path/'m', seed=1)
    m1 = get_model(f)
    assert get_model(f) is m1
    tiny_bundle(f, seed=2); os.utime(f/META, ns=((f/META).stat().st_mtime_ns + 10**9,)*2)
    m2 = get_model(f)
    assert m2 is not m1 and predict_emotion(good[0], m2) != predict_emotion(good[0], m1)

def test_probe_bundle_predicts_without_caching(tmp_path, good, monkeypatch):
    clips = [tone(1.5, seed=i) for i in range(4)]
    pm = ProbeModel(ProbeHead(3, 32).fit_stats(embed(clips, 'tiny', cache=False, progress=False)), dict(backbone='tiny', mode='probe', labels=EMOTIONS, max_seconds=3.0))
    f = pm.save(tmp_path/'probe')
    called = []
    monkeypatch.setattr(P, 'embed', lambda *a, **kw: called.append(kw.get('cache')) or embed(*a, **kw))
    df = predict_batch(good, f, progress=False)
    assert (df.error == '').all() and np.allclose(df[EMOTIONS].sum(axis=1), 1, atol=1e-5) and called and set(called) == {False}
    assert np.allclose(df[EMOTIONS].to_numpy(), pm.predict_proba([P._clip(g) for g in good]), atol=1e-5)

# ---- long recordings ------------------------------------------------------------------------------------------------

def test_predict_long_resampled_and_windows(tmp_path, bundle):
    p = wav(tmp_path/'long8k.wav', 7.25, sr=8000)
    df = predict_long(p, window=2, hop=0.5, model=bundle)
    assert np.allclose(df.start, list(np.arange(0, 5.01, 0.5)) + [5.25]) and np.allclose(df.end - df.start, 2)
    assert df.end.iloc[-1] == 7.25 and np.allclose(df[EMOTIONS].sum(axis=1), 1, atol=1e-5)
    with pytest.raises(AudioError, match='file not found'): predict_long(tmp_path/'nope.wav', model=bundle)

# ---- fast path ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('mask', [False, True])
def test_fast_path_agrees(tmp_path, good, mask):
    pytest.importorskip('onnxruntime')
    f = tiny_bundle(tmp_path/'m', mask=mask, seed=3)
    ex = predict_batch(good, f, progress=False)
    for b, eps in [('onnx', 1e-5), ('int8', 1e-2)]:
        fb = predict_batch(good, f, progress=False, backend=b)
        assert np.abs(fb[EMOTIONS].to_numpy() - ex[EMOTIONS].to_numpy()).max() < eps, b
    assert isinstance(fast_model(get_model(f), 'int8'), P.OnnxModel)

def test_fast_path_without_onnxruntime(bundle, good, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    m = get_model(bundle); m.__dict__.pop('_fast', None)
    with pytest.warns(UserWarning, match=r'pip install "tamil-ser\[fast\]"'): fm = fast_model(m, 'int8')
    assert fm is m
    with warnings.catch_warnings(): warnings.simplefilter('ignore'); df = predict_batch(good, bundle, progress=False, backend='int8')
    assert (df.error == '').all()
