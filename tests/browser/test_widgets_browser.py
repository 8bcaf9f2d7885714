"""End to end in a real browser: Voilà serves tests/browser/widgets.ipynb (an ErrorBrowser and an AudioBrowser) on 127.0.0.1,
Debian's headless Chromium driven by Playwright clicks a confusion cell and must get an <audio> element playing exactly the
most confident clip of that cell. Needs `tools/browser-setup.sh` (chromium, voila, playwright); skipped only without chromium."""
import base64, contextlib, io, os, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import numpy as np, pytest, soundfile as sf

HERE = Path(__file__).parent
CHROMIUM = os.environ.get('TAMIL_SER_CHROMIUM') or shutil.which('chromium') or ('/usr/bin/chromium' if Path('/usr/bin/chromium').exists() else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason='chromium is not installed (run tools/browser-setup.sh, or set TAMIL_SER_CHROMIUM to a Chromium binary)')
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-proxy-server']
CELL = ('happy', 'angry')   # a confusion of the mock predictions with several clips

# the bytes behind an <audio> element's src (a blob: or data: URL), base64-encoded
FETCH = """async el => {
  const b = new Uint8Array(await (await fetch(el.src)).arrayBuffer());
  let s = ''; for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
  return btoa(s);
}"""

NOPROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # never send 127.0.0.1 through an http_proxy

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def wait_http(url, proc, log, secs=60):
    "Wait until `url` answers, failing with the server's log if it dies or takes longer than `secs`."
    t = time.time()
    while time.time() - t < secs:
        if proc.poll() is not None: pytest.fail(f'voila exited with {proc.returncode}:\n{log.read_text()[-3000:]}')
        try: NOPROXY.open(url, timeout=2); return
        except OSError: time.sleep(0.3)
    pytest.fail(f'voila did not answer {url} within {secs} s:\n{log.read_text()[-3000:]}')

@contextlib.contextmanager
def voila(notebook, tmp, **env):
    "Voilà serving `notebook` on a free port of 127.0.0.1 from folder `tmp`, with extra environment `env`; yields (url, log)."
    port, log = free_port(), tmp/'voila.log'
    env = {**os.environ, 'JUPYTER_RUNTIME_DIR': str(tmp/'runtime'), 'HF_HUB_OFFLINE': '1', **env}
    cmd = [sys.executable, '-m', 'voila', str(notebook), '--no-browser', f'--port={port}', '--Voila.ip=127.0.0.1',
           '--show_tracebacks=True', '--Voila.port_retries=0']
    with open(log, 'w') as f: proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    try:
        url = f'http://127.0.0.1:{port}/'
        wait_http(url, proc, log)
        yield url, log
    finally:
        proc.terminate()
        try: proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

@pytest.fixture(scope='module')
def served(tmp_path_factory):
    "Voilà serving widgets.ipynb on a free port of 127.0.0.1, with a predictions table made here; yields (url, predictions, server log)."
    from tamil_ser.report import mock_predictions
    from tamil_ser.sample import sample_manifest
    tmp = tmp_path_factory.mktemp('browser')
    pred = mock_predictions(sample_manifest(), seed=0)
    pred.to_csv(tmp/'predictions.csv', index=False)
    with voila(HERE/'widgets.ipynb', tmp, TAMIL_SER_PREDICTIONS=str(tmp/'predictions.csv')) as (url, log):
        yield url, pred, log

