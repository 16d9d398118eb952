// Chorus web phone (issue #18): dials a room over SIP-over-WebSocket with
// JsSIP, audio only, and shows the room's members and talkers from the
// conference event package (RFC 4575) subscribed over the same WebSocket.
// Plain JS, no framework; every script comes from this origin (the server's
// Content-Security-Policy allows nothing else).
//
// ?test=1 also feeds the received audio to a WebAudio analyser and exposes
// window.chorusTest for the browser tests.
'use strict';

(() => {
  const NS_CONFERENCE = 'urn:ietf:params:xml:ns:conference-info';
  const NS_CHORUS = 'urn:x-chorus:params:xml:ns:conference-info';
  const ROOM_PATTERN = /^[A-Za-z0-9\-_.!~*'()]{1,64}$/;
  const params = new URLSearchParams(location.search);
  const testMode = params.get('test') === '1';
  const $ = (id) => document.getElementById(id);

  // What the page knows; chorusTest.state() returns a copy.
  const state = {
    phase: 'idle',         // idle | connecting | calling | in-call | ended | failed
    connected: false,      // the WebSocket
    subscription: 'none',  // none | pending | active | terminated | failed
    notifies: 0,
    version: 0,
    muted: false,
    held: false,
    callStatus: 0,  // the INVITE's final status, 0 while none
    callReason: '',
    error: '',
    dtmfSent: '',
  };

  let config = null;
  let ua = null;
  let session = null;
  let subscriber = null;
  // The roster: user entity → { entity, display, endpoints: Map(entity →
  // { entity, display, status, media: Map(id → { status, talking }) }) }.
  let users = new Map();
  let remoteStream = null;
  let audioContext = null;
  let analyser = null;

  function setStatus(text, isError) {
    $('status').textContent = text;
    $('status').classList.toggle('error', Boolean(isError));
  }

  function roomFromLocation() {
    const match = /^\/join\/([^/]+)$/.exec(location.pathname);
    let room = match ? match[1] : params.get('room') || '';
    try {
      room = decodeURIComponent(room);
    } catch {
      room = '';
    }
    return ROOM_PATTERN.test(room) ? room : '';
  }

  function hostName() {
    return location.hostname;  // "[::1]" keeps its brackets, as a URL needs
  }

  function socketUrl() {
    if (config.wss_url) return config.wss_url;
    if (config.wss_port) return `wss://${hostName()}:${config.wss_port}`;
    // Plain WS only for a page that is itself plain (loopback tests).
    if (location.protocol === 'http:' && config.ws_port)
      return `ws://${hostName()}:${config.ws_port}`;
    return '';
  }

  function sipDomain() { return config.sip_domain || hostName(); }

  // ---- RFC 4575 conference-info ------------------------------------------

  function children(element, name, ns = NS_CONFERENCE) {
    const out = [];
    for (const child of element.children) {
      if (child.localName === name && child.namespaceURI === ns) out.push(child);
    }
    return out;
  }

  function childText(element, name, ns = NS_CONFERENCE) {
    const child = children(element, name, ns)[0];
    return child ? child.textContent.trim() : undefined;
  }

  function applyMedia(endpoint, element) {
    const id = element.getAttribute('id') || 'audio';
    const media = endpoint.media.get(id) || {status: '', talking: false};
    const status = childText(element, 'status');
    if (status !== undefined) media.status = status;
    const talking = childText(element, 'talking', NS_CHORUS);
    if (talking !== undefined) media.talking = talking === 'true';
    endpoint.media.set(id, media);
  }

  // §4.6: state "full" replaces the element, "partial" changes what it
  // carries, "deleted" removes it.
  function applyEndpoint(user, element) {
    const entity = element.getAttribute('entity') || '';
    const elementState = element.getAttribute('state') || 'full';
    if (elementState === 'deleted') {
      user.endpoints.delete(entity);
      return;
    }
    let endpoint = user.endpoints.get(entity);
    if (!endpoint || elementState === 'full') {
      endpoint = {entity, display: '', status: '', media: new Map()};
      user.endpoints.set(entity, endpoint);
    }
    const display = childText(element, 'display-text');
    if (display !== undefined) endpoint.display = display;
    const status = childText(element, 'status');
    if (status !== undefined) endpoint.status = status;
    for (const media of children(element, 'media')) applyMedia(endpoint, media);
  }

  function applyUser(element) {
    const entity = element.getAttribute('entity') || '';
    const elementState = element.getAttribute('state') || 'full';
    if (elementState === 'deleted') {
      users.delete(entity);
      return;
    }
    let user = users.get(entity);
    if (!user || elementState === 'full') {
      user = {entity, display: '', endpoints: new Map()};
      users.set(entity, user);
    }
    const display = childText(element, 'display-text');
    if (display !== undefined) user.display = display;
    for (const endpoint of children(element, 'endpoint')) applyEndpoint(user, endpoint);
  }

  // Returns false for a document that cannot be applied (parse error, an
  // old version); the caller then asks for the full state again.
  function applyConferenceInfo(xml) {
    const doc = new DOMParser().parseFromString(xml, 'application/xml');
    const root = doc.documentElement;
    if (!root || root.localName !== 'conference-info' || root.namespaceURI !== NS_CONFERENCE) {
      return false;
    }
    const version = Number(root.getAttribute('version') || '0');
    const docState = root.getAttribute('state') || 'full';
    if (docState === 'deleted') {
      users = new Map();
      state.version = version;
      return true;
    }
    if (docState === 'partial') {
      // §4.1: a partial document applies only on top of version - 1.
      if (version !== state.version + 1) return false;
    } else if (version < state.version) {
      return false;
    }
    state.version = version;
    const usersElement = children(root, 'users')[0];
    if (usersElement) {
      if (docState === 'full' || usersElement.getAttribute('state') === 'full') users = new Map();
      for (const user of children(usersElement, 'user')) applyUser(user);
    } else if (docState === 'full') {
      users = new Map();
    }
    return true;
  }

  // One entry per endpoint still in the conference (members, not SIP users:
  // one user may call in twice).
  function rosterEntries() {
    const out = [];
    for (const user of users.values()) {
      for (const endpoint of user.endpoints.values()) {
        if (endpoint.status === 'disconnected' || endpoint.status === 'disconnecting') continue;
        let talking = false;
        let mediaStatus = '';
        for (const media of endpoint.media.values()) {
          talking = talking || media.talking;
          mediaStatus = mediaStatus || media.status;
        }
        out.push({
          user: user.entity,
          entity: endpoint.entity,
          name: endpoint.display || user.display || user.entity.replace(/^sips?:/, ''),
          status: endpoint.status,
          media: mediaStatus,
          talking,
        });
      }
    }
    return out;
  }

  const STATUS_TEXT = {
    'muted-via-focus': 'muted',
    'on-hold': 'on hold',
    pending: 'waiting',
    'dialing-out': 'calling',
    alerting: 'ringing',
    connected: '',
  };

  function renderRoster() {
    const list = $('roster');
    const entries = rosterEntries();
    const items = entries.map((entry) => {
      const item = document.createElement('li');
      item.className = 'member';
      item.dataset.entity = entry.entity;
      const talking = document.createElement('span');
      talking.className = 'talking' + (entry.talking ? ' on' : '');
      talking.title = entry.talking ? 'talking' : '';
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = entry.name;  // text, never markup: names come from callers
      const status = document.createElement('span');
      status.className = 'member-status';
      status.textContent = STATUS_TEXT[entry.status] ?? entry.status;
      item.append(talking, name, status);
      return item;
    });
    list.replaceChildren(...items);
    $('count').textContent = String(entries.length);
    $('roster-section').hidden = false;
  }

  // ---- SIP ----------------------------------------------------------------

  function subscribe(room) {
    subscriber = ua.subscribe(
        `sip:${room}@${sipDomain()}`, 'conference', 'application/conference-info+xml', {
          expires: 600,
          contentType: 'application/conference-info+xml',
        });
    state.subscription = 'pending';
    subscriber.on('accepted', () => {
      state.subscription = 'active';
    });
    subscriber.on('active', () => {
      state.subscription = 'active';
    });
    subscriber.on('notify', (isFinal, request, body) => {
      state.notifies += 1;
      if (body && !applyConferenceInfo(body)) {
        // Out of order or unreadable: a refresh brings the full document.
        state.version = 0;
        subscriber.subscribe();
        return;
      }
      renderRoster();
    });
    subscriber.on('terminated', (code, reason) => {
      state.subscription = code === 6 ? 'terminated' : 'failed';  // 6: final NOTIFY
      if (reason) console.info('conference subscription ended:', reason);
    });
    subscriber.subscribe();
  }

  function attachRemote(stream) {
    remoteStream = stream;
    const audio = $('remote-audio');
    // Chromium feeds a remote track to WebAudio only while an element plays
    // it too; in test mode that element is muted and WebAudio measures.
    audio.muted = testMode;
    audio.srcObject = stream;
    audio.play().catch(() => {});
    if (testMode && audioContext) {
      analyser = audioContext.createAnalyser();
      analyser.fftSize = 8192;
      audioContext.createMediaStreamSource(stream).connect(analyser);
    }
  }

  function setPhase(phase) {
    state.phase = phase;
    const inCall = phase === 'calling' || phase === 'in-call';
    $('call').hidden = !inCall;
    $('join').disabled = inCall || phase === 'connecting';
    for (const input of $('join-form').querySelectorAll('input')) input.disabled = inCall;
    updateButtons();
  }

  function updateButtons() {
    const live = state.phase === 'in-call';
    $('mute').disabled = !live;
    $('hold').disabled = !live;
    $('mute').textContent = state.muted ? 'Unmute' : 'Mute';
    $('hold').textContent = state.held ? 'Resume' : 'Hold';
    for (const key of $('keypad').querySelectorAll('button')) key.disabled = !live || state.held;
  }

  // Tells the focus too, with an action URN on our own dialog (README
  // "Action URNs": a member acting on its own call needs no right), so the
  // roster shows the member muted. Refer-Sub: false asks for no NOTIFYs.
  function referAction(action) {
    const dialog = session && session._dialog ? session._dialog.id : null;
    if (!dialog) return;
    session.sendRequest(JsSIP.C.REFER, {
      extraHeaders: [
        `Refer-To: <urn:sip-action:${action}>`,
        `Target-Dialog: ${dialog.call_id};local-tag=${dialog.remote_tag};remote-tag=${
            dialog.local_tag}`,
        'Refer-Sub: false',
      ],
      eventHandlers: {
        onErrorResponse: (response) =>
            console.warn(`${action} refused: ${response.status_code} ${response.reason_phrase}`),
      },
    });
  }

  function toggleMute() {
    if (!session) return;
    state.muted = !state.muted;
    // Our microphone first: silence does not wait for the server.
    if (state.muted)
      session.mute({audio: true});
    else
      session.unmute({audio: true});
    referAction(state.muted ? 'call:mute' : 'call:unmute');
    updateButtons();
  }

  function toggleHold() {
    if (!session) return;
    // RFC 3264 §8.4: a re-INVITE with a=sendonly (JsSIP's hold()).
    if (state.held)
      session.unhold();
    else
      session.hold();
  }

  function sendTone(tone) {
    if (!session || state.phase !== 'in-call') return;
    // RFC 4733 events through the RTP sender, not SIP INFO (JsSIP's default).
    session.sendDTMF(tone, {transportType: 'RFC2833', duration: 160, interToneGap: 70});
    state.dtmfSent += tone;
  }

  function failureText(cause, message) {
    if (message && message.status_code) {
      state.callStatus = message.status_code;
      state.callReason = message.reason_phrase || '';
      return `${message.status_code} ${message.reason_phrase || ''}`.trim();
    }
    return cause || 'unknown error';
  }

  function startCall(room) {
    const pin = $('pin').value.trim();
    // Rooms with a PIN take it in the Request-URI (README "Rooms").
    const target = `sip:${room}@${sipDomain()}` + (pin ? `;pin=${encodeURIComponent(pin)}` : '');
    state.callStatus = 0;
    state.callReason = '';
    state.muted = false;
    state.held = false;
    setPhase('calling');
    setStatus(`Calling ${room}…`);
    session = ua.call(target, {
      mediaConstraints: {audio: true, video: false},
      rtcOfferConstraints: {offerToReceiveAudio: true, offerToReceiveVideo: false},
      pcConfig: {iceServers: [], rtcpMuxPolicy: 'require', bundlePolicy: 'max-bundle'},
      eventHandlers: {
        peerconnection: (e) => {
          e.peerconnection.addEventListener('track', (event) => {
            attachRemote(event.streams[0] || new MediaStream([event.track]));
          });
        },
        confirmed: () => {
          setPhase('in-call');
          setStatus(`In ${room}`);
        },
        hold: (e) => {
          if (e.originator === 'local') state.held = true;
          setStatus(`In ${room} (on hold)`);
          updateButtons();
        },
        unhold: (e) => {
          if (e.originator === 'local') state.held = false;
          setStatus(`In ${room}`);
          updateButtons();
        },
        failed: (e) => {
          const text = failureText(e.cause, e.message);
          state.error = text;
          session = null;
          setPhase('failed');
          setStatus(`Could not join ${room}: ${text}`, true);
        },
        ended: (e) => {
          session = null;
          setPhase('ended');
          setStatus(
              e.originator === 'local' ? 'You left the room.' : `The call ended (${e.cause}).`);
        },
      },
    });
  }

  function join(event) {
    event.preventDefault();
    const room = $('room').value.trim();
    const name = $('name').value.trim();
    if (!ROOM_PATTERN.test(room))
      return setStatus('Room names are letters, digits and -_.!~*\'()', true);
    if (!name) return setStatus('Please enter your name.', true);
    if (testMode && !audioContext) audioContext = new AudioContext();  // in the click's gesture
    if (ua && state.connected) {
      startCall(room);
      return;
    }
    const url = socketUrl();
    if (!url) return setStatus('This server has no WebSocket for SIP (sip.wss_port).', true);
    const user = $('user').value.trim();
    const password = $('password').value;
    const localUser = user || 'web-' + Math.random().toString(36).slice(2, 10);
    setPhase('connecting');
    setStatus('Connecting…');
    try {
      ua = new JsSIP.UA({
        sockets: [new JsSIP.WebSocketInterface(url)],
        uri: `sip:${encodeURIComponent(localUser)}@${sipDomain()}`,
        display_name: name,
        authorization_user: user || undefined,
        password: password || undefined,
        register: false,
        user_agent: 'Chorus web phone (JsSIP)',
        connection_recovery_min_interval: 2,
        connection_recovery_max_interval: 30,
      });
    } catch (error) {
      ua = null;
      state.error = String(error.message || error);
      setPhase('failed');
      setStatus(`Cannot start: ${state.error}`, true);
      return;
    }
    ua.on('connected', () => {
      const first = !state.connected && state.subscription === 'none';
      state.connected = true;
      if (first) {
        subscribe(room);
        startCall(room);
      } else {
        // A reconnected WebSocket: the server closes a connection that has
        // delivered no SIP message within its handshake timeout (10 s), and
        // nothing else may be due for minutes, so say something at once.
        try {
          ua.sendOptions(`sip:${room}@${sipDomain()}`);
        } catch (error) {
          console.warn('OPTIONS after reconnecting:', error);
        }
      }
    });
    ua.on('disconnected', (e) => {
      state.connected = false;
      if (state.phase === 'connecting') {
        state.error = 'cannot reach ' + url;
        setPhase('failed');
        setStatus(`Cannot reach the server (${url}).`, true);
      } else if (e && e.error) {
        setStatus('Connection lost; reconnecting…', true);
      }
    });
    ua.start();
  }

  function hangUp() {
    if (session) session.terminate();
    if (subscriber) subscriber.terminate();
    subscriber = null;
    state.subscription = 'none';
    if (ua) ua.stop();
    ua = null;
    state.connected = false;
    users = new Map();
    state.version = 0;
    renderRoster();
    setPhase('ended');
    setStatus('You left the room.');
  }

  // ---- test hooks ------------------------------------------------------------

  // The received audio's amplitude at freqHz (0..1 of full scale) over the
  // analyser's last 8192 samples: the Goertzel recurrence at that bin.
  function goertzel(freqHz) {
    if (!analyser) return 0;
    const samples = new Float32Array(analyser.fftSize);
    analyser.getFloatTimeDomainData(samples);
    const n = samples.length;
    const k = Math.round((n * freqHz) / audioContext.sampleRate);
    const coefficient = 2 * Math.cos((2 * Math.PI * k) / n);
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const s0 = samples[i] + coefficient * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    const power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    return (2 * Math.sqrt(Math.max(0, power))) / n;
  }

  if (testMode) {
    window.chorusTest = {
      goertzel,
      roster: rosterEntries,
      state: () => ({...state, hasRemoteAudio: Boolean(remoteStream)}),
      // The call's RTCPeerConnection as the browser sees it: the offer it
      // sent, the answer it accepted, and where ICE and DTLS stand.
      peer: () => {
        const pc = session && session.connection;
        if (!pc) return null;
        return {
          signalingState: pc.signalingState,
          iceConnectionState: pc.iceConnectionState,
          connectionState: pc.connectionState,
          offer: pc.localDescription ? pc.localDescription.sdp : '',
          answerType: pc.remoteDescription ? pc.remoteDescription.type : '',
          answer: pc.remoteDescription ? pc.remoteDescription.sdp : '',
        };
      },
    };
  }

  // ---- start -------------------------------------------------------------------

  function start() {
    const room = roomFromLocation();
    if (room) {
      $('room').value = room;
      $('room-name').textContent = '· ' + room;
      document.title = `Chorus · ${room}`;
    }
    $('join-form').addEventListener('submit', join);
    $('mute').addEventListener('click', toggleMute);
    $('hold').addEventListener('click', toggleHold);
    $('hangup').addEventListener('click', hangUp);
    $('keypad').addEventListener('click', (e) => {
      const tone = e.target.dataset && e.target.dataset.tone;
      if (tone) sendTone(tone);
    });
    setPhase('idle');
    $('join').disabled = true;
    if (typeof JsSIP === 'undefined') {
      setStatus('The SIP library did not load.', true);
      return;
    }
    fetch('/web/config.json', {cache: 'no-store'})
        .then((response) => {
          if (!response.ok) throw new Error(`config.json: ${response.status}`);
          return response.json();
        })
        .then((loaded) => {
          config = loaded;
          $('join').disabled = false;
          setStatus(room ? 'Enter your name and join.' : 'Enter a room and your name.');
        })
        .catch((error) => setStatus(`Cannot load the page's settings: ${error.message}`, true));
  }

  start();
})();
