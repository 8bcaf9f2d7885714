"Bad input: unusable audio, broken manifests, and `tamil-ser validate` on datasets that mix good and bad clips."
import re
import numpy as np, pandas as pd, pytest
from conftest import BAD_FILES, SR, bad_file, cli, tone, wav
from tamil_ser.audio import AudioError, load_audio
from tamil_ser.data import DataError, read_manifest, validate

def check_error(e, name, reason):
    "An error message: one line, starting with the source's name, giving the reason."
    msg = str(e.value)
    assert isinstance(e.value, ValueError) and '\n' not in msg and msg.startswith(f'{name}: '), msg
    assert re.search(reason, msg, re.I), msg

# ---- load_audio -------------------------------------------------------------------------------------------------------

PATH_CASES = {'missing.wav': (lambda p: None, 'file not found'), 'folder.wav': (lambda p: p.mkdir(), 'is a directory'), **BAD_FILES}

@pytest.mark.parametrize('name', PATH_CASES)
def test_load_audio_bad_path(tmp_path, name):
    p = tmp_path / name
    PATH_CASES[name][0](p)
    for src in (p, str(p)):
        with pytest.raises(AudioError) as e: load_audio(src)
        check_error(e, p, PATH_CASES[name][1])

@pytest.mark.parametrize('src,kw,reason', [
    (b'RIFF not really a wave file' * 8, {}, 'not audio or corrupt'),
    (b'', {}, 'empty'),
    (np.where(np.arange(SR) == 5, np.nan, 0.1), dict(src_sr=SR), 'NaN'),
    (np.full(SR, np.inf, 'float32'), dict(src_sr=SR), 'infinite'),
    (np.zeros((2, 0), 'float32'), dict(src_sr=SR), 'no samples'),
    (tone(0.2), dict(src_sr=SR), r'0\.20 s, shorter than 0\.25'),
    (tone(1.0), {}, 'sample rate')], ids=['garbage-bytes', 'no-bytes', 'nan-array', 'inf-array', 'empty-array', 'short-array', 'no-src_sr'])
def test_load_audio_bad_input(src, kw, reason):
    with pytest.raises(AudioError) as e: load_audio(src, **kw)
    check_error(e, f'<{len(src)} bytes>' if isinstance(src, bytes) else '<ndarray>', reason)

def test_good_and_silent_audio_load(tmp_path):
    x = tone(1.0, sr=22050)
    y = load_audio(wav(tmp_path / 'a.wav', x=x, sr=22050))
    assert y.dtype == np.float32 and len(y) == SR and np.isfinite(y).all()
    assert len(load_audio(tone(0.25), src_sr=SR)) == SR // 4  # exactly the minimum is fine
    z = load_audio(wav(tmp_path / 'silent.wav', x=np.zeros(SR, 'float32')))
    assert len(z) == SR and not z.any()  # silence is not an AudioError ...
    r = validate(pd.DataFrame(dict(path=[str(tmp_path / n) for n in ['a.wav', 'silent.wav']], label=['sad', 'happy'])), progress=False)
    assert r.ok and r.problems[['path', 'severity', 'problem']].values.tolist() == [[str(tmp_path / 'silent.wav'), 'warning', 'silent']]  # ... but a warning

# ---- manifests --------------------------------------------------------------------------------------------------------

MANIFESTS = {  # name -> (content, or None for no file, or 'dir'), reason
    'no_label.csv': ('path,speaker\na.wav,1\n', 'no label column'),
    'no_path.csv': ('label,speaker\nangry,1\n', 'no path column'),
    'empty.csv': ('', 'empty file'),
    'header_only.csv': ('audio_path,label\n', 'no rows'),
    'latin1.csv': ('path,label\ncafé.wav,angry\n'.encode('latin-1'), 'not UTF-8'),
    'utf16.csv': ('path,label\na.wav,angry\n'.encode('utf-16'), 'not UTF-8'),
    'missing.csv': (None, 'file not found'),
    'folder.csv': ('dir', 'is a directory')}

