"Explore: counts against pandas, prosody on the sample and on bad files, plots as Figures and PNGs, and `AudioBrowser` driven from code."
import html, io
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt, numpy as np, pandas as pd, pytest, soundfile as sf
from matplotlib.figure import Figure
from conftest import BAD_FILES, SR, bad_file, fake_manifest, tone, wav
from tamil_ser.audio import load_audio
from tamil_ser.data import validate
from tamil_ser.explore import (FILTERS, AudioBrowser, clip_table, counts, fixed_length, outliers, plot_counts, plot_distributions,
                               plot_prosody, plot_spectrograms, prosody, prosody_table, spectrogram_png, thin_cells)
from tamil_ser.report import wav_bytes
from tamil_ser.sample import sample_manifest

@pytest.fixture(scope='module')
def sample(): return sample_manifest()

@pytest.fixture
def mixed(tmp_path):
    "A manifest of good clips in several formats and rates (one stereo 44.1 kHz), and one clip of each kind of bad file."
    rows = []
    for i, (lab, spk, acc, src) in enumerate([('angry', 'a', 'north', 'emota'), ('sad', 'a', 'north', 'movie'), ('sad', 'b', 'east', 'emota'),
                                              ('happy', 'b', 'east', 'movie'), ('fear', 'c', '', 'movie')]):
        p = tmp_path / f'c{i}.{["wav", "flac", "ogg"][i % 3]}'
        wav(p, 0.8, x=tone(0.8, f=180 + 40*i, seed=i)) if i != 3 else sf.write(p, np.stack([tone(0.8, 200, sr=44100)]*2, 1), 44100)
        rows.append(dict(path=str(p), label=lab, speaker=spk, accent=acc, source=src))
    rows += [dict(path=str(bad_file(tmp_path / 'bad' / k)), label='neutral', speaker='z', accent='east', source='movie') for k in BAD_FILES]
    return pd.DataFrame(rows)

# ---- counts ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('by', ['source', 'accent', 'gender', 'speaker', 'sentence'])
def test_counts_are_crosstabs(sample, by):
    pd.testing.assert_frame_equal(counts(sample, by), pd.crosstab(sample.label, sample[by]))

def test_counts_on_uneven_manifest():
    m = fake_manifest(n_spk=9, seed=3)
    for by in ['source', 'accent', 'speaker']:
        t = counts(m, by, margins=True)
        assert t.loc['total', 'total'] == len(m)
        want = pd.crosstab(m.label, m[by]).reindex(['angry', 'fear', 'happy', 'neutral', 'sad'], fill_value=0)
        pd.testing.assert_frame_equal(t.drop(index='total', columns='total'), want, check_names=False)

def test_thin_cells_finds_the_gap(sample):
    assert thin_cells(sample, 'accent').empty
    gap = sample.drop(sample.index[(sample.accent == 'north') & (sample.label == 'sad')][3:])
    assert thin_cells(gap, 'accent')[['label', 'accent']].values.tolist() == [['sad', 'north']]

# ---- clip table and plots ----------------------------------------------------------------------------------------------

def test_clip_table_is_validate_scan(mixed):
    t, v = clip_table(mixed, progress=False), validate(mixed, progress=False).clips
    pd.testing.assert_frame_equal(t, v)
    assert len(t) == len(mixed) and (t.error[:5] == '').all() and (t.error[5:] != '').all() and t.duration[5:].isna().all()

def test_plots_return_figures_and_save_png(sample, tmp_path):
    t = clip_table(sample, progress=False)
    pt = pd.DataFrame(dict(label=t.label, source=t.source, speaker=t.speaker, f0_median=150 + t.rms_db, f0_range=3.,
                           energy_db=t.rms_db, f0_rel=t.rms_db/5))
    figs = {'counts': lambda p: plot_counts(sample, ['source', 'speaker'], path=p), 'dist': lambda p: plot_distributions(t, path=p),
            'violin': lambda p: plot_distributions(t, ['duration'], kind='violin', path=p), 'prosody': lambda p: plot_prosody(pt, path=p),
            'spec': lambda p: plot_spectrograms(sample, n=2, path=p)}
    for k, f in figs.items():
        fig = f(tmp_path / 'plots' / f'{k}.png')
        assert isinstance(fig, Figure) and (tmp_path / 'plots' / f'{k}.png').read_bytes()[:4] == b'\x89PNG', k
    plt.close('all')

