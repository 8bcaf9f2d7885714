"""`tamil-ser label serve` attacked as a web page, a local process and a careless user would: with a real HTTP client and a real
websocket client against a real server. A secret token in the printed link, the Host check against DNS rebinding, the Origin
check for websockets, no kernel without the token and idle kernels stopped, the annotator's name shown as text, a clean stop on
SIGTERM and SIGINT, and bad arguments refused in one line before anything starts."""
import asyncio, contextlib, hashlib, http.client, json, os, re, signal, socket, subprocess, sys, textwrap, time, uuid
from datetime import datetime, timezone
from pathlib import Path
import numpy as np, pandas as pd, psutil, pytest, soundfile as sf
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from tamil_ser.votes import Votes

EVIL = '<img src=x onerror=alert(1)>'          # the annotator's name, as a page would try to slip it in
IDLE = 12                                      # --idle-timeout of the test servers, in seconds

def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

def make_pool(root, n=4):
    "A pool of `n` one-second tones whose speaker and accent are HTML."
    root, rows = Path(root), []
    for i in range(n):
        x = (0.3 * np.sin(2 * np.pi * (200 + 40 * i) * np.arange(16000) / 16000)).astype('float32')
        cid = hashlib.blake2b(x.tobytes(), digest_size=8).hexdigest()
        (root/'clips'/'b1').mkdir(parents=True, exist_ok=True)
        sf.write(root/'clips'/'b1'/f'{cid}.flac', x, 16000)
        rows.append(dict(path=f'clips/b1/{cid}.flac', clip_id=cid, origin=f'r{i}.wav', source='field', speaker='<b>spk</b>',
                         accent='<script>x</script>', quality='', duplicate_of=''))
    pd.DataFrame(rows).to_csv(root/'pool.csv', index=False)
    return root

class Server:
    "`tamil-ser label serve` in its own process; `token` and `port` from the link it prints."
    def __init__(self, tmp: Path, pool: Path, annotator=EVIL, idle=IDLE):
        self.tmp, self.port, self.log = tmp, free_port(), tmp/'serve.log'
        (tmp/'tmp').mkdir(exist_ok=True)
        env = {**os.environ, 'TMPDIR': str(tmp/'tmp'), 'JUPYTER_RUNTIME_DIR': str(tmp/'runtime'), 'HF_HUB_OFFLINE': '1'}
        args = ['label', 'serve', str(pool), '--annotator', annotator, '--port', str(self.port), '--idle-timeout', str(idle)]
        with open(self.log, 'w') as f:
            self.proc = subprocess.Popen([sys.executable, '-m', 'tamil_ser.cli', *args], stdout=f, stderr=subprocess.STDOUT, env=env,
                                         cwd=tmp, start_new_session=True)
        t = time.time()
        while not self.answers():
            if self.proc.poll() is not None: pytest.fail(f'label serve exited with {self.proc.returncode}:\n{self.text()[-3000:]}')
            if time.time() - t > 120: pytest.fail(f'label serve did not answer within 120 s:\n{self.text()[-3000:]}')
            time.sleep(0.5)
        link = re.search(rf'http://127\.0\.0\.1:{self.port}/\?token=([\w-]+)', self.text())
        assert link, f'no link with a token in what label serve printed:\n{self.text()[:2000]}'
        self.token = link.group(1)
    def text(self): return self.log.read_text(errors='replace')
    def answers(self) -> bool:
        try:
            with socket.create_connection(('127.0.0.1', self.port), timeout=1): return True
        except OSError: return False
    def get(self, path='/', host=None, headers=None) -> http.client.HTTPResponse:
        "A GET without following redirects; `host` for the Host header."
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=60)
        c.request('GET', path, headers={'Host': host or f'127.0.0.1:{self.port}', **(headers or {})})
        r = c.getresponse()
        r.body = r.read().decode(errors='replace')
        return r
    def page(self):
        "The app's page with the token: (response, kernel id, the widget's model id)."
        r = self.get(f'/?token={self.token}')
        assert r.status == 200, r.status
        return r, re.search(r'kernelId": "([0-9a-f-]+)"', r.body).group(1), re.search(r'"model_id": "([0-9a-f]+)"', r.body).group(1)
    def kernels(self) -> list:
        try: return [p for p in psutil.Process(self.proc.pid).children(recursive=True) if 'ipykernel' in ' '.join(p.cmdline())]
        except psutil.Error: return []
    def started(self) -> int: return self.text().count('Kernel started')
    def stop(self, sig=signal.SIGTERM) -> int|None:
        "Send `sig` to `label serve`; its exit status, or None when it is still running after 60 s."
        self.procs = [self.proc.pid, *[p.pid for p in _tree(self.proc.pid)]]
        with contextlib.suppress(ProcessLookupError): os.kill(self.proc.pid, sig)
        try: return self.proc.wait(60)
        except subprocess.TimeoutExpired: return None
    def cleanup(self):
        "Kill whatever of the server is left, so that a failing test leaves nothing running."
        _kill_all([self.proc.pid, *[p.pid for p in _tree(self.proc.pid)], *getattr(self, 'procs', [])])

