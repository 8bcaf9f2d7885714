"Readers: a fake EmoTa tree, folder-per-emotion trees, seed-style manifests, and `read_data` combining them."
import os
from pathlib import Path
import pytest
from conftest import wav
from tamil_ser.data import data_kind, read_data, read_emota, read_folders, read_manifest

CODES = dict(ang='angry', fea='fear', hap='happy', neu='neutral', sad='sad')
SPKS, SENTS = ['01', '3', '09', '16', '19'], ['1', '07', '18']
STRAY = {'notes.txt': 'name does not fit', 'sad/final_take.wav': 'name does not fit',
         'angry/19_05_sad.wav': 'folder says angry but the name says sad', 'happy/3_02_xyz.wav': "unknown emotion code 'xyz'"}

def emota_tree(root, meta=None):
    "An EmoTa-style tree: every speaker x sentence x emotion, plus stray, hidden and misnamed files; `meta`: rows of speaker_details.csv."
    for s in SPKS:
        for t in SENTS:
            for c, e in CODES.items(): wav(root / e / f'{s}_{t}_{c}.wav', 0.3)
    for f in STRAY: wav(root / f, 0.3) if f.endswith('.wav') else (root / f).write_text('recorded in 2023\n')
    for f in ['.DS_Store', 'angry/.DS_Store']: (root / f).write_bytes(b'\0\1junk')
    if meta: (root / 'meta').mkdir(); (root / 'meta/speaker_details.csv').write_text('actor_id,age,gender,region\n' + ''.join(f'{",".join(r)}\n' for r in meta))
    return root

def expected_rows(root):
    "The manifest rows the tree should give: (path, label, speaker, sentence)."
    return sorted((str(root / e / f'{s}_{t}_{c}.wav'), e, s.lstrip('0'), t.lstrip('0')) for s in SPKS for t in SENTS for c, e in CODES.items())

def rows(m, cols=('path', 'label', 'speaker', 'sentence')): return sorted(map(tuple, m[list(cols)].astype(str).to_numpy()))

def test_read_emota(tmp_path):
    sp = pytest.importorskip('emota_loader').SPEAKERS
    root = emota_tree(tmp_path / 'EmoTa')
    m = read_emota(root)
    assert rows(m) == expected_rows(root) and (m.source == 'emota').all()
    assert sorted(set(m.speaker), key=int) == ['1', '3', '9', '16', '19'] and set(m.sentence) == {'1', '7', '18'}
    assert m.label.value_counts().to_dict() == {e: len(SPKS) * len(SENTS) for e in CODES.values()}
    assert m.groupby('speaker').accent.first()[['1', '3', '9', '16']].tolist() == ['western', 'eastern', 'northern', 'central']
    for s, g in m.groupby('speaker'):  # every speaker's accent and gender is the package's, one value per speaker
        assert set(g.accent) == {sp[int(s)].region} and set(g.gender) == {sp[int(s)].gender}
    assert dict(m.attrs['skipped']).keys() == {str(root / f) for f in STRAY}
    for f, why in m.attrs['skipped']: assert STRAY[os.path.relpath(f, root)] in why
    assert not m.path.str.contains('DS_Store|notes|meta').any()
    assert data_kind(root) == 'emota'
    d = read_data(root)
    assert rows(d) == rows(m) and (d.source == 'emota').all()

@pytest.mark.parametrize('how', ['meta', 'arg'])
def test_read_emota_speaker_table(tmp_path, how):
    meta = [(s.zfill(2), str(20 + i), 'female' if i % 2 else 'male', f'region{i}') for i, s in enumerate(['1', '3', '9', '16', '19'])]
    if how == 'meta': m = read_emota(emota_tree(tmp_path / 'EmoTa', meta=meta))
    else:
        (tmp_path / 'who.csv').write_text('actor_id,age,gender,region\n' + ''.join(f'{",".join(r)}\n' for r in meta))
        m = read_emota(emota_tree(tmp_path / 'EmoTa'), speakers=tmp_path / 'who.csv')
    want = {s.lstrip('0'): (g, r, a) for s, a, g, r in meta}
    assert {s: (g.gender.iat[0], g.accent.iat[0], g.age.iat[0]) for s, g in m.groupby('speaker')} == want
    assert m.groupby('speaker')[['gender', 'accent']].nunique().max().max() == 1
    assert not m.path.str.contains('/meta/').any() and len(m) == len(expected_rows(tmp_path / 'EmoTa'))

def movies(root, key='name'):
    "A folder-per-emotion tree with alias folder names, an other emotion, a non-emotion folder and a non-audio file, and a speakers CSV."
    files = {'Anger/a1.wav': ('angry', 'A'), 'Anger/a2.wav': ('angry', 'B'), 'sadness/s1.wav': ('sad', 'A'),
             'sadness/deep/s2.flac': ('sad', ''), 'neu/n1.wav': ('neutral', 'C'), 'disgust/d1.wav': ('disgust', 'B')}
    for f in files: wav(root / f, 0.3)
    for f in ['credits/c1.wav', 'credits/c2.wav']: wav(root / f, 0.3)
    (root / 'Anger/poster.jpg').write_bytes(b'\xff\xd8\xff')
    csv = root.parent / f'{root.name}_who.csv'
    csv.write_text('file,speaker,gender\n' + ''.join(f'{Path(f).name if key == "name" else f},{s},{"male" if s == "B" else "female"}\n'
                                                   for f, (_, s) in files.items() if s))
    return {str(root / f): v for f, v in files.items()}, csv

