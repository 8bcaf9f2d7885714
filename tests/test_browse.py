"ErrorBrowser driven from code: counts, listed clips under every filter, the audio it holds, lazy decoding, caps, bad clips, odd tables."
import io
import numpy as np, pandas as pd, pytest, soundfile as sf
import ipywidgets as W
from conftest import EMOS, bad_file, wav
import tamil_ser.browse as E
from tamil_ser.audio import load_audio
from tamil_ser.browse import ErrorBrowser, cell_clips, read_predictions
from tamil_ser.report import confusion, mock_predictions, plot_confusion, predictions, row_shares, wav_bytes
from tamil_ser.sample import sample_manifest

@pytest.fixture(scope='module')
def pred(): return mock_predictions(sample_manifest(), seed=1)

def counts(eb): return {k: int(b.description) for k, b in eb.cells.items()}

def crosstab(d, labels=EMOS):
    ct = pd.crosstab(d.label, d.pred)
    return {(t, p): int(ct.at[t, p]) if t in ct.index and p in ct.columns else 0 for t in labels for p in labels}

def audio(card):
    "The play control (or error text) of a listed clip's card."
    return card.children[0].children[1]

def samples(b): x, sr = sf.read(io.BytesIO(b), dtype='float32'); assert sr == 16000; return x

def test_counts_are_the_crosstab(pred):
    eb = ErrorBrowser(pred)
    assert counts(eb) == crosstab(pred)
    assert eb.labels == EMOS and 'tamil-ser-error-browser' in eb._dom_classes
    assert all(f'tamil-ser-cell-{t}-{p}' in b._dom_classes for (t, p), b in eb.cells.items())

@pytest.mark.parametrize('flt', [{}, {'accent': 'east'}, {'source': 'dramatic'}, {'accent': 'north', 'gender': 'male'}, {'speaker': 'e2'}])
def test_every_cell_lists_exactly_its_clips_most_confident_first(pred, flt):
    eb = ErrorBrowser(pred, max_clips=1000)
    for g, v in flt.items(): eb.filters[g].value = v
    sub = pred[np.logical_and.reduce([pred[g] == v for g, v in flt.items()] or [np.ones(len(pred), bool)])]
    assert counts(eb) == crosstab(sub)
    for t in EMOS:
        for p in EMOS:
            eb.cells[t, p].click()   # the button's own click, as in a browser
            want = sub[(sub.label == t) & (sub.pred == p)].sort_values('confidence', ascending=False)
            assert list(eb.shown.path) == list(want.path) and list(eb.shown.index) == list(want.index)
            assert eb.shown.confidence.is_monotonic_decreasing and len(eb.clips.children) == len(want)
            assert eb.selected == (t, p) and 'tamil-ser-selected' in eb.cells[t, p]._dom_classes

def test_listed_audio_holds_the_clips(pred):
    eb = ErrorBrowser(pred)
    shown = eb.click('sad', 'neutral')
    assert len(shown) >= 2
    for card, path in zip(eb.clips.children, shown.path):
        a = audio(card)
        assert isinstance(a, W.Audio) and a.format == 'wav' and not a.autoplay and 'tamil-ser-audio' in a._dom_classes
        np.testing.assert_allclose(samples(a.value), load_audio(path), atol=1e-3)
        assert 'tamil-ser-clip' in card._dom_classes

def test_filter_change_updates_counts_and_list(pred):
    eb = ErrorBrowser(pred)
    eb.click('angry', 'angry'); before = counts(eb)
    eb.filters['source'].value = 'read'
    sub = pred[pred.source == 'read']
    assert counts(eb) == crosstab(sub) != before
    assert list(eb.shown.path) == list(cell_clips(sub, 'angry', 'angry').path[:20])
    assert set(eb.shown.source) == {'read'} and 'source read' in eb.note.value
    eb.filters['source'].value = 'all'
    assert counts(eb) == before

def test_empty_cell_under_filters(pred):
    eb = ErrorBrowser(pred)
    t, p = next(k for k, n in crosstab(pred[pred.speaker == 'n1']).items() if n == 0)
    eb.filters['speaker'].value = 'n1'
    assert len(eb.click(t, p)) == 0 and eb.clips.children == () and ': 0 clips' in eb.note.value

def test_decodes_only_listed_clips_and_caps_the_list(pred, monkeypatch):
    calls = []
    monkeypatch.setattr(E, 'load_audio', lambda p, **kw: calls.append(p) or load_audio(p, **kw))
    eb = ErrorBrowser(pred, max_clips=4)
    assert calls == []   # nothing decoded before a cell is chosen
    big = cell_clips(pred, 'angry', 'angry')
    assert len(big) > 8
    eb.click('angry', 'angry')
    assert calls == list(big.path[:4]) and len(eb.shown) == 4 and eb.more.layout.display is None and 'showing 4' in eb.note.value
    eb.more.click()
    assert list(eb.shown.path) == list(big.path[:8]) and len(eb.clips.children) == 8 and calls == list(big.path[:8])
    while eb.more.layout.display is None: eb.more.click()
    assert list(eb.shown.path) == list(big.path) and eb.more.layout.display == 'none'
    n = len(calls); eb.click('angry', 'angry')
    assert len(calls) == n   # decoded audio is kept

