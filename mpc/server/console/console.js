// mpcmix console: plain JavaScript, no library, no build step (docs/console.md).
//
// What it shows comes from GET /emulator/live (the live MPCs, their participants, the routing
// matrix now, as the server's routing layer computes it); what its buttons do goes through the
// real API's endpoints under /v1/Account/{auth_id}/MultiPartyCall/. "Listen as" and the
// microphone are WebSockets (/console/listen, /console/mic) carrying 16-bit PCM at the call's
// sample rate; the first message on each is the credentials.
'use strict';

const POLL_MS = 500;
const MAX_AHEAD_S = 5;
const $ = (id) => document.getElementById(id);
let creds = null;          // {id, token}
let live = null;           // the last GET /emulator/live answer
let pollTimer = null;
let listener = null;       // {ws, ctx, next, label}
let mic = null;            // {ws, ctx, stream, node, member_id}

// What the page did, for people (the bar) and for tests (window.consoleStats).
const stats = window.consoleStats = {
  polls: 0, framesReceived: 0, framesDropped: 0, samplesReceived: 0, listenPeak: 0, listenStart: null,
  micFramesSent: 0, micSamplesSent: 0, micPeak: 0, micMember: null, errors: [],
};

function basic() { return 'Basic ' + btoa(creds.id + ':' + creds.token); }

function say(text, isError) {
  const m = $('message');
  m.textContent = text;
  m.className = isError ? 'error' : '';
  if (isError) stats.errors.push(text);
}

// -- the API ------------------------------------------------------------------------------------

