"""`stream` and `tamil-ser listen` end to end on a generated recording (clips of the bundled sample separated by faint noise):
one event per utterance, in order, none lost or changed at chunk boundaries from 1 ms to 10 s, the emotions predict_batch gives
the cut clips, the CLI on a file, on stdin and interrupted, and bad input mid-stream (NaN bursts, a rate change, junk chunks, an
hour of silence) reported and skipped."""
import json, os, signal, subprocess, sys, time
import numpy as np, pytest, soundfile as sf, soxr
from tamil_ser.audio import SR, load_audio
from tamil_ser.predict import predict_batch
from tamil_ser.sample import sample_manifest
from tamil_ser.stream import Listener, listen_cli, stream

ENV = {**os.environ, 'HF_HUB_OFFLINE': '1'}
LISTEN = 'import sys; from tamil_ser.stream import listen_cli; sys.exit(listen_cli(sys.argv[1:]))'

@pytest.fixture(scope='module')
def model(tmp_path_factory):
    "A linear eGeMAPS probe trained on the sample (seconds)."
    from tamil_ser.train import train
    out = tmp_path_factory.mktemp('stream')/'run'
    train(sample_manifest(), backbone='egemaps', mode='probe', out=out, progress=False)
    return str(out/'model')

def recording(n=12, gap=1.0, seed=1):
    "Clips of the sample separated by `gap` s of noise at -60 dBFS: (audio, [(start, end, label)])."
    rng, m = np.random.default_rng(seed), sample_manifest()
    rows, parts, spans, t = m.sample(n, random_state=seed), [], [], 0
    for p in rows.path:
        x, g = load_audio(p), (rng.standard_normal(int(gap * SR)) * 1e-3).astype(np.float32)
        parts += [g, x]
        t += len(g)
        spans.append((t / SR, (t + len(x)) / SR))
        t += len(x)
    parts.append((rng.standard_normal(int(gap * SR)) * 1e-3).astype(np.float32))
    return np.concatenate(parts), spans

@pytest.fixture(scope='module')
def rec():
    return recording()

def utterances(evs): return [e for e in evs if e['kind'] == 'utterance']
def cuts(x, size): return [x[i:i+size] for i in range(0, len(x), size)]

@pytest.fixture(scope='module')
def ref(rec, model):
    audio, _ = rec
    return utterances(stream(cuts(audio, 512), model))

def test_one_event_per_utterance_in_order(rec, ref):
    _, spans = rec
    assert len(ref) == len(spans)
    for e, (s, t) in zip(ref, spans):
        assert abs(e['start'] - s) < .15 and abs(e['end'] - t) < .3, (e, s, t)
    assert all(a['end'] < b['start'] for a, b in zip(ref, ref[1:]))
    assert all(e['latency_ms'] > 0 and set(e['scores']) == {'angry', 'fear', 'happy', 'neutral', 'sad'} for e in ref)

@pytest.mark.parametrize('size', [16, 160, 1000, 4096, 16000, 160_000])
def test_chunk_size_changes_nothing(rec, model, ref, size):
    "1 ms .. 10 s chunks: the same utterances with the same scores (only the latency differs)."
    audio, _ = rec
    got = utterances(stream(cuts(audio, size), model))
    assert [(e['start'], e['end'], e['emotion']) for e in got] == [(e['start'], e['end'], e['emotion']) for e in ref]
    np.testing.assert_allclose([list(e['scores'].values()) for e in got], [list(e['scores'].values()) for e in ref], atol=1e-5)

def test_random_chunk_sizes(rec, model, ref):
    audio, _ = rec
    rng, chunks, i = np.random.default_rng(0), [], 0
    while i < len(audio):
        k = int(rng.integers(1, 40_000))
        chunks.append(audio[i:i+k])
        i += k
    assert [(e['start'], e['end']) for e in utterances(stream(chunks, model))] == [(e['start'], e['end']) for e in ref]

def test_same_emotions_as_predict_batch(rec, model, ref):
    audio, _ = rec
    clips = [audio[int(round(e['start'] * SR)):int(round(e['end'] * SR))] for e in ref]
    pb = predict_batch(clips, model, progress=False)
    assert list(pb.emotion) == [e['emotion'] for e in ref]
    np.testing.assert_allclose(pb.confidence, [e['confidence'] for e in ref], atol=1e-5)

def pcm16(audio): return (np.clip(audio, -1, 1) * 32767).astype('<i2')

@pytest.fixture(scope='module')
def ref16(rec, model):
    "The events of the recording quantised to 16 bits, streamed as floats: what int16 sources must give exactly."
    return utterances(stream(pcm16(rec[0]).astype(np.float32) / 32768, model))

def test_int16_and_file_sources(rec, model, ref, ref16, tmp_path):
    "int16 chunks and a 16-bit FLAC decode to the same samples, so the same events (quantisation may flip a near tie of `ref`)."
    pcm = pcm16(rec[0])
    assert len(ref16) == len(ref)
    assert [e['emotion'] for e in utterances(stream(cuts(pcm, 3000), model))] == [e['emotion'] for e in ref16]
    f = tmp_path/'rec.flac'
    sf.write(f, pcm, SR)
    got = utterances(stream(f, model))
    assert [e['emotion'] for e in got] == [e['emotion'] for e in ref16]
    np.testing.assert_allclose([e['confidence'] for e in got], [e['confidence'] for e in ref16], atol=1e-5)