def test_unreadable_clip_shows_its_error(tmp_path):
    ok = wav(tmp_path/'ok.wav')
    d = pd.DataFrame(dict(path=[str(ok), str(bad_file(tmp_path/'text.wav')), str(tmp_path/'gone.wav')], label='sad', pred='sad', confidence=[0.9, 0.8, 0.7]))
    eb = ErrorBrowser(d)
    eb.click('sad', 'sad')
    a = [audio(c) for c in eb.clips.children]
    assert isinstance(a[0], W.Audio)
    assert 'tamil-ser-audio-error' in a[1]._dom_classes and 'not audio' in a[1].value and 'text.wav' in a[1].value
    assert 'file not found' in a[2].value
    assert eb.filters == {} and eb.labels == ['sad'] and counts(eb) == {('sad', 'sad'): 3}

def test_real_predictions_table_format(tmp_path):
    "The table `tamil_ser.report.predictions` writes (as train/crossval/evaluate do), from a CSV with missing groups and an extra label."
    m = sample_manifest().iloc[::8].reset_index(drop=True)
    P = np.random.default_rng(0).dirichlet(np.ones(5), len(m))
    pr = predictions(m, P)
    pr.loc[0, 'gender'] = None; pr.loc[1, 'label'] = 'calm'
    (tmp_path/'run').mkdir(); pr.to_csv(tmp_path/'run'/'predictions.csv', index=False)
    eb = ErrorBrowser(tmp_path/'run')
    assert eb.labels == EMOS + ['calm'] and counts(eb) == crosstab(pr, EMOS + ['calm'])
    assert '' in [v for _, v in eb.filters['gender'].options]   # clips without a gender can be picked out
    eb.filters['gender'].value = ''
    assert sum(counts(eb).values()) == 1
    eb.filters['gender'].value = 'all'
    t, p = pr.label[2], pr.pred[2]
    assert list(eb.click(t, p).path) == list(cell_clips(read_predictions(pr), t, p).path)

def test_bad_tables_and_cells(pred):
    with pytest.raises(ValueError, match=r'lacks column\(s\) confidence'): ErrorBrowser(pred.drop(columns='confidence'))
    with pytest.raises(FileNotFoundError, match='not found'): ErrorBrowser('/nonexistent/run')
    with pytest.raises(KeyError, match='no cell'): ErrorBrowser(pred).click('angry', 'calm')

def test_confusion_and_plot(pred):
    "One confusion matrix for reports and the browser: rows true, columns predicted; the plot shows its row shares and counts."
    c = confusion(pred)
    assert list(c.index) == list(c.columns) == EMOS and c.to_numpy().sum() == len(pred)
    assert (c.index.name, c.columns.name) == ('true', 'predicted')
    assert counts(ErrorBrowser(pred)) == {k: int(v) for k, v in c.stack().items()}
    ax = plot_confusion(pred)
    r = row_shares(c).to_numpy()
    assert [t.get_text() for t in ax.texts] == [f'{s:.2f}\n({n})' for s, n in zip(r.ravel(), c.to_numpy().ravel())]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ('predicted', 'true')
    import matplotlib.pyplot as plt; plt.close('all')

def test_totals_recall_and_uar_follow_the_filter(pred):
    eb = ErrorBrowser(pred)
    assert 'Click a cell' in eb.hint.value and 'tamil-ser-hint' in eb.hint._dom_classes
    for flt in [None, 'east', 'north']:
        eb.filters['accent'].value = flt or 'all'
        sub = pred if flt is None else pred[pred.accent == flt]
        rec = {t: (sub[sub.label == t].pred == t).mean() for t in EMOS}
        for t in EMOS:
            assert f'>{(sub.label == t).sum()}<' in eb.totals[t].value and f'>{rec[t]:.2f}<' in eb.recalls[t].value
        assert abs(eb.uar - np.mean(list(rec.values()))) < 1e-9 and f'UAR {eb.uar:.3f}</b> over {len(sub)} clips' in eb.summary.value

def test_cards_show_sentence_spectrogram_and_seen_badge(pred):
    d = pred.assign(seen=pred.speaker == pred.speaker[0])
    eb = ErrorBrowser(d)
    shown = eb.click(d.label[0], d.pred[0])
    for card, (_, r) in zip(eb.clips.children, shown.iterrows()):
        info, _, spec = card.children[0].children
        assert f'“{r.sentence}”' in info.value and ('seen in training' in info.value) == r.seen
        assert bytes(spec.value)[:4] == b'\x89PNG' and 'tamil-ser-spectrogram' in spec._dom_classes
    assert shown.seen.any()

def test_wav_bytes_match_load_audio(pred):
    p = pred.path[0]
    np.testing.assert_allclose(samples(wav_bytes(load_audio(p))), load_audio(p), atol=1e-3)