def write_manifest(p, content):
    if content == 'dir': p.mkdir()
    elif content is not None: p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p

@pytest.mark.parametrize('name', MANIFESTS)
def test_read_manifest_bad(tmp_path, name):
    p = write_manifest(tmp_path / name, MANIFESTS[name][0])
    with pytest.raises(DataError) as e: read_manifest(p)
    check_error(e, p, MANIFESTS[name][1])

def test_not_utf8_names_the_byte(tmp_path):
    b = ('path,label\n' + ''.join(f'a{i}.wav,angry\n' for i in range(50)) + 'café.wav,sad\n').encode('latin-1')
    at = b.index('é'.encode('latin-1'))  # where the first non-UTF-8 byte is
    with pytest.raises(DataError, match=rf'\(line 52, byte {at}\)'): read_manifest(write_manifest(tmp_path / 'm.csv', b))

# ---- validate: what it flags ------------------------------------------------------------------------------------------

def test_validate_flags(tmp_path):
    a, b = tone(1, f=300), (tone(1, f=400) * 2**15).astype('int16')  # b as int16: WAV and FLAC store the same samples
    full = np.sign(tone(1, f=250)).astype('float32')  # square wave at full scale
    clips = [  # name, samples (None: a tone of its own), label, split
        ('a.wav', a, 'angry', 'train'), ('a_copy.wav', a, 'sad', 'train'),      # same audio, two labels
        ('b.wav', b, 'fear', 'train'), ('b_copy.flac', b, 'fear', 'test'),      # same audio, two splits
        ('c.wav', None, 'excited', 'train'), ('d.wav', None, 'disgust', 'train'),
        ('long.wav', tone(3, f=500), 'happy', 'train'), ('loud.wav', full, 'happy', 'train'),
        ('short.wav', tone(0.3, f=350), 'sad', 'train'), ('silent.wav', np.zeros(SR, 'float32'), 'neutral', 'train'),
        ('e.wav', tone(1, f=600), 'sad', 'train'), ('e_again.wav', tone(1, f=600), 'sad', 'train'), ('ok.wav', None, 'neutral', 'train')]
    for n, x, *_ in clips: wav(tmp_path / n, x=x)
    m = pd.DataFrame([dict(path=str(tmp_path / n), label=l, split=s) for n, _, l, s in clips])
    r = validate(m, max_seconds=2, progress=False)
    want = {('a.wav', 'error', 'same audio, different labels'), ('a_copy.wav', 'error', 'same audio, different labels'),
            ('b.wav', 'error', 'same audio in two splits'), ('b_copy.flac', 'error', 'same audio in two splits'),
            ('c.wav', 'warning', 'unknown label'), ('d.wav', 'warning', 'other emotion'), ('long.wav', 'warning', 'too long'),
            ('loud.wav', 'warning', 'clipping'), ('short.wav', 'warning', 'too short'), ('silent.wav', 'warning', 'silent'),
            ('e.wav', 'warning', 'duplicate audio'), ('e_again.wav', 'warning', 'duplicate audio')}
    got = {(p.split('/')[-1], s, k) for p, s, k in r.problems[['path', 'severity', 'problem']].values}
    assert got == want
    d = r.problems.set_index(r.problems.path.str.split('/').str[-1]).detail
    assert 'a_copy.wav (sad)' in d['a.wav'] and 'b.wav (fear)' in d['b_copy.flac'] and '3.0 s > 2' in d['long.wav']
    assert not r.ok and len(r.usable) == len(clips) - 4 and r.summary().startswith(f'{len(clips)} clips, {len(clips) - 4} usable, 4 with errors')
    r2 = validate(m.drop(columns='split'), max_seconds=2, progress=False)  # without a split column, b and b_copy are plain copies
    assert set(r2.problems.query("path.str.contains('/b')").problem) == {'duplicate audio'}

