"Speaker-, accent- and source-grouped splits and folds, and leakage checks, on manifests generated here."
import shutil
import pandas as pd, pytest, soundfile as sf
from conftest import EMOS, fake_manifest, wav
from tamil_ser.data import DataError, check_leakage, folds, split

pytestmark = pytest.mark.filterwarnings('ignore:The least populated class')
CASES = [(10, 1), (12, 7), (16, 0), (16, 3), (20, 5), (24, 11)]  # (speakers, seed)

def parts(s): return {k: s[s.split == k] for k in ['train', 'valid', 'test']}
def spk(d): return set(d.speaker)
def tol(m):
    "Tolerance of a held-out fraction: a group split moves whole speakers, so it can miss the target by up to one speaker's share of the clips (the largest)."
    return m.speaker.value_counts().max() / len(m)

@pytest.mark.parametrize('n,seed', CASES)
def test_speaker_split(n, seed):
    m = fake_manifest(n, seed)
    s = split(m, by='speaker', test=0.2, valid=0.1, seed=seed, verbose=False)
    assert len(s) == len(m) and (s.index == m.index).all() and s.drop(columns='split').equals(m)
    assert set(s.split) == {'train', 'valid', 'test'}  # every clip exactly one split, all three used
    p = parts(s)
    for a, b in [('train', 'test'), ('train', 'valid'), ('valid', 'test')]:
        assert check_leakage(p[a], p[b]).speaker == [] and not spk(p[a]) & spk(p[b]), (a, b)
    assert spk(p['train']) | spk(p['valid']) | spk(p['test']) == spk(m)
    assert abs(len(p['test']) / len(m) - 0.2) <= tol(m)
    assert abs(len(p['valid']) / len(m) - 0.1) <= tol(m)
    assert s.attrs['protocol']['split'] == 'speaker'

@pytest.mark.parametrize('n,seed', CASES)
def test_speaker_folds(n, seed):
    m, k = fake_manifest(n, seed), 5
    f = folds(m, k=k, by='speaker', seed=seed)
    assert len(f) == len(m) and f.fold.notna().all() and set(f.fold) == set(range(k))
    sets = [spk(f[f.fold == i]) for i in range(k)]
    assert sum(map(len, sets)) == len(spk(m)) == len(set.union(*sets))  # each speaker in exactly one fold
    for i in range(k):
        tr, te = f[f.fold != i], f[f.fold == i]
        assert check_leakage(tr, te).speaker == [] and not spk(tr) & spk(te)
        assert te.label.nunique() >= 3, f'fold {i} has labels {sorted(set(te.label))}'  # every fold has >= 2 speakers with >= 2 labels each
    assert abs(f.fold.value_counts(normalize=True) - 1 / k).max() <= 2 * tol(m)
    assert f.attrs['protocol'] == dict(folds=k, by='speaker', seed=seed)

@pytest.mark.parametrize('by,test,valid', [
    ('accent', 'northern', None), ('accent', ['northern', 'central'], None), ('accent', ('central',), 'eastern'),
    ('source', 'movie', None), ('source', ['emota'], None)])
def test_group_holdout(by, test, valid):
    m = fake_manifest(16, 2)
    s = split(m, by=by, test=test, valid=valid or 0.0, verbose=False)
    vals = {test} if isinstance(test, str) else set(test)
    assert (s.split == 'test').equals(m[by].isin(vals))
    if valid: assert (s.split == 'valid').equals(m[by] == valid)
    else: assert set(s.split) == {'train', 'test'}

@pytest.mark.parametrize('test', ['martian', ['northern', 'martian']])
def test_unknown_group_value(test):
    with pytest.raises(DataError, match='martian'): split(fake_manifest(), by='accent', test=test, verbose=False)

def test_random_split_leaks_speakers():
    m = fake_manifest(16, 4)
    r, s = (split(m, by=by, test=0.2, seed=0, verbose=False) for by in ('random', 'speaker'))
    pr, ps = parts(r), parts(s)
    shared = spk(pr['train']) & spk(pr['test'])
    assert shared and check_leakage(pr['train'], pr['test']).speaker == sorted(shared)
    assert check_leakage(ps['train'], ps['test']).speaker == []

@pytest.mark.parametrize('drop', [True, False])
def test_no_speaker_column(drop):
    m = fake_manifest(10, 0)
    m = m.drop(columns='speaker') if drop else m.assign(speaker='')
    with pytest.raises(DataError, match='speaker'): split(m, verbose=False)
    with pytest.raises(DataError, match='speaker'): folds(m)

def test_audio_leakage(tmp_path):
    a = wav(tmp_path / 'a.wav'); b = wav(tmp_path / 'b.wav')
    x, sr = sf.read(a, dtype='int16'); sf.write(tmp_path / 'copy_of_a.flac', x, sr)  # same samples, other name and format
    shutil.copy(a, tmp_path / 'renamed.wav')
    tr = pd.DataFrame(dict(path=[str(a), str(b)], label=['angry', 'sad'], speaker=['1', '2']))
    te = pd.DataFrame(dict(path=[str(tmp_path / n) for n in ['copy_of_a.flac', 'renamed.wav']] + [str(wav(tmp_path / 'c.wav'))],
                           label=['happy', 'fear', 'sad'], speaker=['3', '4', '5']))
    lk = check_leakage(tr, te, audio=True)
    assert lk.audio == [(str(a), te.path[0]), (str(a), te.path[1])] and lk.speaker == [] and lk
    assert check_leakage(tr, te).audio == [] and not check_leakage(tr, te)  # without audio=True nothing is read

def test_same_seed_same_split():
    m = fake_manifest(20, 9)
    assert split(m, seed=4, valid=0.1, verbose=False).split.equals(split(m, seed=4, valid=0.1, verbose=False).split)
    assert folds(m, seed=3).fold.equals(folds(m, seed=3).fold)

def test_other_seed_other_split():
    "Where speakers are interchangeable (same labels, same counts) the seed alone decides who is held out."
    m = pd.DataFrame([dict(path=f'{s}_{l}_{i}.wav', label=l, speaker=str(s)) for s in range(20) for l in EMOS for i in range(2)])
    tests = [frozenset(spk(parts(split(m, seed=s, verbose=False))['test'])) for s in range(5)]
    assert all(len(t) == 4 for t in tests) and len(set(tests)) > 1  # 5 seeds over C(20, 4) = 4845 sets

def test_seed_changes_split_on_uneven_speakers():
    m = fake_manifest(16, 0)
    tests = {frozenset(spk(parts(split(m, seed=s, verbose=False))['test'])) for s in range(10)}
    assert len(tests) > 1
