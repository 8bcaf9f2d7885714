"""The LiveMeter in a real browser: Voilà serves tests/browser/livemeter.ipynb on 127.0.0.1, Debian's headless Chromium (driven by
Playwright) captures a generated recording of sample clips through its fake microphone (`--use-file-for-fake-audio-capture`), the
widget streams the PCM to the kernel, and the utterances must come back as events on the page's timeline with the current emotion
and its scores. Needs `tools/browser-setup.sh`; skipped only without chromium."""
import os, re, subprocess, sys
from pathlib import Path
import numpy as np, pytest, soundfile as sf
from test_widgets_browser import ARGS, CHROMIUM, voila

HERE = Path(__file__).parent
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason='no chromium (run tools/browser-setup.sh, or set TAMIL_SER_CHROMIUM)')
EMOTION = re.compile(r'^(angry|fear|happy|neutral|sad|uncertain) [01]\.\d\d$')

def fake_mic_wav(path, n=4, seed=1):
    "Sample clips with 1.5 s of faint noise between them, as a 16 kHz 16-bit WAV (Chromium loops it); the number of clips."
    from tamil_ser.audio import SR, load_audio
    from tamil_ser.sample import sample_manifest
    rng, parts = np.random.default_rng(seed), []
    for p in sample_manifest().sample(n, random_state=seed).path:
        parts += [(rng.standard_normal(int(1.5 * SR)) * 1e-3).astype(np.float32), load_audio(p)]
    parts.append((rng.standard_normal(int(1.5 * SR)) * 1e-3).astype(np.float32))
    sf.write(path, np.concatenate(parts), SR, subtype='PCM_16')
    return n

@pytest.fixture(scope='module')
def served(tmp_path_factory):
    "Voilà serving livemeter.ipynb with an eGeMAPS probe trained on the sample; yields (url, fake microphone WAV, clips in it, log)."
    from tamil_ser.sample import sample_manifest
    from tamil_ser.train import train
    tmp = tmp_path_factory.mktemp('livemeter')
    train(sample_manifest(), backbone='egemaps', mode='probe', out=tmp/'run', progress=False)
    n = fake_mic_wav(tmp/'mic.wav')
    with voila(HERE/'livemeter.ipynb', tmp, TAMIL_SER_MODEL=str(tmp/'run'/'model')) as (url, log):
        yield url, tmp/'mic.wav', n, log

@pytest.fixture(scope='module')
def page(served, tmp_path_factory):
    "A headless Chromium page with a fake microphone playing the recording, showing the served LiveMeter."
    from playwright.sync_api import sync_playwright
    url, wav, _, log = served
    args = ARGS + ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', f'--use-file-for-fake-audio-capture={wav}',
                   '--autoplay-policy=no-user-gesture-required']
    with sync_playwright() as pw:
        profile = str(tmp_path_factory.mktemp('profile'))
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True, args=args)
        try:
            pg, errs = ctx.new_page(), []
            pg.on('console', lambda m: errs.append(m.text) if m.type == 'error' else None)
            pg.goto(url, wait_until='domcontentloaded', timeout=60_000)
            try: pg.wait_for_selector('.tamil-ser-livemeter .tamil-ser-live-start', timeout=60_000)
            except Exception:
                pytest.fail(f'the LiveMeter did not render; console errors: {errs[-5:]}\nvoila log:\n{log.read_text()[-3000:]}')
            pg.errs = errs
            yield pg
        finally: ctx.close()

def test_live_meter_hears_the_fake_microphone(served, page):
    _, _, n, log = served
    box = page.locator('.tamil-ser-livemeter')
    box.locator('.tamil-ser-live-start').click()
    try: page.wait_for_function('() => document.querySelectorAll(".tamil-ser-live-event").length >= 2', timeout=120_000)
    except Exception:
        pytest.fail(f"no utterance events; status {box.locator('.tamil-ser-status').inner_text()!r}, console errors {page.errs[-5:]}\n"
                    f"voila log:\n{log.read_text()[-3000:]}")
    assert box.locator('.tamil-ser-status').inner_text().startswith('listening (')
    now = box.locator('.tamil-ser-live-now').inner_text().strip()
    assert EMOTION.match(now), now
    widths = [float(w) for w in box.locator('.tamil-ser-live-bar').evaluate_all('bs => bs.map(b => parseFloat(b.style.width))')]
    assert len(widths) == 5 and abs(sum(widths) - 100) <= 3, widths          # the scores of the current event, in percent
    titles = box.locator('.tamil-ser-live-event').evaluate_all('es => es.map(e => e.title)')
    for t in titles:
        s, e, emo = re.match(r'^([\d.]+)-([\d.]+) s: (\w+) [01]\.\d\d$', t).groups()
        assert 0.5 < float(e) - float(s) < 4 and emo in ('angry', 'fear', 'happy', 'neutral', 'sad', 'uncertain'), t
    box.locator('.tamil-ser-live-stop').click()
    stopped = '() => document.querySelector(".tamil-ser-livemeter .tamil-ser-status").innerText.startsWith("stopped:")'
    page.wait_for_function(stopped, timeout=30_000)
    assert box.locator('.tamil-ser-live-start').is_enabled()
