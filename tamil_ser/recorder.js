export function levelMeter(stream, onLevel, ms = 50) {
  // call onLevel(dBFS) every `ms` ms with the RMS level of the microphone stream; returns a stop() function
  const ctx = new AudioContext(), an = ctx.createAnalyser();
  an.fftSize = 2048;
  ctx.createMediaStreamSource(stream).connect(an);
  const buf = new Float32Array(an.fftSize);
  const id = setInterval(() => {
    an.getFloatTimeDomainData(buf);
    let s = 0; for (const v of buf) s += v * v;
    onLevel(10 * Math.log10(s / buf.length + 1e-12));
  }, ms);
  return () => { clearInterval(id); ctx.close(); };
}
export function encodeWav(x, rate) {
  // 16-bit PCM mono WAV bytes of Float32Array x
  const b = new ArrayBuffer(44 + 2 * x.length), v = new DataView(b);
  const str = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
  str(0, 'RIFF'); v.setUint32(4, 36 + 2 * x.length, true); str(8, 'WAVE'); str(12, 'fmt ');
  v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true); v.setUint32(24, rate, true);
  v.setUint32(28, 2 * rate, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true); str(36, 'data');
  v.setUint32(40, 2 * x.length, true);
  for (let i = 0; i < x.length; i++)
    v.setInt16(44 + 2 * i, Math.max(-32768, Math.min(32767, Math.round(x[i] * 32768))), true);
  return b;
}
export async function blobToWav(blob, rate = 16000) {
  // decode a MediaRecorder blob (webm/opus, ogg...) and resample it to mono `rate` Hz WAV bytes
  const ctx = new AudioContext(), buf = await ctx.decodeAudioData(await blob.arrayBuffer());
  ctx.close();
  const off = new OfflineAudioContext(1, Math.max(1, Math.ceil(buf.duration * rate)), rate);
  const src = off.createBufferSource(); src.buffer = buf; src.connect(off.destination); src.start();
  return encodeWav((await off.startRendering()).getChannelData(0), rate);
}
function el(tag, cls, text) {
  const e = document.createElement(tag); e.className = cls; if (text) e.textContent = text; return e;
}
function render({ model, el: root }) {
  const box = el('div', 'tamil-ser-recorder');
  const consent = el('input', 'tamil-ser-consent'); consent.type = 'checkbox';
  const label = el('label', 'tamil-ser-consent-label');
  label.append(consent, ' ' + model.get('consent_text'));
  const prompt = el('div', 'tamil-ser-prompt');
  const rec = el('button', 'tamil-ser-record', 'Record'), stop = el('button', 'tamil-ser-stop', 'Stop');
  const save = el('button', 'tamil-ser-save', 'Save'), skip = el('button', 'tamil-ser-skip', 'Next prompt');
  const meter = el('meter', 'tamil-ser-meter'); meter.min = -60; meter.max = 0; meter.value = -60;
  const audio = el('audio', 'tamil-ser-take'); audio.controls = true;
  const status = el('div', 'tamil-ser-status');
  box.append(label, prompt, rec, stop, save, skip, meter, audio, status); root.append(box);
  let media = null, chunks = [], wav = null, stopMeter = null;
  const show = () => {
    const ps = model.get('prompts'), i = model.get('prompt_index');
    prompt.textContent = ps.length ? `Prompt ${Math.min(i + 1, ps.length)} of ${ps.length}: ${ps[i % ps.length]}` : '';
    status.textContent = model.get('status');
    consent.checked = model.get('agreed');
    rec.disabled = !model.get('agreed') || media !== null; stop.disabled = media === null;
    save.disabled = wav === null || media !== null;
  };
  consent.onchange = () => { model.set('agreed', consent.checked); model.save_changes(); show(); };
  rec.onclick = async () => {
    if (!model.get('agreed')) return;
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    chunks = []; wav = null; media = new MediaRecorder(stream);
    media.ondataavailable = e => chunks.push(e.data);
    media.onstop = async () => {
      stream.getTracks().forEach(t => t.stop()); stopMeter(); meter.value = -60;
      wav = await blobToWav(new Blob(chunks, { type: media.mimeType }));
      audio.src = URL.createObjectURL(new Blob([wav], { type: 'audio/wav' }));
      media = null; status.textContent = `take: ${((wav.byteLength - 44) / 32000).toFixed(1)} s, not saved yet`; show();
    };
    stopMeter = levelMeter(stream, db => { meter.value = Math.max(-60, db); meter.dataset.db = db.toFixed(1); });
    media.start(250); status.textContent = 'recording...'; show(); status.textContent = 'recording...';
  };
  stop.onclick = () => { if (media) media.stop(); };
  save.onclick = () => {
    if (!wav) return;
    model.send({ type: 'take' }, undefined, [wav]); wav = null; show(); status.textContent = 'saving...';
  };
  skip.onclick = () => { model.set('prompt_index', model.get('prompt_index') + 1); model.save_changes(); };
  for (const k of ['status', 'prompt_index', 'agreed']) model.on(`change:${k}`, show);
  show();
}
export default { render };