@pytest.fixture(scope='module')
def page(served, tmp_path_factory):
    "A page of headless Chromium (fresh profile) showing the served notebook once the ErrorBrowser has rendered."
    from playwright.sync_api import sync_playwright
    url, pred, log = served
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(str(tmp_path_factory.mktemp('profile')), executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            pg = ctx.new_page(); errs = []
            pg.on('console', lambda m: errs.append(m.text) if m.type == 'error' else None)
            pg.goto(url, wait_until='domcontentloaded', timeout=60_000)
            try: pg.wait_for_selector('.tamil-ser-error-browser .tamil-ser-cell', timeout=60_000)
            except Exception: pytest.fail(f'the ErrorBrowser did not render; console errors: {errs[-5:]}\nvoila log:\n{log.read_text()[-3000:]}')
            yield pg
        finally: ctx.close()

def decode(b): return sf.read(io.BytesIO(b), dtype='float32')

def test_error_browser_plays_the_clicked_cells_top_clip(served, page):
    from tamil_ser.audio import load_audio
    from tamil_ser.browse import cell_clips
    from tamil_ser.report import wav_bytes
    _, pred, _ = served
    want = cell_clips(pred, *CELL)
    assert len(want) >= 2, 'the mock predictions should confuse happy with angry a few times'
    page.click(f'.tamil-ser-cell-{CELL[0]}-{CELL[1]}')
    page.wait_for_function('n => document.querySelectorAll(".tamil-ser-error-clips .tamil-ser-clip").length === n', arg=min(len(want), 20), timeout=30_000)
    cards = page.locator('.tamil-ser-error-clips .tamil-ser-clip')
    assert Path(want.path.iloc[0]).name in cards.nth(0).inner_text()
    a = cards.nth(0).locator('audio.tamil-ser-audio')
    a.wait_for(timeout=15_000)
    page.wait_for_function('el => !!el.src', arg=a.element_handle(), timeout=15_000)
    got = base64.b64decode(a.evaluate(FETCH))
    assert got == wav_bytes(load_audio(want.path.iloc[0])), 'the <audio> of the first listed clip does not hold the most confident clip of the cell'
    x, sr = decode(got)
    assert sr == 16000 and np.allclose(x, load_audio(want.path.iloc[0]), atol=1e-3)
    # the browser itself can decode it: its duration is the clip's
    dur = page.wait_for_function('el => el.readyState >= 1 && isFinite(el.duration) ? el.duration : null', arg=a.element_handle(), timeout=15_000).json_value()
    assert abs(dur - len(x) / sr) < 0.05

def test_error_browser_filter_recounts_in_the_browser(served, page):
    _, pred, _ = served
    from tamil_ser.report import confusion
    acc = sorted(pred.accent.unique())[0]
    t, p = CELL
    page.locator('.tamil-ser-error-browser .tamil-ser-filter-accent select').select_option(acc)
    n = int(confusion(pred[pred.accent == acc], ['angry', 'fear', 'happy', 'neutral', 'sad']).loc[t, p])
    page.wait_for_function(f'n => document.querySelector(".tamil-ser-cell-{t}-{p}").innerText.trim() === String(n)', arg=n, timeout=15_000)
    page.wait_for_function('n => document.querySelectorAll(".tamil-ser-error-clips .tamil-ser-clip").length === n', arg=min(n, 20), timeout=15_000)
    page.locator('.tamil-ser-error-browser .tamil-ser-filter-accent select').select_option('all')

def test_audio_browser_renders_and_plays_a_clip(page):
    from tamil_ser.audio import load_audio
    from tamil_ser.sample import sample_manifest
    box = page.locator('.tamil-ser-audio-browser')
    box.wait_for(timeout=30_000)
    a = box.locator('audio.tamil-ser-audio')
    a.wait_for(state='attached', timeout=15_000)
    assert a.count() == 1
    sel, old = box.locator('.tamil-ser-clip-list select'), a.evaluate('el => el.src')
    sel.select_option(index=1)
    name = sel.evaluate('s => s.options[s.selectedIndex].text').replace('\xa0', ' ').split(' · ')[-1].strip()   # ipywidgets writes spaces as nbsp
    path = next((p for p in sample_manifest().path if p.endswith('/' + name)), None)
    assert path, f'option text {name!r}'
    page.wait_for_function('([el, old]) => el.src && el.src !== old', arg=[a.element_handle(), old], timeout=15_000)
    x, sr = decode(base64.b64decode(a.evaluate(FETCH)))
    assert sr == 16000 and np.allclose(x, load_audio(path), atol=1e-3), f'the AudioBrowser <audio> does not hold {name}'

def test_error_browser_shows_hint_totals_recall_and_uar(served, page):
    from tamil_ser.report import confusion
    _, pred, _ = served
    page.locator('.tamil-ser-error-browser .tamil-ser-filter-accent select').select_option('all')
    hint = page.locator('.tamil-ser-error-browser .tamil-ser-hint')
    assert 'Click a cell' in hint.inner_text()
    c = confusion(pred)
    for t in c.index:
        want = f'{c.loc[t, t] / c.loc[t].sum():.2f}'
        page.wait_for_function(f'w => document.querySelector(".tamil-ser-recall-{t}").innerText.trim() === w', arg=want, timeout=15_000)
        assert page.locator(f'.tamil-ser-total-{t}').inner_text().strip() == str(c.loc[t].sum())
    uar = np.mean([c.loc[t, t] / c.loc[t].sum() for t in c.index])
    assert f'UAR {uar:.3f}' in page.locator('.tamil-ser-error-browser .tamil-ser-uar').inner_text()

def test_report_error_table_plays_in_the_browser(served, page, tmp_path_factory):
    "The evaluation report's most confident errors carry players whose audio Chromium decodes to the clip's length."
    from tamil_ser.audio import load_audio
    from tamil_ser.evaluate import report, split_metrics
    _, pred, _ = served
    out = tmp_path_factory.mktemp('report')
    p = pred.assign(seen=pred.speaker == pred.speaker.iloc[0])
    html_path = report(p, split_metrics(p, n_boot=200), out)
    errors = p[p.label != p.pred].sort_values('confidence', ascending=False, kind='stable')
    pg = page.context.new_page()
    try:
        pg.goto(html_path.as_uri(), wait_until='load', timeout=30_000)
        players = pg.locator('table.tamil-ser-errors audio.tamil-ser-report-audio')
        assert players.count() == min(20, len(errors)) > 0
        first = players.nth(0).element_handle()
        pg.evaluate('el => { el.preload = "auto"; el.load(); }', first)
        dur = pg.wait_for_function('el => el.readyState >= 1 && isFinite(el.duration) ? el.duration : null', arg=first, timeout=15_000).json_value()
        assert abs(dur - min(len(load_audio(errors.path.iloc[0])) / 16000, 3.0)) < 0.1
        assert pg.locator('.banner').count() == 1 and 'seen in training' in pg.locator('.banner').inner_text()
    finally: pg.close()
