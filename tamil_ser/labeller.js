function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}
function draw(canvas, wave) {
  const w = canvas.width = canvas.clientWidth || 700, h = canvas.height = 90, g = canvas.getContext('2d');
  g.clearRect(0, 0, w, h); g.fillStyle = '#4a6fa5';
  const n = wave.length; if (!n) return;
  for (let i = 0; i < n; i++) { const [lo, hi] = wave[i], x = i * w / n;
    g.fillRect(x, h / 2 - hi * h / 2, Math.max(1, w / n - 0.5), Math.max(1, (hi - lo) * h / 2)); }
}
function render({ model, el: root }) {
  root.classList.add('tamil-ser-labeller');
  const top = el('div', 'tsl-top'), info = el('span', 'tamil-ser-clip-info'), prog = el('span', 'tamil-ser-progress');
  top.append(info, prog);
  const canvas = el('canvas'), audio = el('audio', 'tamil-ser-audio'); audio.controls = true;
  const answers = el('div', 'tsl-answers'), row = el('div', 'tsl-row');
  const note = el('input', 'tamil-ser-note'); note.type = 'text'; note.maxLength = model.get('note_max');
  const skip = el('button', 'tamil-ser-skip'), undo = el('button', 'tamil-ser-undo'), replay = el('button', 'tamil-ser-replay');
  const guessBox = el('label', 'tsl-guess-toggle'), guessCheck = el('input', 'tamil-ser-show-guess');
  guessCheck.type = 'checkbox';
  const guessText = el('span'); guessBox.append(guessCheck, guessText);
  row.append(replay, skip, undo, note, guessBox);
  const guess = el('div', 'tsl-guess tamil-ser-guess'), msg = el('div', 'tsl-msg tamil-ser-message');
  root.append(top, canvas, audio, answers, row, guess, msg);
  let shownAt = performance.now(), busy = false;
  const W = () => model.get('words');
  function vote(label) {
    const c = model.get('clip'); if (busy || !c.clip_id) return;
    busy = true; root.dataset.busy = '1';
    model.send({ kind: 'vote', clip_id: c.clip_id, label, note: note.value, seconds: (performance.now() - shownAt) / 1000 });
  }
  function buttons() {
    answers.replaceChildren(...model.get('answers').map((a, i) => {
      const b = el('button', 'tamil-ser-answer tamil-ser-answer-' + a); b.dataset.label = a;
      b.append(el('span', 'tsl-key', String(i + 1)), document.createTextNode(W()[a] || a)); b.onclick = () => vote(a); return b; }));
    skip.textContent = W().skip; undo.textContent = W().undo; replay.textContent = W().replay;
    note.placeholder = W().note; guessText.textContent = ' ' + W().guess;
  }
  function show() {
    const c = model.get('clip'), p = model.get('progress');
    root.dataset.clip = c.clip_id || ''; busy = false; delete root.dataset.busy;
    prog.textContent = `${W().done}: ${p.done_today ?? 0} · ${W().left}: ${p.left ?? 0}`;
    msg.textContent = model.get('message'); undo.disabled = !model.get('can_undo');
    guessCheck.checked = model.get('show_guess');
    const pct = Math.round(100 * c.confidence);
    guess.textContent = model.get('show_guess') && c.guess ? `${W().guess}: ${W()[c.guess] || c.guess} (${pct}%)` : '';
    if (!c.clip_id) {
      info.textContent = W().finished; audio.removeAttribute('src'); draw(canvas, []);
      answers.querySelectorAll('button').forEach(b => b.disabled = true);
      return;
    }
    answers.querySelectorAll('button').forEach(b => b.disabled = false);
    info.textContent = `${W().clip} ${c.position} · ${c.speaker || ''} ${c.accent ? '· ' + c.accent : ''}`;
    if (audio.dataset.clip !== c.clip_id) {
      audio.dataset.clip = c.clip_id; audio.src = c.audio; note.value = c.note || ''; shownAt = performance.now();
      draw(canvas, c.wave || []);
      if (model.get('autoplay')) audio.play().catch(() => {});
    }
  }
  function onKey(e) {
    if (!root.isConnected || e.target === note || e.ctrlKey || e.metaKey || e.altKey) return;
    const a = model.get('answers'), k = e.key;
    if (k >= '1' && k <= String(a.length)) { e.preventDefault(); vote(a[Number(k) - 1]); }
    else if (k === 's' || k === 'ArrowRight') { e.preventDefault(); if (!busy) { busy = true; model.send({ kind: 'skip' }); } }
    else if (k === 'u' || k === 'Backspace') { e.preventDefault(); if (!busy) { busy = true; model.send({ kind: 'undo' }); } }
    else if (k === ' ') { e.preventDefault(); audio.currentTime = 0; audio.play().catch(() => {}); }
  }
  skip.onclick = () => { if (!busy) { busy = true; model.send({ kind: 'skip' }); } };
  undo.onclick = () => { if (!busy) { busy = true; model.send({ kind: 'undo' }); } };
  replay.onclick = () => { audio.currentTime = 0; audio.play().catch(() => {}); };
  guessCheck.onchange = () => { model.set('show_guess', guessCheck.checked); model.save_changes(); show(); };
  document.addEventListener('keydown', onKey);
  for (const n of ['clip', 'progress', 'message', 'show_guess', 'can_undo']) model.on('change:' + n, show);
  model.on('change:tick', () => { busy = false; delete root.dataset.busy; });
  model.on('change:words', () => { buttons(); show(); }); model.on('change:answers', () => { buttons(); show(); });
  buttons(); show();
  return () => document.removeEventListener('keydown', onKey);
}
export default { render };
