// keyward demo player: W3C Encrypted Media Extensions (EME) + Media Source Extensions (MSE),
// no third-party code. It shows each step of getting a ClearKey license from keyward.
//
// Tests read window.__keywardDemo:
//   { state: 'loading' | 'playing' | 'error', error, licenseRequest, licenseResponse, ... }
'use strict';

(function () {
  const KEY_SYSTEM = 'org.w3.clearkey';
  const TOKEN_URL = 'token'; // GET /demo/token
  const CLIP_URL = 'media/clip.json'; // GET /demo/media/clip.json
  const LICENSE_URL = '/ri/clearkey/licenseManager.do';
  const TOKEN_HEADER = 'pallycon-customdata-v2';
  const START_TIMEOUT_MS = 30000;

  const demo = (window.__keywardDemo = {
    state: 'loading',
    error: null,
    token: null,
    tokenJson: null,
    licenseRequest: null,
    licenseResponse: null,
    keyStatuses: {},
  });

  const $ = (id) => document.getElementById(id);
  const video = $('video');

  // ---- small helpers ---------------------------------------------------------------------

  function setStatus(text, cls) {
    const el = $('status');
    el.textContent = text;
    el.className = 'status ' + cls;
  }

  function step(name, how) {
    const li = document.querySelector('[data-step="' + name + '"]');
    if (li) li.className = how; // 'active' | 'done' | 'failed'
  }

  function show(id, text) {
    $(id).textContent = text;
  }

  function fail(message, stepName) {
    if (demo.state === 'error') return;
    demo.state = 'error';
    demo.error = message;
    if (stepName) step(stepName, 'failed');
    setStatus('Stopped: see the explanation below', 'error');
    const el = $('error');
    el.hidden = false;
    el.textContent = message;
    console.error('[keyward demo] ' + message);
  }

  // Standard or URL-safe base64 (with or without padding) -> bytes.
  function base64ToBytes(s) {
    let b = s.replace(/-/g, '+').replace(/_/g, '/');
    while (b.length % 4) b += '=';
    const bin = atob(b);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function bytesToBase64(bytes) {
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function utf8(bytes) {
    return new TextDecoder().decode(bytes);
  }

  function once(target, event) {
    return new Promise((resolve) => target.addEventListener(event, resolve, { once: true }));
  }

  async function fetchJson(url, what) {
    let resp;
    try {
      resp = await fetch(url, { cache: 'no-store' });
    } catch (e) {
      throw new Error('Could not reach ' + what + ' (' + url + '): ' + e.message);
    }
    const text = await resp.text();
    if (!resp.ok) throw new Error(what + ' answered HTTP ' + resp.status + ': ' + text.slice(0, 300));
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new Error(what + ' did not answer JSON: ' + text.slice(0, 300));
    }
  }

  // ---- step 1: the token -----------------------------------------------------------------

  async function loadToken() {
    step('token', 'active');
    setStatus('Getting a license token…', 'loading');
    const info = await fetchJson(TOKEN_URL, 'the demo token endpoint');
    if (typeof info.token !== 'string') throw new Error('/demo/token did not include a token');
    demo.token = info.token;
    show('token-raw', info.token);
    try {
      demo.tokenJson = JSON.parse(utf8(base64ToBytes(info.token)));
      const shown = Object.assign({}, demo.tokenJson);
      show('token-json', JSON.stringify(shown, null, 2) +
        '\n\n// policy: encrypted with the site key; only keyward can read it.' +
        '\n// hash:   SHA-256 over the access key and the fields above; keyward recomputes it.');
    } catch (e) {
      show('token-json', '(this token is not base64 JSON: ' + e.message + ')');
    }
    if (info.notice) {
      $('token-notice').hidden = false;
      $('token-notice').textContent = info.notice;
    }
    step('token', 'done');
    return info.token;
  }

  // ---- step 2: the key system ------------------------------------------------------------

  async function setUpKeys(clip) {
    step('eme', 'active');
    setStatus('Asking the browser for ClearKey…', 'loading');
    if (!navigator.requestMediaKeySystemAccess) {
      throw new Error('This browser has no Encrypted Media Extensions (EME). ' +
        'EME needs a secure context: open the page over https:// or from localhost / 127.0.0.1.');
    }
    const config = [{
      initDataTypes: ['cenc', 'keyids'],
      videoCapabilities: [{ contentType: clip.video.mime + '; codecs="' + clip.video.codecs + '"' }],
      audioCapabilities: [{ contentType: clip.audio.mime + '; codecs="' + clip.audio.codecs + '"' }],
    }];
    let access;
    try {
      access = await navigator.requestMediaKeySystemAccess(KEY_SYSTEM, config);
    } catch (e) {
      throw new Error('The browser refused ClearKey for H.264/AAC MP4: ' + e.message);
    }
    const mediaKeys = await access.createMediaKeys();
    await video.setMediaKeys(mediaKeys);
    step('eme', 'done');
    return mediaKeys;
  }

  // ---- step 4/5: license for each distinct init data -------------------------------------

  function listenForEncrypted(mediaKeys, token) {
    const seen = new Set();
    video.addEventListener('encrypted', (ev) => {
      // Audio and video carry the same PSSH here; one session serves both.
      const id = ev.initDataType + ':' + bytesToBase64(new Uint8Array(ev.initData));
      if (seen.has(id)) return;
      seen.add(id);
      requestLicense(mediaKeys, token, ev.initDataType, ev.initData).catch((e) =>
        fail(e.message, demo.licenseResponse ? 'update' : 'license'));
    });
  }

  async function requestLicense(mediaKeys, token, initDataType, initData) {
    step('license', 'active');
    setStatus('Requesting a license…', 'loading');
    const session = mediaKeys.createSession('temporary');
    session.addEventListener('keystatuseschange', () => {
      session.keyStatuses.forEach((status, kid) => {
        const bytes = ArrayBuffer.isView(kid)
          ? new Uint8Array(kid.buffer, kid.byteOffset, kid.byteLength)
          : new Uint8Array(kid);
        demo.keyStatuses[hex(bytes)] = status;
      });
    });
    const message = new Promise((resolve) => session.addEventListener('message', resolve, { once: true }));
    await session.generateRequest(initDataType, initData);
    const ev = await message;

    // The request body is written by the browser's ClearKey module.
    const body = new Uint8Array(ev.message);
    const requestJson = JSON.parse(utf8(body));
    demo.licenseRequest = requestJson;
    const kidsHex = (requestJson.kids || []).map((k) => hex(base64ToBytes(k)));
    show('license-request',
      'POST ' + LICENSE_URL + '\n' + TOKEN_HEADER + ': ' + token.slice(0, 32) + '…\n\n' +
      JSON.stringify(requestJson, null, 2) +
      '\n\n// kids in hex: ' + kidsHex.join(', '));

    let resp;
    try {
      // No Content-Type: the body is the CDM message as is, like shaka-player sends it.
      resp = await fetch(LICENSE_URL, { method: 'POST', headers: { [TOKEN_HEADER]: token }, body });
    } catch (e) {
      throw new Error('Could not reach the license server: ' + e.message);
    }
    const text = await resp.text();
    let responseJson;
    try {
      responseJson = JSON.parse(text);
    } catch (e) {
      demo.licenseResponse = { httpStatus: resp.status, body: text.slice(0, 500) };
      show('license-response', 'HTTP ' + resp.status + '\n\n' + text.slice(0, 2000));
      throw new Error('The license server answered HTTP ' + resp.status + ' with something that is not JSON.');
    }
    demo.licenseResponse = responseJson;
    const requestId = resp.headers.get('x-request-id');
    show('license-response',
      'HTTP ' + resp.status + (requestId ? '   x-request-id: ' + requestId : '') + '\n\n' +
      JSON.stringify(responseJson, null, 2));
    if (responseJson.errorCode) {
      throw new Error('keyward refused the license: error ' + responseJson.errorCode +
        (responseJson.message ? ' (' + responseJson.message + ')' : '') +
        '. 7010: no token was sent; 7011: the token has expired (reload the page for a new one); ' +
        '7019: the token was changed after it was made.');
    }
    if (!resp.ok) throw new Error('The license server answered HTTP ' + resp.status + '.');
    step('license', 'done');

    step('update', 'active');
    try {
      await session.update(new TextEncoder().encode(text));
    } catch (e) {
      throw new Error('The browser rejected the license: ' + e.message);
    }
    step('update', 'done');
    setStatus('License accepted, starting playback…', 'loading');
  }

  // ---- step 3: the media -----------------------------------------------------------------

  function appendAll(sourceBuffer, urls) {
    return urls.reduce((prev, url) => prev.then(async () => {
      const resp = await fetch(url);
      if (!resp.ok) throw new Error('Could not load ' + url + ' (HTTP ' + resp.status + ')');
      const data = await resp.arrayBuffer();
      sourceBuffer.appendBuffer(data);
      await once(sourceBuffer, 'updateend');
    }), Promise.resolve());
  }

  async function loadMedia(clip) {
    step('media', 'active');
    const mediaSource = new MediaSource();
    video.src = URL.createObjectURL(mediaSource);
    await once(mediaSource, 'sourceopen');
    const base = new URL(CLIP_URL, location.href);
    const tracks = [clip.video, clip.audio].map((t) => {
      const type = t.mime + '; codecs="' + t.codecs + '"';
      if (!MediaSource.isTypeSupported(type)) throw new Error('This browser cannot play ' + type);
      const sb = mediaSource.addSourceBuffer(type);
      return appendAll(sb, [t.init].concat(t.segments).map((f) => new URL(f, base).href));
    });
    await Promise.all(tracks);
    mediaSource.endOfStream();
    step('media', 'done');
  }

  // ---- step 6: playing -------------------------------------------------------------------

  function watchPlayback() {
    step('play', 'active');
    video.addEventListener('timeupdate', () => {
      if (demo.state === 'loading' && video.currentTime > 0.2) {
        demo.state = 'playing';
        step('play', 'done');
        setStatus('Playing: decrypted with the key from keyward', 'playing');
      }
    });
    video.addEventListener('waitingforkey', () => {
      if (demo.state === 'loading') setStatus('Waiting for the key…', 'loading');
    });
    video.addEventListener('error', () => {
      const err = video.error;
      fail('The video element failed: ' + (err ? 'code ' + err.code + ' ' + (err.message || '') : 'unknown error') +
        '. A wrong content key makes the decoder fail like this.', 'play');
    });
    setTimeout(() => {
      if (demo.state === 'loading') {
        fail('Playback did not start within ' + START_TIMEOUT_MS / 1000 + ' s. Check the steps above.', 'play');
      }
    }, START_TIMEOUT_MS);
  }

  // ---- main ------------------------------------------------------------------------------

  async function main() {
    video.muted = true;
    let token;
    try {
      token = await loadToken();
    } catch (e) {
      return fail(e.message, 'token');
    }
    let clip;
    let mediaKeys;
    try {
      clip = await fetchJson(CLIP_URL, 'the clip description');
      $('kid').textContent = clip.kid;
      mediaKeys = await setUpKeys(clip);
    } catch (e) {
      return fail(e.message, 'eme');
    }
    listenForEncrypted(mediaKeys, token);
    watchPlayback();
    try {
      await loadMedia(clip);
    } catch (e) {
      return fail(e.message, 'media');
    }
    try {
      await video.play();
    } catch (e) {
      // Autoplay of muted video is allowed almost everywhere; otherwise wait for a click.
      setStatus('Click the video to start playback', 'loading');
      video.controls = true;
    }
  }

  main();
})();
