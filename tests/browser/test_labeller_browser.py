"""The labelling app in a real browser: `tamil-ser label serve` (Voilà on 127.0.0.1) serves a pool, headless Debian Chromium driven by
Playwright opens the link with its token, labels three clips with the keys and one with a click, undoes the last, and exactly those
three votes are in SQLite; a speaker name that is HTML shows as text. Needs `tools/browser-setup.sh` (chromium, voila, playwright);
skipped only without chromium."""
import hashlib, os, re, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import numpy as np, pandas as pd, pytest, soundfile as sf

CHROMIUM = (os.environ.get('TAMIL_SER_CHROMIUM') or shutil.which('chromium')
            or ('/usr/bin/chromium' if Path('/usr/bin/chromium').exists() else None))
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason='chromium is not installed (run tools/browser-setup.sh, or set TAMIL_SER_CHROMIUM)')
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-proxy-server', '--autoplay-policy=no-user-gesture-required']
NOPROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
SPEAKER = '<img src=x onerror="window.pwned=1">spk'          # HTML in the pool: the page must show it as text

def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

def labeller_pool(root, n=6):
    "A pool of `n` one-second tones, one speaker, and the queue of all of them in pool order."
    root, rows = Path(root), []
    for i in range(n):
        x = (0.3 * np.sin(2 * np.pi * (200 + 40 * i) * np.arange(16000) / 16000)).astype('float32')
        cid = hashlib.blake2b(x.tobytes(), digest_size=8).hexdigest()
        (root/'clips'/'b1').mkdir(parents=True, exist_ok=True)
        sf.write(root/'clips'/'b1'/f'{cid}.flac', x, 16000)
        rows.append(dict(path=f'clips/b1/{cid}.flac', clip_id=cid, origin=f'r{i}.wav', start=0, end=1, source='field', speaker=SPEAKER,
                         accent='north', gender='', consent='c', batch='b1', collected_at='', duration=1, rms_db=-13, snr_db=30,
                         clipped=0, quality='', duplicate_of=''))
    t = pd.DataFrame(rows)
    t.to_csv(root/'pool.csv', index=False)
    t[['clip_id']].assign(emotion='sad', confidence=0.5).to_csv(root.parent/'queue.csv', index=False)
    return root, t.clip_id.tolist()

@pytest.fixture(scope='module')
def app(tmp_path_factory):
    "`tamil-ser label serve` on a free port; yields (url, pool, clip ids)."
    tmp = tmp_path_factory.mktemp('labeller')
    pool, ids = labeller_pool(tmp/'pool')
    port, log = free_port(), tmp/'serve.log'
    env = {**os.environ, 'JUPYTER_RUNTIME_DIR': str(tmp/'runtime'), 'HF_HUB_OFFLINE': '1'}
    args = ['serve', str(pool), '--annotator', 'meena', '--queue', str(tmp/'queue.csv'), '--port', str(port)]
    code = f'import sys; from tamil_ser.labeller import label_cli; sys.exit(label_cli({args!r}))'
    with open(log, 'w') as f:
        proc = subprocess.Popen([sys.executable, '-c', code], stdout=f, stderr=subprocess.STDOUT, env=env, cwd=tmp, start_new_session=True)
    try:
        t = time.time()
        while True:
            if proc.poll() is not None: pytest.fail(f'label serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}')
            link = re.search(rf'http://127\.0\.0\.1:{port}/\?token=[\w-]+', log.read_text())
            try:
                if link:
                    url = link.group(0)
                    NOPROXY.open(url, timeout=60)
                    break
            except OSError: pass
            if time.time() - t > 90: pytest.fail(f'label serve did not answer within 90 s:\n{log.read_text()[-3000:]}')
            time.sleep(0.3)
        assert '127.0.0.1' in log.read_text() and 'this machine only' in log.read_text()
        yield url, pool, ids
    finally:
        os.killpg(proc.pid, 15)
        try: proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()

def test_label_three_by_keys_one_by_click_undo_one(app, tmp_path):
    from playwright.sync_api import sync_playwright
    from tamil_ser.votes import Votes
    url, pool, ids = app
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(str(tmp_path/'profile'), executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = ctx.new_page()
            page.goto(url, wait_until='domcontentloaded', timeout=60_000)
            root = page.locator('.tamil-ser-labeller')
            root.wait_for(timeout=60_000)
            def on_clip(cid):
                js = ('c => { const r = document.querySelector(".tamil-ser-labeller"); '
                      'return r && r.dataset.clip === c && !r.dataset.busy; }')
                page.wait_for_function(js, arg=cid, timeout=20_000)
            on_clip(ids[0])
            assert page.locator('.tamil-ser-answer').count() == 8 and page.locator('.tamil-ser-guess').inner_text() == ''   # guess hidden
            page.wait_for_function('() => document.querySelector(".tamil-ser-labeller audio").src.startsWith("data:audio/wav")')
            for key, nxt in [('1', ids[1]), ('3', ids[2]), ('5', ids[3])]:     # angry, happy, sad by keyboard
                page.keyboard.press(key)
                on_clip(nxt)
            page.click('.tamil-ser-answer-neutral')                            # one by click
            on_clip(ids[4])
            page.click('.tamil-ser-undo')                                      # ...taken back
            on_clip(ids[3])
            assert 'left: 3' in page.locator('.tamil-ser-progress').inner_text()
            assert SPEAKER in page.locator('.tamil-ser-clip-info').inner_text() and page.evaluate('window.pwned') is None
        finally: ctx.close()
    got = Votes(pool).table('meena').set_index('clip_id').label.to_dict()
    assert got == {ids[0]: 'angry', ids[1]: 'happy', ids[2]: 'sad'}
    h = Votes(pool).history('meena')
    assert h[['clip_id', 'label', 'reason']].values.tolist() == [[ids[3], 'neutral', 'undone']]
