function el(tag, cls, text) { const e = document.createElement(tag); e.className = cls; if (text) e.textContent = text; return e; }
function render({ model, el: root }) {
  const box = el('div', 'tamil-ser-livemeter');
  const start = el('button', 'tamil-ser-live-start', 'Listen'), stop = el('button', 'tamil-ser-live-stop', 'Stop');
  const meter = el('meter', 'tamil-ser-meter'); meter.min = -60; meter.max = 0; meter.value = -60;
  const now = el('div', 'tamil-ser-live-now'), scores = el('div', 'tamil-ser-live-scores');
  const line = el('div', 'tamil-ser-live-timeline'), status = el('div', 'tamil-ser-status');
  box.append(start, stop, meter, now, scores, line, status); root.append(box);
  let ctx = null, stream = null, node = null;
  const color = l => model.get('colors')[l] || '#ccc';
  const show = () => {
    const c = model.get('current'), heard = model.get('heard'), w = model.get('window');
    now.textContent = c.emotion ? `${c.emotion} ${c.confidence.toFixed(2)}` : '...';
    now.style.color = c.kind === 'interim' ? '#888' : color(c.emotion);
    scores.replaceChildren(...model.get('labels').map(l => {
      const row = el('div', 'tamil-ser-live-score'), bar = el('span', 'tamil-ser-live-bar');
      bar.style.width = `${Math.round(100 * ((c.scores || {})[l] || 0))}%`; bar.style.background = color(l);
      row.append(el('span', 'tamil-ser-live-label', l), bar); return row; }));
    const t0 = Math.max(0, heard - w);
    line.replaceChildren(...model.get('timeline').filter(e => e.end > t0).map(e => {
      const d = el('div', `tamil-ser-live-event tamil-ser-live-${e.emotion}`);
      d.style.left = `${100 * (Math.max(e.start, t0) - t0) / w}%`; d.style.width = `${100 * (e.end - Math.max(e.start, t0)) / w}%`;
      d.style.background = color(e.emotion); d.style.opacity = 0.4 + 0.6 * e.confidence;
      d.title = `${e.start.toFixed(1)}-${e.end.toFixed(1)} s: ${e.emotion} ${e.confidence.toFixed(2)}`; return d; }));
    status.textContent = model.get('status'); start.disabled = node !== null; stop.disabled = node === null;
  };
  start.onclick = async () => {
    try {
      const raw = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
      stream = await navigator.mediaDevices.getUserMedia({ audio: raw });
    } catch (e) { status.textContent = `no microphone: ${e.message}`; return; }
    try { ctx = new AudioContext({ sampleRate: 16000 }); } catch (e) { ctx = new AudioContext(); }
    model.send({ type: 'start', rate: ctx.sampleRate });
    node = ctx.createScriptProcessor(4096, 1, 1);
    node.onaudioprocess = e => {
      const x = e.inputBuffer.getChannelData(0), pcm = new Int16Array(x.length); let s = 0;
      for (let i = 0; i < x.length; i++) { s += x[i] * x[i]; pcm[i] = Math.max(-32768, Math.min(32767, Math.round(x[i] * 32768))); }
      meter.value = Math.max(-60, 10 * Math.log10(s / x.length + 1e-12));
      model.send({ type: 'pcm', rate: ctx.sampleRate }, undefined, [pcm.buffer]);
    };
    ctx.createMediaStreamSource(stream).connect(node); node.connect(ctx.destination);   // a ScriptProcessor runs only when connected
    show();
  };
  stop.onclick = () => {
    if (node) { node.disconnect(); stream.getTracks().forEach(t => t.stop()); ctx.close(); node = null; model.send({ type: 'stop' }); }
    meter.value = -60; show();
  };
  for (const k of ['current', 'timeline', 'heard', 'status']) model.on(`change:${k}`, show);
  show();
}
export default { render };