def test_resampled_source(rec, model, ref, tmp_path):
    "A 44.1 kHz file finds the same utterances (within a window)."
    audio, _ = rec
    f = tmp_path/'rec44.wav'
    sf.write(f, soxr.resample(audio, SR, 44100), 44100)
    got = utterances(stream(f, model))
    assert len(got) == len(ref)
    assert all(abs(a['start'] - b['start']) < .05 and abs(a['end'] - b['end']) < .1 for a, b in zip(got, ref))

def test_bad_input_mid_stream(rec, model, ref):
    "NaN burst, a switch to 8 kHz, a junk chunk: each reported once, every utterance still there."
    audio, spans = rec
    i, j = int((spans[1][1] + .3) * SR), int((spans[3][1] + .5) * SR)
    a, b, rest = audio[:i], audio[i:j], audio[j:]
    src = [*cuts(a, 4000), *cuts(np.full(SR // 4, np.nan, np.float32), 1000), b, (soxr.resample(rest, SR, 8000), 8000), (['junk'], 8000)]
    evs = list(stream(src, model))
    other = [e for e in evs if e['kind'] != 'utterance']
    assert [e['kind'] for e in other] == ['warning', 'notice', 'warning'], other
    assert 'non-finite' in other[0]['message'] and abs(other[0]['skipped'] - .25) < 1e-6
    assert '16000 to 8000 Hz' in other[1]['message']
    assert len(utterances(evs)) == len(ref)

def test_silent_hour_is_cheap_and_reported(rec, model, ref):
    audio, spans = rec
    one = audio[:int((spans[0][1] + .5) * SR)]
    zeros = np.zeros(10 * SR, np.float32)
    t = time.perf_counter()
    lis, evs = Listener(model, quiet=600), []
    for x in [one] + [zeros] * 360 + [one]: evs += lis.feed(x)
    evs += lis.close()
    took = time.perf_counter() - t
    assert [e['kind'] for e in evs] == ['utterance', 'notice', 'utterance'], [e['kind'] for e in evs]
    assert evs[1]['message'].startswith('no speech since')
    assert evs[2]['start'] > 3600 and took < 60, took

def test_listen_cli_file_jsonl(rec, model, ref, tmp_path, capsys):
    audio, _ = rec
    f = tmp_path/'rec.wav'
    sf.write(f, audio, SR)
    assert listen_cli([str(f), '--model', model, '--jsonl']) == 0
    out, err = capsys.readouterr()
    evs = [json.loads(l) for l in out.splitlines()]
    assert [e['emotion'] for e in evs] == [e['emotion'] for e in ref]
    assert f'{len(ref)} utterance(s)' in err and 'real-time factor' in err

def test_listen_cli_errors(model, tmp_path, capsys):
    assert listen_cli([str(tmp_path/'nope.wav'), '--model', model]) == 2
    assert capsys.readouterr().err.strip() == f'tamil-ser listen: error: {tmp_path/"nope.wav"}: file not found'
    assert listen_cli(['--model', model]) == 2
    assert 'give one SOURCE' in capsys.readouterr().err
    assert listen_cli([str(tmp_path/'nope.wav'), '--model', str(tmp_path/'no-model')]) == 2
    assert capsys.readouterr().err.startswith('tamil-ser listen: error: ')

def test_listen_stdin_pcm(rec, model, ref16):
    "Raw 16-bit PCM on stdin, as `ffmpeg ... -f s16le -ac 1 -ar 16000 - | tamil-ser listen -` gives it."
    pcm = pcm16(rec[0]).tobytes()
    cmd = [sys.executable, '-c', LISTEN, '-', '--model', model, '--jsonl']
    r = subprocess.run(cmd, input=pcm, capture_output=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert [json.loads(l)['emotion'] for l in r.stdout.decode().splitlines()] == [e['emotion'] for e in ref16]

def test_listen_ctrl_c_stops_cleanly(rec, model, tmp_path):
    "--realtime paces the file; SIGINT after a few utterances: exit 0, the events so far, the summary, no traceback."
    audio, _ = rec
    f = tmp_path/'rec.wav'
    sf.write(f, audio, SR)
    cmd = [sys.executable, '-c', LISTEN, str(f), '--model', model, '--realtime']
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    first = p.stdout.readline()     # the first utterance (about 3 s in)
    t = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err.decode()[-2000:]
    assert b'Traceback' not in err and b'interrupted' in err and b'utterance(s)' in err
    assert first and len((first + out).decode().splitlines()) < 12

def test_listen_mic_without_sounddevice(model, capsys):
    "Without the optional sounddevice package --mic is a one-line error, not a traceback."
    try:
        import sounddevice  # noqa: F401
        pytest.skip('sounddevice is installed: --mic would open a real microphone')
    except (ImportError, OSError): pass
    assert listen_cli(['--mic', '--model', model]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('tamil-ser listen: error: --mic needs the sounddevice package') and '\n' not in err