async function api(method, path, body) {
  const options = { method, headers: { Authorization: basic() } };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
  if (!response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${(json && json.error) || text}`);
  }
  return json;
}

function mpcPath(mpc) {
  return `/v1/Account/${encodeURIComponent(mpc.auth_id)}/MultiPartyCall/uuid_${encodeURIComponent(mpc.mpc.mpc_uuid)}`;
}

async function act(label, method, path, body) {
  try {
    await api(method, path, body);
    say(`${label}: done`);
  } catch (e) {
    say(`${label}: ${e.message}`, true);
  }
  poll();
}

// -- polling and drawing ------------------------------------------------------------------------

async function poll() {
  if (!creds) return;
  clearTimeout(pollTimer);
  try {
    live = await api('GET', '/emulator/live');
    stats.polls += 1;
    draw();
  } catch (e) {
    say(e.message, true);
  }
  pollTimer = setTimeout(poll, POLL_MS);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'onclick') node.addEventListener('click', v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? '' : v);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function button(text, onclick, attrs) {
  return el('button', { type: 'button', onclick, ...(attrs || {}) }, text);
}

function draw() {
  $('clock').textContent = `${live.clock} clock ${(live.now_ms / 1000).toFixed(2)} s`;
  const main = $('mpcs');
  const seen = new Set();
  if (!live.mpcs.length) {
    main.replaceChildren(el('p', { class: 'empty' }, 'No live MPC in this account. Add a participant through the API.'));
    return;
  }
  main.querySelector('.empty')?.remove();
  for (const mpc of live.mpcs) {
    const uuid = mpc.mpc.mpc_uuid;
    seen.add(uuid);
    let section = main.querySelector(`section.mpc[data-uuid="${uuid}"]`);
    if (!section) {
      section = mpcSection(mpc);
      main.append(section);
    }
    updateSection(section, mpc);
  }
  for (const section of main.querySelectorAll('section.mpc')) {
    if (!seen.has(section.dataset.uuid)) section.remove();
  }
}

// The parts of an MPC's section that hold what a person types are made once.
function mpcSection(mpc) {
  const section = el('section', { class: 'mpc', dataset: { uuid: mpc.mpc.mpc_uuid, name: mpc.mpc.friendly_name } });
  const playUrl = el('input', { class: 'play-url', placeholder: 'audio URL or media path', value: 'beep:2' });
  const role = el('select', { class: 'mic-role' },
    el('option', { value: 'customer' }, 'customer'), el('option', { value: 'agent' }, 'agent'),
    el('option', { value: 'supervisor' }, 'supervisor'));
  const current = () => live.mpcs.find((m) => m.mpc.mpc_uuid === mpc.mpc.mpc_uuid) || mpc;
  section.append(
    el('h2', {}, el('span', { class: 'name' }), el('small', { class: 'meta' })),
    el('div', { class: 'controls' },
      button('Start recording', () => {
        const m = current();
        if (m.mpc.recording === 'recording' || m.mpc.recording === 'paused') {
          act('stop recording', 'DELETE', `${mpcPath(m)}/Record/`);
        } else {
          act('start recording', 'POST', `${mpcPath(m)}/Record/`, { file_format: 'wav' });
        }
      }, { class: 'record' }),
      button('Listen to the recording', () => listen(current(), 'recording', 'the recording'), { class: 'listen-recording' }),
      playUrl,
      button('Play to all', () => act('play', 'POST', `${mpcPath(current())}/Member/all/Play/`, { urls: playUrl.value }), { class: 'play' }),
      button('Stop play', () => act('stop play', 'DELETE', `${mpcPath(current())}/Member/all/Play/`), { class: 'stop-play' }),
      el('span', {}, ' microphone as '), role,
      button('Join with microphone', () => joinMic(current(), role.value), { class: 'mic-join' })),
    el('div', { class: 'columns' }, el('div', { class: 'participants' }), el('div', { class: 'routing' })));
  return section;
}

function updateSection(section, mpc) {
  const m = mpc.mpc;
  section.querySelector('.name').textContent = m.friendly_name;
  section.querySelector('.meta').textContent =
    `${m.status} · ${m.mpc_uuid} · recording: ${m.recording}${mpc.auth_id !== live.auth_id ? ' · subaccount ' + mpc.auth_id : ''}`;
  const recording = m.recording === 'recording' || m.recording === 'paused';
  const record = section.querySelector('button.record');
  record.textContent = recording ? 'Stop recording' : 'Start recording';
  record.classList.toggle('active', recording);
  section.querySelector('.participants').replaceChildren(participantsTable(mpc));
  section.querySelector('.routing').replaceChildren(matrixTable(mpc));
}

function participantsTable(mpc) {
  const rows = mpc.participants.map((p) => {
    const exited = p.phase === 'exited';
    const flags = [];
    if (p.mute) flags.push(el('span', { class: 'hot' }, 'muted'));
    if (p.hold) flags.push(el('span', { class: 'hot' }, 'held'));
    if (p.coach_mode) flags.push(el('span', { class: 'hot' }, 'coaching'));
    const update = (what, body) => act(`${what} ${p.role} ${p.member_id}`, 'POST',
      `${mpcPath(mpc)}/Participant/${p.member_id}/`, body);
    const actions = exited ? [] : [
      button(p.mute ? 'Unmute' : 'Mute', () => update(p.mute ? 'unmute' : 'mute', { mute: !p.mute }), { class: 'mute' }),
      button(p.hold ? 'Unhold' : 'Hold', () => update(p.hold ? 'unhold' : 'hold', { hold: !p.hold }), { class: 'hold' }),
      p.role === 'supervisor'
        ? button(p.coach_mode ? 'Coach off' : 'Coach on', () => update(p.coach_mode ? 'coach off' : 'coach on', { coach_mode: !p.coach_mode }), { class: 'coach' })
        : null,
      button('Kick', () => act(`kick ${p.role} ${p.member_id}`, 'DELETE', `${mpcPath(mpc)}/Participant/${p.member_id}/`), { class: 'kick' }),
      button('Listen as', () => listen(mpc, p.member_id, `${p.role} ${p.member_id}`), { class: 'listen' }),
    ];
    return el('tr', { class: exited ? 'exited' : '', dataset: { member: p.member_id, role: p.role } },
      el('td', {}, p.role), el('td', {}, p.member_id), el('td', {}, p.member_address || ''),
      el('td', { class: 'state' }, el('span', {}, p.phase), ...flags),
      el('td', { class: 'actions' }, ...actions.filter(Boolean)));
  });
  return el('table', { class: 'participants' },
    el('thead', {}, el('tr', {}, ...['role', 'member', 'address', 'state', ''].map((h) => el('th', {}, h)))),
    el('tbody', {}, ...rows));
}

function who(mpc, label, memberId) {
  const p = mpc.participants.find((x) => x.member_id === memberId);
  return p ? `${p.role} ${p.member_id}` : label;
}

function sourceName(mpc, s) {
  if (s.kind === 'voice') return who(mpc, s.owner, s.member_id);
  if (s.kind === 'wait_music') return `wait music (${who(mpc, s.owner, s.member_id)})`;
  if (s.kind === 'hold_music') return `hold music (${who(mpc, s.owner, s.member_id)})`;
  return s.label;
}

function matrixTable(mpc) {
  const mx = mpc.matrix;
  // Every voice is a column; music and sounds only while someone hears them.
  const shown = mx.sources.map((s, j) => j).filter((j) =>
    mx.sources[j].kind === 'voice' || mx.gains.some((row) => row[j]));
  const hidden = mx.sources.length - shown.length;
  const head = el('tr', {}, el('th', {}, 'listener \\ source'),
    ...shown.map((j) => el('th', { class: 'src', title: mx.sources[j].label }, sourceName(mpc, mx.sources[j]))));
  const rows = mx.listeners.map((l, i) => el('tr', { dataset: { listener: l.label, member: l.member_id || '' } },
    el('th', {}, l.recording ? 'recording' : who(mpc, l.label, l.member_id)),
    ...shown.map((j) => el('td', {
      class: `cell ${mx.gains[i][j] ? 'on' : 'off'}`, title: mx.reasons[i][j],
      dataset: { listener: l.label, source: mx.sources[j].label, gain: String(mx.gains[i][j]) },
    }, mx.gains[i][j] ? '●' : '·'))));
  const caption = 'who hears whom now (hover a cell for its reason)' +
    (hidden ? ` · ${hidden} music or sound source${hidden > 1 ? 's' : ''} nobody hears now not shown` : '');
  return el('div', {}, el('p', { class: 'caption' }, caption),
    el('table', { class: 'matrix' }, el('thead', {}, head), el('tbody', {}, ...rows)));
}

// -- listen as ----------------------------------------------------------------------------------

function wsUrl(path, query) {
  const base = location.origin.replace(/^http/, 'ws');
  return `${base}${path}?${new URLSearchParams(query)}`;
}

function dbfs(peak) { return peak > 0 ? 20 * Math.log10(peak / 32768) : -90; }

function stopListening() {
  if (!listener) return;
  listener.ws.close();
  listener.ctx.close();
  listener = null;
  $('listening').hidden = true;
}

async function listen(mpc, member, label) {
  stopListening();
  const rate = live.sample_rate;
  const ctx = new AudioContext({ sampleRate: rate });
  const ws = new WebSocket(wsUrl('/console/listen', { auth_id: mpc.auth_id, mpc: mpc.mpc.mpc_uuid, member }));
  ws.binaryType = 'arraybuffer';
  const me = listener = { ws, ctx, next: 0, label, peak: 0 };
  ws.onopen = () => ws.send(JSON.stringify({ auth_id: creds.id, auth_token: creds.token }));
  ws.onmessage = (event) => {
    if (typeof event.data === 'string') {
      const msg = JSON.parse(event.data);
      if (msg.event === 'error') say(`listen as ${label}: ${msg.error}`, true);
      else if (msg.event === 'start') {
        stats.listenStart = msg;
        say(`listening as ${label}`);
      }
      return;
    }
    play(me, new Int16Array(event.data));
  };
  ws.onclose = () => { if (listener === me) stopListening(); };
  $('listening-as').textContent = label;
  $('listening').hidden = false;
  ctx.resume();
}

// One frame of PCM, scheduled right after the previous one (a jitter margin of 60 ms); frames
// that would play more than MAX_AHEAD_S from now are dropped rather than queued without bound.
function play(me, pcm) {
  const samples = new Float32Array(pcm.length);
  let peak = 0;
  for (let i = 0; i < pcm.length; i++) {
    samples[i] = pcm[i] / 32768;
    const a = Math.abs(pcm[i]);
    if (a > peak) peak = a;
  }
  stats.framesReceived += 1;
  stats.samplesReceived += pcm.length;
  stats.listenPeak = Math.max(stats.listenPeak, peak);
  me.peak = Math.max(peak, me.peak * 0.9);
  $('level').value = dbfs(me.peak);
  $('level-db').textContent = `${dbfs(me.peak).toFixed(0)} dBFS`;
  const ctx = me.ctx;
  const now = ctx.currentTime;
  if (me.next < now + 0.01) me.next = now + 0.06; // (re)start: a 60 ms margin for jitter
  if (me.next > now + MAX_AHEAD_S) { // far behind (a long virtual advance, a slow page): drop
    stats.framesDropped += 1;
    return;
  }
  const buffer = ctx.createBuffer(1, samples.length, ctx.sampleRate);
  buffer.copyToChannel(samples, 0);
  const source = ctx.createBufferSource();
  source.buffer = buffer;
  source.connect(ctx.destination);
  source.start(me.next);
  me.next += buffer.duration;
}

// -- the microphone -----------------------------------------------------------------------------

function leaveMic() {
  if (!mic) return;
  mic.ws.close();
  mic.stream.getTracks().forEach((t) => t.stop());
  mic.ctx.close();
  mic = null;
  $('mic').hidden = true;
}

async function joinMic(mpc, role) {
  leaveMic();
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 } });
  } catch (e) {
    say(`microphone: ${e.message}`, true);
    return;
  }
  const rate = live.sample_rate;
  const ctx = new AudioContext({ sampleRate: rate });
  const ws = new WebSocket(wsUrl('/console/mic', { auth_id: mpc.auth_id, mpc: mpc.mpc.mpc_uuid, role }));
  ws.binaryType = 'arraybuffer';
  const me = mic = { ws, ctx, stream, node: null, joined: false, peak: 0 };
  ws.onopen = () => ws.send(JSON.stringify({ auth_id: creds.id, auth_token: creds.token }));
  ws.onmessage = (event) => {
    if (typeof event.data !== 'string') return;
    const msg = JSON.parse(event.data);
    if (msg.event === 'error') {
      say(`microphone: ${msg.error}`, true);
    } else if (msg.event === 'left') {
      say(`microphone: ${role} ${msg.member_id} left the call`);
    } else if (msg.event === 'joined') {
      me.joined = true;
      stats.micMember = msg.member_id;
      $('mic-as').textContent = `${role} ${msg.member_id}`;
      say(`microphone joined ${mpc.mpc.friendly_name} as ${role} ${msg.member_id}`);
      poll();
    }
  };
  ws.onclose = () => { if (mic === me) leaveMic(); };
  $('mic-in').textContent = mpc.mpc.friendly_name;
  $('mic-as').textContent = role;
  $('mic').hidden = false;
  // The audio thread hands over 128-sample blocks; they go out a frame (frame_ms) at a time.
  const frame = Math.round(rate * live.frame_ms / 1000);
  let pending = new Int16Array(frame);
  let filled = 0;
  const send = (samples) => {
    if (!me.joined || ws.readyState !== WebSocket.OPEN) return;
    let peak = 0;
    for (let i = 0; i < samples.length; i++) {
      const v = Math.max(-1, Math.min(1, samples[i]));
      const s16 = v < 0 ? Math.round(v * 32768) : Math.round(v * 32767);
      pending[filled++] = s16;
      if (Math.abs(s16) > peak) peak = Math.abs(s16);
      if (filled === frame) {
        ws.send(pending.buffer);
        stats.micFramesSent += 1;
        stats.micSamplesSent += frame;
        pending = new Int16Array(frame);
        filled = 0;
      }
    }
    stats.micPeak = Math.max(stats.micPeak, peak);
    me.peak = Math.max(peak, me.peak * 0.9);
    $('mic-level').value = dbfs(me.peak);
  };
  try {
    const input = ctx.createMediaStreamSource(stream);
    if (ctx.audioWorklet) {
      await ctx.audioWorklet.addModule('/console/capture-worklet.js');
      const node = new AudioWorkletNode(ctx, 'mpcmix-capture', { numberOfInputs: 1, numberOfOutputs: 0 });
      node.port.onmessage = (event) => send(event.data);
      input.connect(node);
      me.node = node;
    } else { // an older browser: the deprecated node, on the page's thread
      const node = ctx.createScriptProcessor(1024, 1, 1);
      node.onaudioprocess = (event) => send(event.inputBuffer.getChannelData(0));
      input.connect(node);
      node.connect(ctx.destination);
      me.node = node;
    }
    await ctx.resume();
  } catch (e) {
    say(`microphone: ${e.message}`, true);
    leaveMic();
  }
}

// -- start --------------------------------------------------------------------------------------

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  creds = { id: $('auth-id').value.trim(), token: $('auth-token').value };
  sessionStorage.setItem('mpcmix-console', JSON.stringify(creds));
  say('connecting…');
  poll();
});
$('stop-listening').addEventListener('click', stopListening);
$('mic-leave').addEventListener('click', leaveMic);
try {
  creds = JSON.parse(sessionStorage.getItem('mpcmix-console') || 'null');
} catch (e) {
  creds = null;
}
if (creds) {
  $('auth-id').value = creds.id;
  $('auth-token').value = creds.token;
  poll();
}
