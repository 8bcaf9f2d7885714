"""The Recorder in a real browser: Voilà serves tests/browser/recorder.ipynb, Debian's headless Chromium (driven by
Playwright) takes its microphone from a WAV made here (`--use-file-for-fake-audio-capture`); the test ticks consent,
records, stops, saves, and finds the take's clip in the pool. Needs `tools/browser-setup.sh`; skipped only without chromium."""
import os, shutil, subprocess, sys, time
from pathlib import Path
import numpy as np, pytest, soundfile as sf, soxr
from test_widgets_browser import CHROMIUM, ARGS, voila

HERE = Path(__file__).parent
Q = 'document.querySelector'
ENABLED = 'sel => { const b = document.querySelector(sel); return b && !b.disabled; }'
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason='chromium is not installed (run tools/browser-setup.sh)')

@pytest.fixture(scope='module')
def speech(tmp_path_factory):
    "The fake microphone: one sample utterance between 1 s pauses, as a 48 kHz 16-bit WAV; (path, utterance at 16 kHz)."
    from tamil_ser.audio import load_audio
    from tamil_ser.sample import sample_manifest
    m = sample_manifest()
    x = load_audio(m.path[m.source == 'read'].iloc[0])
    gap = np.zeros(16000, np.float32)
    f = tmp_path_factory.mktemp('mic')/'mic.wav'
    sf.write(f, soxr.resample(np.concatenate([gap, x, gap]), 16000, 48000), 48000, subtype='PCM_16')
    return f, x

@pytest.fixture(scope='module')
def served(tmp_path_factory):
    "Voilà serving recorder.ipynb on 127.0.0.1 with an empty pool; yields (url, pool folder, log)."
    tmp = tmp_path_factory.mktemp('recorder')
    pool = tmp/'pool'
    with voila(HERE/'recorder.ipynb', tmp, TAMIL_SER_POOL=str(pool)) as (url, log):
        yield url, pool, log

def test_record_stop_save_lands_in_the_pool(served, speech, tmp_path):
    from playwright.sync_api import sync_playwright
    from tamil_ser.pool import Pool
    from tamil_ser.quality import clip_fingerprint, fingerprint_similarity
    url, pool, log = served
    mic, utterance = speech
    args = ARGS + ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
                   f'--use-file-for-fake-audio-capture={mic}', '--autoplay-policy=no-user-gesture-required']
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(str(tmp_path/'profile'), executable_path=CHROMIUM, headless=True,
                                                    args=args)
        try:
            pg = ctx.new_page(); errs = []
            pg.on('console', lambda m: errs.append(m.text) if m.type == 'error' else None)
            pg.goto(url, wait_until='domcontentloaded', timeout=60_000)
            try: pg.wait_for_selector('.tamil-ser-recorder', timeout=60_000)
            except Exception:
                pytest.fail(f'the Recorder did not render; console errors: {errs[-5:]}\n{log.read_text()[-3000:]}')
            rec = pg.locator('.tamil-ser-recorder .tamil-ser-record')
            assert rec.is_disabled(), 'recording must wait for consent'
            assert 'Prompt 1 of 2' in pg.locator('.tamil-ser-prompt').inner_text()
            pg.locator('.tamil-ser-recorder .tamil-ser-consent').check()
            pg.wait_for_function(ENABLED, arg='.tamil-ser-record', timeout=15_000)
            rec.click()
            pg.wait_for_function(ENABLED, arg='.tamil-ser-stop', timeout=15_000)
            meter = f'() => parseFloat({Q}(".tamil-ser-meter").dataset.db) > -40'     # the level meter moves
            pg.wait_for_function(meter, timeout=15_000)
            time.sleep(3.5)
            pg.locator('.tamil-ser-recorder .tamil-ser-stop').click()
            pg.wait_for_function(ENABLED, arg='.tamil-ser-save', timeout=30_000)
            pg.locator('.tamil-ser-recorder .tamil-ser-save').click()
            pg.wait_for_function(f'() => {Q}(".tamil-ser-status").textContent.startsWith("saved")', timeout=60_000)
            assert 'Prompt 2 of 2' in pg.locator('.tamil-ser-prompt').inner_text()
        finally: ctx.close()
    t = Pool(pool).table
    assert len(t) >= 1, log.read_text()[-2000:]
    assert set(t.speaker) == {'browser-test'} and set(t.consent) == {'cv-test-1'} and set(t.source) == {'recorder'}
    assert t.origin.str.startswith('recorder/').all()
    assert set(t.prompt) == {'நான் கடைக்குப் போகிறேன்'}                       # the first prompt, shown during the take
    fp = clip_fingerprint(utterance)
    best = max(fingerprint_similarity(fp, clip_fingerprint(Pool(pool).audio(c))) for c in t.clip_id)
    print(f'{len(t)} clips; best similarity to the played utterance {best:.3f}')
    assert best > 0.8, 'the saved clip should be the utterance the fake microphone played'