def test_spectrograms_survive_bad_clips(mixed):
    fig = plot_spectrograms(mixed, n=len(BAD_FILES))
    txt = ' '.join(tx.get_text().replace('\n', ' ') for a in fig.axes for tx in a.texts)
    assert 'not audio' in txt and 'empty' in txt
    plt.close(fig)

# ---- prosody -----------------------------------------------------------------------------------------------------------

def test_prosody_of_known_pitch():
    p = prosody(tone(1.0, f=220., amp=0.3))
    assert abs(p['f0_median'] - 220) < 3 and p['f0_range'] < 0.5 and p['voiced'] > 0.9
    assert np.isnan(prosody(np.zeros(SR, 'float32'))['f0_median'])

def test_prosody_table_on_sample(sample):
    m = sample[(sample.source == 'read') & (sample.sentence == 's01')]
    pt = prosody_table(m, progress=False)
    assert pt.path.tolist() == m.path.tolist() and pt.f0_median.notna().all() and (pt.error == '').all()
    g = pt.groupby('label').f0_median.median()
    assert g.angry > g.sad and g.happy > g.sad, g
    r = pt.pivot(index='speaker', columns='label', values='f0_rel')
    assert (r.angry > r.sad).all() and (r.happy > r.sad).all(), r

def test_prosody_table_keeps_bad_rows(mixed):
    pt = prosody_table(mixed, progress=False)
    assert len(pt) == len(mixed) and pt.path.tolist() == mixed.path.tolist()
    assert pt.f0_median[:5].notna().all() and pt.f0_median[5:].isna().all() and pt.f0_rel[5:].isna().all()
    for (k, (_, reason)), e in zip(BAD_FILES.items(), pt.error[5:]):
        assert e.startswith(str(mixed.path[5 + list(BAD_FILES).index(k)])) and pd.Series([e]).str.contains(reason, case=False)[0], e
    assert (pt.error[:5] == '').all()

# ---- AudioBrowser ------------------------------------------------------------------------------------------------------

def listed(b): return [v for _, v in b.clips.options]

def test_browser_filters_list_exactly_the_matching_rows(mixed):
    b = AudioBrowser(mixed)
    assert listed(b) == mixed.path.tolist() and b.clips.value == mixed.path[0]
    for filt in [dict(label='sad'), dict(source='movie'), dict(label='sad', accent='north'), dict(speaker='b', source='emota'), dict(accent='?')]:
        for c in FILTERS: getattr(b, c).value = 'all'
        for c, v in filt.items(): getattr(b, c).value = v
        keep = np.logical_and.reduce([mixed[c].replace('', '?') == v for c, v in filt.items()])
        assert listed(b) == mixed.path[keep].tolist() == b.rows.path.tolist(), filt
        assert b.count.value == f'{keep.sum()} of {len(mixed)} clips'
    for c in FILTERS: getattr(b, c).value = 'all'
    assert b.label.options == ('all', 'angry', 'fear', 'happy', 'neutral', 'sad') and b.accent.options == ('all', '?', 'east', 'north')

def test_browser_filters_narrow_each_other(mixed):
    "Choosing an accent offers only its speakers; a speaker no longer offered falls back to 'all'; the list never empties."
    b = AudioBrowser(mixed)
    b.accent.value = 'north'
    assert b.speaker.options == ('all', 'a') and listed(b) == mixed.path[mixed.accent == 'north'].tolist()
    b.speaker.value = 'a'
    b.accent.value = 'east'
    assert b.speaker.value == 'all' and b.speaker.options == ('all', 'b', 'z')
    b.accent.value, b.label.value = 'all', 'fear'
    assert b.source.options == ('all', 'movie') and b.accent.options == ('all', '?') and b.speaker.options == ('all', 'c')
    assert listed(b) == mixed.path[mixed.label == 'fear'].tolist()
    assert b.label.description == 'emotion'