@pytest.mark.parametrize('key', ['name', 'relpath'])
def test_read_folders(tmp_path, key):
    want, csv = movies(tmp_path / 'movies', key)
    m = read_folders(tmp_path / 'movies', source='movie', speakers=csv)
    assert dict(zip(m.path, zip(m.label, m.speaker.fillna('')))) == want and (m.source == 'movie').all()
    assert (m.gender.fillna('') == m.speaker.map({'A': 'female', 'B': 'male', 'C': 'female'}).fillna('')).all()
    assert dict(m.attrs['skipped']) == {str(tmp_path / 'movies/credits'): 'folder is not an emotion (2 files)',
                                         str(tmp_path / 'movies/Anger/poster.jpg'): 'not an audio file'}
    assert data_kind(tmp_path / 'movies') == 'folders'

def test_read_folders_mixed_keys(tmp_path):
    _, csv = movies(tmp_path / 'movies')
    csv.write_text('file,speaker\na1.wav,A\nsadness/s1.wav,B\n')
    m = read_folders(tmp_path / 'movies', speakers=csv).set_index('path').speaker
    assert (m[str(tmp_path / 'movies/Anger/a1.wav')], m[str(tmp_path / 'movies/sadness/s1.wav')]) == ('A', 'B')

def test_read_folders_dotdot_root(tmp_path):
    want, csv = movies(tmp_path / 'movies', 'relpath')
    (tmp_path / 'sub').mkdir()
    m = read_folders(tmp_path / 'sub/../movies', speakers=csv)
    assert (m.speaker.fillna('') != '').sum() == sum(1 for _, s in want.values() if s)

def test_read_data_combines(tmp_path):
    et = emota_tree(tmp_path / 'EmoTa')
    want, _ = movies(tmp_path / 'movies')
    wav(tmp_path / 'collected/clips/x1.wav', 0.3); wav(tmp_path / 'collected/clips/x2.wav', 0.3)
    (tmp_path / 'collected/train_dataset.csv').write_text('audio_path,label\nclips/x1.wav,Happiness\nclips/x2.wav,sad\n')
    (tmp_path / 'web.csv').write_text(f'path,label,source\n{tmp_path}/collected/clips/x1.wav,fear,youtube\n{tmp_path}/collected/clips/x2.wav,angry,\n')
    assert [data_kind(p) for p in [et, tmp_path / 'movies', tmp_path / 'collected/train_dataset.csv', tmp_path / 'web.csv']] == ['emota', 'folders', 'manifest', 'manifest']
    m = read_data(et, tmp_path / 'movies', tmp_path / 'collected/train_dataset.csv', tmp_path / 'web.csv')
    n_emota = len(expected_rows(et))
    assert m.source.tolist() == ['emota'] * n_emota + ['movies'] * len(want) + ['train_dataset'] * 2 + ['youtube', 'web']
    assert m.label.tolist()[-4:] == ['happy', 'sad', 'fear', 'angry'] and not m.isna().any().any()
    assert (m.speaker[n_emota:n_emota + len(want)] == '').all()  # no speakers CSV this time: nobody said who speaks in the movies
    assert len(m.attrs['skipped']) == len(STRAY) + 2
    assert set(read_data(tmp_path / 'movies', source='collected').source) == {'collected'}

def test_read_manifest(tmp_path):
    (tmp_path / 'data').mkdir()
    ab = tmp_path / 'elsewhere/b.wav'
    lines = [('clips/a.wav', 'Anger', '7', 'x'), (str(ab), ' HAP ', '8', ''), ('../up/c.wav', 'sadness', '7', 'y'),
             ('d.wav', 'Neutral', '9', ''), ('e.wav', 'fearful', '8', ''), ('f.wav', 'Disgust', '9', ''), ('g.wav', 'excited', '9', '')]
    csv = tmp_path / 'data/train_dataset.csv'
    csv.write_text('audio_path,label,speaker,Notes\n' + ''.join(','.join(r) + '\n' for r in lines))
    m = read_manifest(csv)
    assert list(m.columns) == ['path', 'label', 'speaker', 'notes']
    assert m.path.tolist() == [os.path.normpath(tmp_path / 'data' / p) if not os.path.isabs(p) else p for p, *_ in lines]
    assert m.path.tolist()[2] == str(tmp_path / 'up/c.wav')
    assert m.label.tolist() == ['angry', 'happy', 'sad', 'neutral', 'fear', 'disgust', 'excited']
    assert m.speaker.tolist() == [r[2] for r in lines] and m.notes.tolist() == [r[3] for r in lines]
    m2 = read_manifest(csv, source='seed', split='train')
    assert set(m2.source) == {'seed'} and set(m2.split) == {'train'}
    assert m2.drop(columns=['source', 'split']).equals(m)
    (tmp_path / 'data/m2.csv').write_text('path,label,split\na.wav,sad,test\nb.wav,sad,\n')
    assert read_manifest(tmp_path / 'data/m2.csv', split='train').split.tolist() == ['test', 'train']  # only blanks filled
