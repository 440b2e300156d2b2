// Test harness around shaka-player: window.runShaka(opts) loads a manifest with ClearKey,
// adds the license token header, captures license requests/responses and player errors
// into window.__result for the Node side to assert on.
'use strict';

window.__result = {
  loaded: false,
  errors: [],
  licenseRequests: [],
  licenseResponses: [],
  keyStatuses: {},
  playErrors: [],
};

function textOf(buf) {
  return new TextDecoder().decode(buf instanceof ArrayBuffer ? new Uint8Array(buf) : buf);
}

function errorInfo(e) {
  if (e && e.code !== undefined) {
    return { code: e.code, category: e.category, severity: e.severity, data: JSON.stringify(e.data || []).slice(0, 500) };
  }
  return { code: -1, message: String(e && e.message || e) };
}

/**
 * opts: {manifestUrl, licenseUrl?, token?, tokenHeader?, clearKeys?}
 * With licenseUrl the token (if any) is sent in tokenHeader (default pallycon-customdata-v2).
 */
window.runShaka = async function runShaka(opts) {
  const r = window.__result;
  shaka.polyfill.installAll();
  if (!shaka.Player.isBrowserSupported()) throw new Error('shaka: browser not supported');
  const video = document.getElementById('video');
  video.muted = true;
  const player = new shaka.Player();
  await player.attach(video);
  window.__player = player;
  player.addEventListener('error', (ev) => r.errors.push(errorInfo(ev.detail)));
  player.addEventListener('keystatuschanged', () => {
    r.keyStatuses = player.getKeyStatuses();
  });

  const drm = {};
  if (opts.clearKeys) drm.clearKeys = opts.clearKeys;
  if (opts.licenseUrl) drm.servers = { 'org.w3.clearkey': opts.licenseUrl };
  player.configure({ drm, streaming: { retryParameters: { maxAttempts: 1 } }, manifest: { retryParameters: { maxAttempts: 1 } } });
  player.configure('drm.retryParameters.maxAttempts', 1);

  const LICENSE = shaka.net.NetworkingEngine.RequestType.LICENSE;
  const net = player.getNetworkingEngine();
  net.registerRequestFilter((type, request) => {
    if (type !== LICENSE) return;
    if (opts.token) request.headers[opts.tokenHeader || 'pallycon-customdata-v2'] = opts.token;
    r.licenseRequests.push({
      uri: request.uris[0],
      headers: Object.assign({}, request.headers),
      body: textOf(request.body),
    });
  });
  net.registerResponseFilter((type, response) => {
    if (type !== LICENSE) return;
    r.licenseResponses.push({
      uri: response.uri,
      status: response.status,
      headers: Object.assign({}, response.headers),
      body: textOf(response.data),
    });
  });

  try {
    await player.load(opts.manifestUrl);
    r.loaded = true;
    await video.play().catch((e) => r.playErrors.push(String(e && e.message || e)));
  } catch (e) {
    r.errors.push(errorInfo(e));
  }
};