def _tree(pid):
    try: return psutil.Process(pid).children(recursive=True)
    except psutil.Error: return []

def _kill_all(pids):
    for pid in pids:
        try: psutil.Process(pid).kill()
        except psutil.Error: pass

def _alive(procs) -> list:
    return [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

@pytest.fixture(scope='module')
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('serve')
    s = Server(tmp, make_pool(tmp/'pool'))
    s.pool = tmp/'pool'
    yield s
    s.stop()
    s.cleanup()

def msg(content, msg_type='comm_msg'):
    "A Jupyter message for the shell channel, as the page sends it."
    return json.dumps(dict(header=dict(msg_id=uuid.uuid4().hex, username='', session=uuid.uuid4().hex, msg_type=msg_type, version='5.3',
                                       date=datetime.now(timezone.utc).isoformat()),
                           parent_header={}, metadata={}, content=content, channel='shell', buffers=[]))

async def ws_open(s: Server, kernel, token=True, host=None, origin=None, cookie=None):
    "A websocket to `kernel`'s channels, with the token in the URL or not, and the given Host, Origin and Cookie headers."
    h = {k: v for k, v in dict(Host=host, Origin=origin, Cookie=cookie).items() if v}
    q = f'?token={s.token}' if token else ''
    return await websocket_connect(HTTPRequest(f'ws://127.0.0.1:{s.port}/api/kernels/{kernel}/channels{q}', headers=h, connect_timeout=30))

async def widget_state(ws, model) -> dict:
    "Ask the widget `model` for its state, as the page does."
    ws.write_message(msg(dict(comm_id=model, data=dict(method='request_state'))))
    t = time.time()
    while time.time() - t < 60:
        m = json.loads(await asyncio.wait_for(ws.read_message(), 60))
        if m.get('msg_type') == 'comm_msg' and m['content']['data'].get('method') == 'update': return m['content']['data']['state']
    raise AssertionError('no widget state came back')

def refused(coro) -> int:
    "The HTTP status that refused a websocket (fails the test if it opened)."
    async def go():
        try: ws = await coro
        except HTTPClientError as e: return e.code
        ws.close()
        raise AssertionError('the websocket opened')
    return asyncio.run(go())

def test_nothing_without_the_token_and_no_kernel(app):
    before = app.started()
    for path, headers in [('/', {}), ('/?token=wrong', {}), ('/', {'Authorization': 'token wrong'}), ('/api/kernels', {}),
                          ('/voila/render/labeller.ipynb', {})]:
        r = app.get(path, headers=headers)
        assert r.status in (302, 403, 404) and app.token not in r.body, (path, r.status)
        if r.status == 302: assert r.getheader('Location').split('?')[0].endswith('/login'), r.getheader('Location')
    for path in ['/voila/files/voila.json', f'/voila/files/voila.json?token={app.token}', '/voila/files/labeller.ipynb']:
        r = app.get(path)                                                   # the server's folder holds the token: none of it is served
        assert r.status == 403 and app.token not in r.body, (path, r.status)
    time.sleep(1)
    assert app.started() == before
    _, kernel, _ = app.page()
    c = http.client.HTTPConnection('127.0.0.1', app.port, timeout=60)       # the form post of another site's page
    c.request('POST', f'/voila/api/shutdown/{kernel}', headers={'Origin': 'http://evil.test', 'Content-Type': 'text/plain'})
    assert c.getresponse().status in (403, 404)
    time.sleep(1)
    assert f'Kernel shutdown: {kernel}' not in app.text()

def test_dns_rebinding_is_refused(app):
    before = app.started()
    for path in ['/', f'/?token={app.token}']:
        r = app.get(path, host=f'rebind.attacker.test:{app.port}')
        assert r.status == 403 and 'kernelId' not in r.body, (path, r.status)
    _, kernel, _ = app.page()
    host = f'rebind.attacker.test:{app.port}'
    assert refused(ws_open(app, kernel, host=host, origin=f'http://{host}')) == 403
    assert refused(ws_open(app, kernel, token=False, host=host, origin=f'http://{host}')) == 403
    assert app.started() == before + 1                                      # the page() above, nothing for the refused requests

def test_the_page_shows_the_annotator_as_text(app):
    r, _, _ = app.page()
    assert EVIL not in r.body and '<img src=x' not in r.body
    assert 'Labelling: &lt;img src=x onerror=alert(1)&gt;' in r.body

def test_websockets_need_the_token_or_the_cookie_from_this_origin(app):
    r, kernel, model = app.page()
    cookie = '; '.join(c.split(';')[0] for c in r.headers.get_all('Set-Cookie') or [])
    assert cookie, 'the page with the token set no login cookie'
    own = f'http://127.0.0.1:{app.port}'
    assert refused(ws_open(app, kernel, token=False)) == 403                                      # no token, no cookie
    assert refused(ws_open(app, kernel, token=False, cookie=cookie, origin='http://evil.test')) == 403   # another site's page
    async def label():
        ws = await ws_open(app, kernel, token=False, cookie=cookie, origin=own)                    # the app's own page
        state = await widget_state(ws, model)
        clip = state['clip']
        assert clip['speaker'] == '<b>spk</b>' and clip['audio'].startswith('data:audio/wav')       # sent as data, shown as text
        vote = dict(method='custom', content=dict(kind='vote', clip_id=clip['clip_id'], label='sad', note='x' * 5000, seconds=1.0))
        ws.write_message(msg(dict(comm_id=model, data=vote)))
        t = time.time()
        while 'at most 2000' not in state.get('message', '') and time.time() - t < 60:
            m = json.loads(await asyncio.wait_for(ws.read_message(), 60))
            if m.get('msg_type') == 'comm_msg': state.update(m['content']['data'].get('state', {}))
        assert 'at most 2000' in state['message'], state.get('message')
        vote['content'].update(note='fine')
        ws.write_message(msg(dict(comm_id=model, data=vote)))
        t = time.time()
        while not len(Votes(app.pool).table(EVIL)) and time.time() - t < 60: await asyncio.sleep(0.2)
        ws.close()
        return clip['clip_id']
    cid = asyncio.run(label())
    assert Votes(app.pool).table(EVIL)[['clip_id', 'label', 'note']].values.tolist() == [[cid, 'sad', 'fine']]

def test_idle_kernels_are_stopped_and_open_pages_kept(app):
    _, open_kernel, model = app.page()
    async def keep_open():
        ws = await ws_open(app, open_kernel)                                # the annotator's page, open
        await widget_state(ws, model)
        _, left_kernel, _ = await asyncio.to_thread(app.page)               # a page fetched and never opened
        t = time.time()
        while f'Kernel shutdown: {left_kernel}' not in app.text():
            assert time.time() - t < IDLE + 60, 'the idle kernel was not stopped'
            await asyncio.sleep(0.5)
        await asyncio.sleep(IDLE)
        state = await widget_state(ws, model)                               # the open page's kernel is still there
        ws.close()
        return state
    assert 'clip' in asyncio.run(keep_open())
    assert f'Kernel shutdown: {open_kernel}' not in app.text()

@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_voila_and_its_kernels(tmp_path, sig):
    s = Server(tmp_path, make_pool(tmp_path/'pool'), annotator='meena')
    try:
        s.page()
        t = time.time()
        while not s.kernels() and time.time() - t < 60: time.sleep(0.2)
        procs = _tree(s.proc.pid)
        assert len(s.kernels()) == 1 and len(procs) >= 2, procs             # Voilà and the page's kernel
        assert s.stop(sig) == 0, s.text()[-2000:]
        t = time.time()
        while _alive(procs) and time.time() - t < 10: time.sleep(0.2)
        assert not _alive(procs), [p.cmdline() for p in _alive(procs)]
        assert 'labelling app stopped' in s.text() and list((tmp_path/'tmp').iterdir()) == []      # the temporary folder is gone
    finally: s.cleanup()

def test_bad_arguments_are_refused_before_anything_starts(tmp_path):
    pool = make_pool(tmp_path/'pool')
    (tmp_path/'empty').mkdir()
    (tmp_path/'table').mkdir()
    (tmp_path/'table'/'pool.csv').write_text('a,b\n1,2\n')
    (tmp_path/'q-cols.csv').write_text('path\nx.flac\n')
    (tmp_path/'q-other.csv').write_text('clip_id\nnot-in-this-pool\n')
    (tmp_path/'q-guess.csv').write_text(f'clip_id,emotion,confidence\n{pd.read_csv(pool/"pool.csv").clip_id[0]},<b>,0.5\n')
    busy = socket.socket()
    busy.bind(('127.0.0.1', 0))
    busy.listen()
    base = ['label', 'serve', str(pool), '--port', str(free_port())]
    cases = {'empty annotator': base + ['--annotator', ''], 'blank annotator': base + ['--annotator', '   '],
             'not a pool': ['label', 'serve', str(tmp_path/'empty'), '--annotator', 'a'],
             'not a pool table': ['label', 'serve', str(tmp_path/'table'), '--annotator', 'a'],
             'no queue file': base + ['--annotator', 'a', '--queue', str(tmp_path/'nope.csv')],
             'queue without clip_id': base + ['--annotator', 'a', '--queue', str(tmp_path/'q-cols.csv')],
             'queue of another pool': base + ['--annotator', 'a', '--queue', str(tmp_path/'q-other.csv')],
             'queue with a bad guess': base + ['--annotator', 'a', '--queue', str(tmp_path/'q-guess.csv')],
             'port in use': ['label', 'serve', str(pool), '--annotator', 'a', '--port', str(busy.getsockname()[1])],
             'idle timeout 0': base + ['--annotator', 'a', '--idle-timeout', '0']}
    code = f"""
        import contextlib, io, json, sys
        from tamil_ser.cli import main
        out = {{}}
        for name, args in {cases!r}.items():
            err, std = io.StringIO(), io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std): rc = main(args)
            out[name] = [rc, err.getvalue(), std.getvalue()]
        print(json.dumps(out))
    """
    env = {**os.environ, 'TMPDIR': str(tmp_path), 'HF_HUB_OFFLINE': '1'}
    p = subprocess.Popen([sys.executable, '-c', textwrap.dedent(code)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         start_new_session=True)
    try: out, err = p.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        _kill_all([p.pid, *[c.pid for c in _tree(p.pid)]])
        pytest.fail('label serve started a server on bad arguments')
    finally: busy.close()
    got = json.loads(out.strip().splitlines()[-1])
    for name, (rc, stderr, stdout) in got.items():
        lines = stderr.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and lines[0].startswith('tamil-ser label: error: '), (name, rc, stderr)
        assert 'labelling app' not in stdout, (name, stdout)
    for name, says in [('empty annotator', 'annotator'), ('not a pool', 'no pool.csv'), ('no queue file', 'nope.csv: no such queue file'),
                       ('queue of another pool', 'none of its 1 clips'), ('port in use', 'cannot listen there'),
                       ('queue with a bad guess', 'row 2: the guess must be')]:
        assert says in got[name][1], (name, got[name][1])
    assert not (tmp_path/'empty'/'labels.sqlite').exists() and not (tmp_path/'table'/'labels.sqlite').exists()
    assert not list(tmp_path.glob('tamil-ser-label-*'))