def test_validate_nothing_readable(tmp_path):
    m = pd.DataFrame(dict(path=[str(bad_file(tmp_path / 'text.wav')), str(tmp_path / 'missing.wav')], label=['angry', 'sad']))
    r = validate(m, progress=False)
    assert len(r.errors) == 2 and len(r.usable) == 0

# ---- the CLI ----------------------------------------------------------------------------------------------------------

def summary(out):
    "(clips, usable, with errors) from the summary line."
    return tuple(map(int, re.search(r'^(\d+) clips, (\d+) usable, (\d+) with errors', out, re.M).groups()))

def check_lines(out, bad, good):
    "Exactly one stdout line per bad file, `PATH: problem: detail`; no line names a good file."
    lines = out.splitlines()
    for p in bad:
        hits = [l for l in lines if str(p) in l]
        assert len(hits) == 1 and re.match(rf'{re.escape(str(p))}: [a-z ,]+: \S', hits[0]), (p, hits)
    assert not [l for l in lines for p in good if str(p) in l]

def no_traceback(r): assert 'Traceback' not in r.stdout + r.stderr, r.stderr

def test_cli_validate_folders(tmp_path):
    root = tmp_path / 'movies'
    good = [wav(root / e / f'{e}{i}.wav') for e in ['angry', 'sad'] for i in range(3)]
    bad = [bad_file(root / ['happy', 'fear'][i % 2] / n) for i, n in enumerate(BAD_FILES)]
    r = cli('validate', root)
    no_traceback(r)
    assert r.returncode == 1
    assert summary(r.stdout) == (len(good) + len(bad), len(good), len(bad))
    check_lines(r.stdout, bad, good)

def test_cli_validate_manifest(tmp_path):
    good = [wav(tmp_path / 'clips' / f'g{i}.wav') for i in range(4)]
    bad = [bad_file(tmp_path / 'bad' / n) for n in BAD_FILES] + [tmp_path / 'nowhere.wav', tmp_path / 'bad/folder.wav']
    bad[-1].mkdir()
    labels = ['angry', 'fear', 'happy', 'neutral', 'sad']
    (tmp_path / 'm.csv').write_text('audio_path,label\n' + ''.join(f'{p.relative_to(tmp_path)},{labels[i % 5]}\n' for i, p in enumerate(good + bad)))
    r = cli('validate', tmp_path / 'm.csv', '--out', tmp_path / 'report.csv')
    no_traceback(r)
    assert r.returncode == 1 and summary(r.stdout) == (len(good) + len(bad), len(good), len(bad))
    check_lines(r.stdout, bad, good)
    rep = pd.read_csv(tmp_path / 'report.csv', keep_default_na=False)
    assert sorted(rep.path) == sorted(map(str, good + bad))
    assert (rep.set_index('path').error.astype(bool) == rep.path.isin(map(str, bad)).values).all()

def test_cli_validate_clean(tmp_path):
    root = tmp_path / 'clean'
    good = [wav(root / e / f'{i}.wav') for e in ['Anger', 'neu', 'disgust'] for i in range(2)] + [wav(root / 'sad/quiet.wav', x=np.zeros(SR, 'float32'))]
    r = cli('validate', root, '-q')
    no_traceback(r)
    assert r.returncode == 0 and summary(r.stdout) == (len(good), len(good), 0) and r.stderr == ''
    assert not any(str(p) in r.stdout for p in good)  # warnings are not listed without --warnings
    r = cli('validate', root, '-q', '--warnings')
    assert r.returncode == 0 and {l.split(': ')[1] for l in r.stdout.splitlines() if l.startswith(str(root))} == {'other emotion', 'silent'}

@pytest.mark.parametrize('name', ['no_label.csv', 'latin1.csv', 'missing.csv', 'nowhere'])
def test_cli_broken_manifest(tmp_path, name):
    p = write_manifest(tmp_path / name, MANIFESTS.get(name, (None,))[0])
    r = cli('validate', p)
    no_traceback(r)
    assert r.returncode == 2 and r.stdout == ''
    assert len(r.stderr.splitlines()) == 1 and str(p) in r.stderr, r.stderr
