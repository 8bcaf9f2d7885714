"Reports: seen and unseen speakers in metrics, groups and the page; the header; players in the error table; the report module stays light."
import base64, io, json, re, subprocess, sys
import matplotlib
matplotlib.use('Agg')
import numpy as np, pandas as pd, pytest, soundfile as sf
from conftest import EMOS, wav
from tamil_ser.evaluate import group_metrics, report, run_report, split_metrics, transfer_cli
from tamil_ser.report import SAMPLE_NOTE, data_summary, predictions, read_run, report_header, write_run

def table(tmp_path, n_spk=6, per=10, seen=('s0', 's1'), seed=0):
    "A predictions table on generated clips: speakers s0..; seen speakers always right, the others right 60% of the time."
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_spk):
        for i in range(per):
            lab = EMOS[i % 5]
            rows.append(dict(path=str(wav(tmp_path/f's{s}_{i}.wav', 0.6 + 0.1*(i % 4))), label=lab, speaker=f's{s}',
                             gender='female' if s in (0, 1, 4, 5) else 'male', source='gen', seen=f's{s}' in seen))
    m = pd.DataFrame(rows)
    right = m.seen | (rng.random(len(m)) < 0.6)
    target = np.where(right, m.label.map(EMOS.index), rng.integers(0, 5, len(m)))
    P = rng.dirichlet(np.ones(5), len(m))
    P[np.arange(len(m)), target] += 2
    return predictions(m, P / P.sum(1, keepdims=True))

@pytest.fixture
def pred(tmp_path): return table(tmp_path)

def test_split_metrics_unseen_is_the_unseen_clips(pred):
    met = split_metrics(pred)
    u = pred[~pred.seen]
    assert met['unseen']['n'] == len(u) and met['unseen']['speakers'] == ['s2', 's3', 's4', 's5']
    want = np.mean([(u[u.label == l].pred == l).mean() for l in EMOS])
    assert abs(met['unseen']['uar'] - want) < 1e-9 and met['uar'] > met['unseen']['uar']
    assert met['unseen']['uar_ci'][0] <= met['unseen']['uar'] <= met['unseen']['uar_ci'][1]
    assert abs(met['seen_share'] - 1/3) < 1e-9
    none = split_metrics(pred.assign(seen=True))['unseen']
    assert none['n'] == 0 and none['uar'] is None
    json.dumps(split_metrics(pred))     # metrics.json stays valid JSON

def test_seen_groups_marked_never_flagged_and_groups_measured_on_unseen(pred):
    gm = group_metrics(pred).set_index(['group', 'value'])
    for s in ('s0', 's1'): assert gm.loc[('speaker', s), 'seen'] and gm.loc[('speaker', s), 'flag'] == ''
    f = pred[(pred.gender == 'female') & ~pred.seen]
    assert gm.loc[('gender', 'female'), 'n'] == len(f) and not gm.loc[('gender', 'female'), 'seen']
    assert gm.loc[('all', 'unseen speakers'), 'n'] == (~pred.seen).sum()
    # a worse unseen speaker is flagged against the unseen reference, not against the flattering all-clip figure
    bad = pred.copy()
    i = bad.speaker == 's3'
    bad.loc[i, 'pred'] = bad.loc[i, 'label'].map({'angry': 'sad', 'sad': 'happy', 'happy': 'fear', 'fear': 'neutral', 'neutral': 'angry'})
    assert group_metrics(bad).set_index(['group', 'value']).loc[('speaker', 's3'), 'flag'] == 'worse'

def audio_srcs(page): return re.findall(r'<audio class="tamil-ser-report-audio"[^>]*src="data:audio/ogg;base64,([^"]+)"', page)

def test_report_banner_headline_errors_and_links(pred, tmp_path):
    out = write_run(tmp_path/'run', split_metrics(pred), pred)
    page = report(pred, split_metrics(pred), out, header=report_header(data_summary(pred, 'gen.csv'))).read_text()
    met = split_metrics(pred)
    assert 'class="banner"' in page and '33% of clips (20 of 60) come from 2 speaker(s) seen in training' in page
    assert f"Unseen speakers (4): UAR {met['unseen']['uar']:.3f} (95% CI {met['unseen']['uar_ci'][0]:.3f}" in page
    assert page.index('Unseen speakers') < page.index('All clips, including seen speakers')
    for f in ('predictions.csv', 'groups.csv', 'metrics.json'): assert f'href="{f}"' in page
    errors = pred[pred.label != pred.pred].sort_values('confidence', ascending=False)
    srcs = audio_srcs(page)
    assert len(srcs) == min(20, len(errors)) > 0
    x, sr = sf.read(io.BytesIO(base64.b64decode(srcs[0])), dtype='float32')     # the player holds the most confident error
    from tamil_ser.audio import load_audio
    y = load_audio(errors.path.iloc[0])
    assert sr == 16000 and abs(len(x) - len(y)) < 0.03*sr
    assert sum(len(s) for s in srcs) < 400_000                                     # small data URIs
    assert 'synthetic sample' not in page and 'gen.csv: 60 clips, 6 speakers' in page
    for cap in ('UAR (unweighted average recall)', 'ECE (expected calibration error)'): assert cap in page

def test_no_banner_without_seen_speakers(pred, tmp_path):
    p = pred.assign(seen=False)
    page = report(p, split_metrics(p), tmp_path/'r').read_text()
    assert 'class="banner"' not in page and 'Unseen speakers' not in page

def test_header_on_the_sample_and_run_report(tmp_path):
    from tamil_ser.report import mock_predictions
    from tamil_ser.sample import sample_manifest
    assert SAMPLE_NOTE in report_header(data_summary(sample_manifest()))
    p = mock_predictions(sample_manifest().iloc[::4])
    met = {**split_metrics(p), 'protocol': dict(folds=3, by='speaker', backbone='egemaps', mode='probe', norm='auto')}
    write_run(tmp_path/'cv', met, p)
    page = run_report(tmp_path/'cv').read_text()
    assert SAMPLE_NOTE in page and 'cross-validation, 3 folds by speaker' in page and 'egemaps · probe · normalisation auto' in page
    assert (tmp_path/'cv'/'groups.csv').exists() and read_run(tmp_path/'cv')[0]['protocol']['folds'] == 3

def test_report_module_is_light():
    code = 'import sys, tamil_ser.report; print(sorted(m for m in ("librosa", "ipywidgets", "torch") if m in sys.modules))'
    assert subprocess.run([sys.executable, '-c', code], capture_output=True, text=True).stdout.strip() == '[]'

def test_transfer_cli_errors_are_one_line(tmp_path, capsys):
    assert transfer_cli([str(tmp_path/'missing.csv'), '--out', str(tmp_path/'o')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('tamil-ser transfer: error:') and 'missing.csv' in err[0]