@pytest.mark.parametrize('i', range(5))
def test_browser_plays_the_selected_clip(mixed, i):
    b = AudioBrowser(mixed.iloc[::-1])
    png = bytes(b.plot.value)
    b.select(mixed.path[i])
    assert b.path == b.clips.value == mixed.path[i] and b.error == ''
    y, sr = sf.read(io.BytesIO(bytes(b.audio.value)), dtype='float32')
    x = load_audio(mixed.path[i])
    assert sr == SR and y.shape == x.shape and np.abs(y - x).max() < 1e-3
    assert bytes(b.plot.value)[:4] == b'\x89PNG' and bytes(b.plot.value) != png
    assert mixed.label[i] in b.info.value

@pytest.mark.parametrize('k', list(BAD_FILES))
def test_browser_shows_errors_not_exceptions(mixed, k):
    b = AudioBrowser(mixed)
    p = str(mixed.path[5 + list(BAD_FILES).index(k)])
    b.select(p)
    assert b.path == p and b.error.startswith(p) and '\n' not in b.error
    assert html.escape(b.error) in b.info.value
    assert bytes(b.audio.value) == b'' and bytes(b.plot.value) == b''
    b.select(mixed.path[0]); assert b.error == '' and len(b.audio.value) > 0    # and the next clip plays

def test_browser_select_and_display(mixed):
    b = AudioBrowser(mixed)
    b.label.value = 'angry'
    b.select(mixed.path[2])                                          # hidden by the filter: filters cleared
    assert [getattr(b, c).value for c in FILTERS] == ['all'] * 4 and b.clips.value == mixed.path[2]
    with pytest.raises(ValueError, match='not in this manifest'): b.select('/nowhere.wav')
    assert 'tamil-ser-audio-browser' in b.box._dom_classes and 'tamil-ser-clip-list' in b.clips._dom_classes
    assert 'tamil-ser-audio' in b.audio._dom_classes and 'application/vnd.jupyter.widget-view+json' in b._repr_mimebundle_()

def test_browser_minimal_and_empty_manifests(tmp_path):
    p = wav(tmp_path / 'a.wav', 0.5)
    b = AudioBrowser(pd.DataFrame(dict(path=[str(p)], label=['sad'])))
    assert [getattr(b, c).disabled for c in FILTERS] == [False, True, True, True] and b.path == str(p)
    e = AudioBrowser(pd.DataFrame(dict(path=[], label=[])))
    assert listed(e) == [] and e.path is None and e.count.value == '0 of 0 clips'
    assert e.audio.layout.display == e.plot.layout.display == 'none' and 'no clips' in e.info.value   # no dead player, no broken image
    assert b.audio.layout.display is None and b.plot.layout.display is None

def test_wav_bytes_round_trip():
    x = tone(0.5, 330.)
    y, sr = sf.read(io.BytesIO(wav_bytes(x)), dtype='float32')
    assert sr == SR and np.abs(y - x).max() < 1e-3

def test_fixed_length_and_outliers(tmp_path):
    paths = [wav(tmp_path/f'c{i}.wav', sec) for i, sec in enumerate([2.0]*6 + [1.2, 2.7])]
    t = clip_table(pd.DataFrame(dict(path=map(str, paths), label='sad', speaker=list('aaaabbbc'))), progress=False)
    assert fixed_length(t) == dict(duration=2.0, clips=6, share=0.75) and fixed_length(t.iloc[6:]) is None
    t = t.assign(rms_db=[-20.]*7 + [-60.])
    o = outliers(t, ['rms_db'], by=None)
    assert o['clip'].tolist() == ['c7.wav'] and o.speaker.tolist() == ['c'] and o.value.tolist() == [-60.]
    fig = plot_distributions(t, ['rms_db'], by=None)
    assert any('c: c7' in tx.get_text() for tx in fig.axes[0].texts)   # the outlier is named on the plot
    plt.close(fig)

def test_spectrogram_png_is_small_and_fast():
    png = spectrogram_png(tone(3.0))
    assert png[:4] == b'\x89PNG' and len(png) < 60_000
