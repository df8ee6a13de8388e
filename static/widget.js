// Frontdesk chat widget: the visitor chat site owners embed (Shadow DOM UI + the WebSocket client of docs/protocol.md; see docs/widget.md).
(function () {
  'use strict';
  if (typeof window.frontdesk === 'function' && window.frontdesk.loaded) return; // the script was included twice

  /* ------------------------------------------------------------------ tuning */

  const BACKOFF_BASE_MS = 500; // first retry comes fast: most drops are short (deploys, network blips)
  const BACKOFF_CAP_MS = 30000; // a visitor never waits more than 30 s for a reconnect attempt
  const WELCOME_TIMEOUT_MS = 15000; // the server answers hello at once; a silent socket is stuck, so drop it
  const RETRY_DELAY_MS = 2000; // after rate_limited/internal, give the server a moment before resending
  const AGENT_TYPING_MS = 6000; // hide the typing indicator if the agent's `on:false` never arrives
  const VISITOR_TYPING_IDLE_MS = 3000; // send `typing {on:false}` after this much keyboard silence
  const STORED_MESSAGES = 200; // localStorage is small (~5 MB) and shared with the host site
  const PAGE_DEBOUNCE_MS = 300; // SPA routers set document.title just after pushState
  const NEAR_BOTTOM_PX = 80; // keep following new messages only when the visitor is already at the bottom
  const DEFAULT_COLOR = '#2f5bea';
  const DEFAULT_OFFSET_PX = 20;
  const Z_INDEX = 2147483000; // near the 32-bit maximum so host page overlays stay below the chat
  const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
  const URL_RE = /\bhttps?:\/\/[^\s<>"']*[^\s<>"'.,;:!?)\]]/g;
  const FINAL_ERRORS = ['empty_text', 'text_too_long', 'invalid_frame', 'invalid_attachment', 'stale_button', 'unknown_button']; // the frame can never succeed
  const RETRY_ERRORS = ['rate_limited', 'internal']; // the frame may succeed later, same client_id

  /* ------------------------------------------------------------------ texts */

  const TEXTS = {
    en: {
      title: 'Chat with us',
      open: 'Open chat',
      close: 'Close chat',
      unread: '{n} unread',
      placeholder: 'Write a message…',
      send: 'Send',
      attach: 'Attach a file',
      removeFile: 'Remove {name}',
      uploadFailed: 'Could not upload {name}',
      fileTooLarge: '{name} is too large',
      fileRefused: 'Files like {name} are not accepted',
      dropFiles: 'Drop files to attach them',
      online: 'Online',
      offline: 'Offline',
      reconnecting: 'Reconnecting…',
      typing: '{name} is typing…',
      agent: 'Agent',
      bot: 'Assistant',
      you: 'You',
      sending: 'Sending…',
      failed: 'Not sent',
      newConversation: 'New conversation',
      opensNewTab: 'opens in a new tab',
      dismiss: 'Dismiss',
      offlineTitle: 'We are offline right now',
      offlineIntro: 'Leave us a message and we will get back to you by email.',
      nameLabel: 'Name (optional)',
      emailLabel: 'Email',
      messageLabel: 'Message',
      offlineSend: 'Send message',
      emailInvalid: 'Please enter a valid email address.',
      messageRequired: 'Please write a message.',
      offlineThanks: 'Thank you! We will reply to {email} as soon as we can.',
      ratePrompt: 'How would you rate this conversation?',
      rateStar: '{n} of 5 stars',
      rateComment: 'Add a comment (optional)',
      rateSend: 'Send rating',
      rateThanks: 'Thank you for your feedback!',
      transcriptLink: 'Email me the transcript',
      transcriptTitle: 'Get this conversation by email',
      transcriptSend: 'Send transcript',
      transcriptThanks: 'The transcript is on its way to {email}.',
      transcriptLimit: 'You have asked for this transcript too often. Please try again later.',
      transcriptNone: 'There is nothing to send yet.',
      transcriptFailed: 'The transcript could not be sent. Please try again.',
      privacy: 'Privacy notice',
      waitingBusy: 'Thanks for your message! Our team will answer soon.',
      waitingOffline: 'Our team is offline right now. Leave your email and we will reply there too.',
      waitingSave: 'Save email',
      waitingOfflineKnown: 'Our team is offline right now. We will reply here and by email to {email}.',
      emailKnown: 'We will reply to {email}.',
      blocked: 'Chat is not available.',
      replyToday: 'We reply today at {time}.',
      replyTomorrow: 'We reply tomorrow at {time}.',
      replyWeekday: 'We reply on {day} at {time}.',
      replyDate: 'We reply on {date} at {time}.',
    },
    cs: {
      title: 'Napište nám',
      open: 'Otevřít chat',
      close: 'Zavřít chat',
      unread: 'nepřečtené: {n}',
      placeholder: 'Napište zprávu…',
      send: 'Odeslat',
      attach: 'Přiložit soubor',
      removeFile: 'Odebrat {name}',
      uploadFailed: 'Soubor {name} se nepodařilo nahrát',
      fileTooLarge: 'Soubor {name} je příliš velký',
      fileRefused: 'Soubory jako {name} nepřijímáme',
      dropFiles: 'Pusťte soubory sem a přiložte je',
      online: 'Online',
      offline: 'Offline',
      reconnecting: 'Obnovuji spojení…',
      typing: '{name} píše…',
      agent: 'Operátor',
      bot: 'Asistent',
      you: 'Vy',
      sending: 'Odesílám…',
      failed: 'Neodesláno',
      newConversation: 'Nová konverzace',
      opensNewTab: 'otevře se v novém panelu',
      dismiss: 'Zavřít',
      offlineTitle: 'Právě nejsme online',
      offlineIntro: 'Zanechte nám zprávu a odpovíme vám e-mailem.',
      nameLabel: 'Jméno (nepovinné)',
      emailLabel: 'E-mail',
      messageLabel: 'Zpráva',
      offlineSend: 'Odeslat zprávu',
      emailInvalid: 'Zadejte prosím platnou e-mailovou adresu.',
      messageRequired: 'Napište prosím zprávu.',
      offlineThanks: 'Děkujeme! Odpovíme vám na {email} co nejdříve.',
      ratePrompt: 'Jak hodnotíte tuto konverzaci?',
      rateStar: '{n} z 5 hvězdiček',
      rateComment: 'Přidejte komentář (nepovinné)',
      rateSend: 'Odeslat hodnocení',
      rateThanks: 'Děkujeme za hodnocení!',
      transcriptLink: 'Poslat přepis e-mailem',
      transcriptTitle: 'Získejte tuto konverzaci e-mailem',
      transcriptSend: 'Odeslat přepis',
      transcriptThanks: 'Přepis je na cestě na {email}.',
      transcriptLimit: 'O přepis jste požádali příliš často. Zkuste to prosím později.',
      transcriptNone: 'Zatím není co poslat.',
      transcriptFailed: 'Přepis se nepodařilo odeslat. Zkuste to prosím znovu.',
      privacy: 'Zásady ochrany osobních údajů',
      waitingBusy: 'Děkujeme za zprávu! Náš tým vám brzy odpoví.',
      waitingOffline: 'Náš tým teď není online. Nechte nám e-mail a odpovíme vám i tam.',
      waitingSave: 'Uložit e-mail',
      waitingOfflineKnown: 'Náš tým teď není online. Odpovíme vám tady i e-mailem na {email}.',
      emailKnown: 'Odpovíme vám na {email}.',
      blocked: 'Chat není k dispozici.',
      replyToday: 'Odpovíme dnes v {time}.',
      replyTomorrow: 'Odpovíme zítra v {time}.',
      replyWeekday: 'Odpovíme {date} v {time}.',
      replyDate: 'Odpovíme {date} v {time}.',
    },
  };

  /* ------------------------------------------------------------------ script tag, key, server */

  // document.currentScript, unless a loader injected us without the tag's attributes
  const script = [document.currentScript, document.querySelector('script[src*="widget.js"][data-key]')].find(
    (el) => el && el.getAttribute('data-key')
  );
  const KEY = script && script.getAttribute('data-key');
  if (!KEY) {
    console.warn('Frontdesk: the widget <script> tag needs a data-key attribute');
    return;
  }
  const SRC = new URL(script.src, location.href);
  const WS_URL =
    (SRC.protocol === 'https:' ? 'wss://' : 'ws://') +
    SRC.host +
    '/ws/widget?key=' +
    encodeURIComponent(KEY);
  const HTTP_BASE = SRC.protocol + '//' + SRC.host; // uploads and downloads of files
  const INLINE_IMAGES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp']; // shown as thumbnails

  /* ------------------------------------------------------------------ options */

  function safeUrl(value) {
    if (!value) return null;
    try {
      const url = new URL(String(value), location.href);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function readOptions() {
    const data = script.dataset;
    const js = window._frontdesk && typeof window._frontdesk === 'object' ? window._frontdesk : {};
    // data-privacy-notice-url, or data-privacyNoticeUrl (HTML lower-cases it to data-privacynoticeurl)
    const pick = (name) => (js[name] !== undefined ? js[name] : data[name] !== undefined ? data[name] : data[name.toLowerCase()]);
    const bool = (v, dflt) =>
      v === undefined || v === null ? dflt : !(v === false || v === 0 || v === 'false' || v === '0');
    const num = (v) => {
      const n = parseInt(v, 10);
      return isFinite(n) ? n : DEFAULT_OFFSET_PX;
    };
    const position = pick('position');
    return {
      hideWidget: bool(pick('hideWidget'), false),
      writable: bool(pick('writable'), true),
      triggerable: bool(pick('triggerable'), true),
      ratingEnabled: bool(pick('ratingEnabled'), true),
      transcriptEnabled: bool(pick('transcriptEnabled'), true),
      privacyNoticeUrl: safeUrl(pick('privacyNoticeUrl')),
      color: pick('color') ? String(pick('color')) : null,
      position: position === 'left' || position === 'right' ? position : null,
      language: pick('language') || null,
      offsetX: num(pick('offsetX')),
      offsetY: num(pick('offsetY')),
    };
  }

  const opts = readOptions();

  /* ------------------------------------------------------------------ storage (per widget key) */

  const PREFIX = 'frontdesk:' + KEY + ':';
  const memory = {}; // used when localStorage is unavailable (privacy modes, sandboxed frames)

  function load(name, dflt) {
    try {
      const raw = localStorage.getItem(PREFIX + name);
      return raw === null ? dflt : JSON.parse(raw);
    } catch (e) {
      return name in memory ? memory[name] : dflt;
    }
  }

  function store(name, value) {
    memory[name] = value;
    try {
      localStorage.setItem(PREFIX + name, JSON.stringify(value));
    } catch (e) {
      /* quota or disabled storage: memory keeps working for this page */
    }
  }

  /* ------------------------------------------------------------------ state */

  let token = load('token', null);
  let uploads = []; // files being attached to the next message: {name, state, file?, xhr?, error?}
  let convId = load('conversation_id', null);
  let lastSeq = load('last_seq', 0); // highest seq of convId held with no gap below it
  const ahead = new Set(); // seqs of convId held above a gap (arrived out of order)
  let outbox = load('outbox', []); // unacknowledged frames, in send order
  let msgs = load('transcript', []); // displayed messages, oldest first
  // a bubble left "sending" with no outbox entry was acked by another tab after this one saved it
  msgs.forEach((m) => m.state === 'sending' && !outbox.some((e) => e.client_id === m.client_id) && delete m.state);
  // {open, unread, conversation, widget, rated, offlineConv, offlineEmail, email}; `email` is the
  // visitor's email as far as this widget knows (the server's welcome/conversation frames, the
  // JS API, a form): once known, no form asks for it again.
  const ui = load('ui', {});
  let widgetCfg = ui.widget || {}; // the welcome frame's `widget` object (cached for the first paint)
  let conversation = ui.conversation || null;
  let language = shortLang(opts.language || navigator.language) || 'en';
  let online = null; // unknown until the first welcome
  let isOpen = !!ui.open;
  let unread = ui.unread || 0;
  const profile = {}; // name/email given through the JS API, prefilled in the offline form
  const handlers = { message_sent: [], message_received: [], chat_opened: [], chat_closed: [] };

  let ws = null;
  let ready = false; // welcome received on the current socket
  let attempt = 0;
  let reconnectTimer = 0;
  let welcomeTimer = 0;
  let blocked = false; // the server sent `error` `blocked`: no composer, no reconnecting for this page view
  let retryTimer = 0;
  let pending = []; // non-outbox frames waiting for the next welcome
  let lastPageUrl = location.href;
  let pageTimer = 0;
  let typingOn = false;
  let typingTimer = 0;
  let agentTypingTimer = 0;
  let offlineError = '';
  let hours = null; // the welcome's `business_hours`: {open, next_reply?}, null without hours
  let identity = null; // frontdesk('identify', {user_id, signature, email?, name?})
  let rateValue = 0;
  // The transcript form: open or not, the request in flight (its client_id), what went wrong,
  // where the last one went (for the thanks line).
  const transcript = { open: false, pending: null, error: '', sentTo: '' };

  function shortLang(code) {
    return String(code || '')
      .toLowerCase()
      .split(/[-_]/)[0];
  }

  function persist() {
    store('token', token);
    store('conversation_id', convId);
    store('last_seq', lastSeq);
    store('transcript', msgs.slice(-STORED_MESSAGES));
    ui.open = isOpen;
    ui.unread = unread;
    ui.conversation = conversation;
    ui.widget = widgetCfg;
    store('ui', ui);
  }

  // The outbox is merged into storage rather than overwritten, so two tabs never drop each other's entries.
  function outboxAdd(frame) {
    outbox.push(frame);
    store('outbox', load('outbox', []).concat([frame]));
  }

  function outboxRemove(clientId) {
    const entry = outbox.find((e) => e.client_id === clientId) || null;
    outbox = outbox.filter((e) => e.client_id !== clientId);
    store('outbox', load('outbox', []).filter((e) => e.client_id !== clientId));
    return entry;
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID(); // secure contexts only
    const b = new Uint8Array(16);
    if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => (x + 256).toString(16).slice(1)).join('');
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-');
  }

  function device() {
    const ua = navigator.userAgent;
    if (/iPad|Tablet/i.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)) return 'tablet';
    if (/Android/i.test(ua) && !/Mobile/i.test(ua)) return 'tablet';
    return /Mobi|iPhone|Android/i.test(ua) ? 'mobile' : 'desktop';
  }

  /* ------------------------------------------------------------------ texts and look */

  function t(key, vars) {
    const over = (widgetCfg && widgetCfg.texts) || {};
    const own = over[language] && typeof over[language] === 'object' ? over[language] : over;
    const base = TEXTS[language] || TEXTS.en;
    let s = typeof own[key] === 'string' ? own[key] : base[key] != null ? base[key] : TEXTS.en[key] || key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] != null ? vars[k] : ''));
    return s;
  }

  function textOn(hex) {
    const m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(String(hex).trim());
    if (!m) return '#fff';
    let h = m[1];
    if (h.length === 3) h = h.replace(/./g, '$&$&');
    const [r, g, b] = [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16) / 255);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.6 ? '#1d2433' : '#fff';
  }

  /* ------------------------------------------------------------------ styles and markup (static, no user data) */

  const CSS = `
:host{all:initial}
*{box-sizing:border-box}
[hidden]{display:none!important}
.root{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d2433;-webkit-font-smoothing:antialiased;text-align:left}
button,input,textarea{font:inherit;color:inherit;margin:0}
button{cursor:pointer}
:focus-visible{outline:2px solid var(--fd);outline-offset:2px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.launcher{position:fixed;z-index:${Z_INDEX};bottom:var(--oy);right:var(--ox);width:58px;height:58px;border-radius:50%;border:0;background:var(--fd);color:var(--fd-text);box-shadow:0 6px 24px rgba(15,23,42,.25);display:grid;place-items:center;transition:transform .15s}
.launcher:hover{transform:scale(1.06)}
.launcher svg{grid-area:1/1;transition:opacity .15s,transform .15s}
.launcher .i-close,.open .launcher .i-chat{opacity:0;transform:rotate(-30deg)}
.open .launcher .i-close{opacity:1;transform:none}
.badge{position:absolute;top:-3px;right:-3px;min-width:21px;height:21px;padding:0 6px;border-radius:11px;background:#e5484d;color:#fff;font-size:12px;font-weight:600;line-height:17px;text-align:center;border:2px solid #fff}
.left .launcher,.left .teaser,.left .panel{right:auto;left:var(--ox)}
.teaser{position:fixed;z-index:${Z_INDEX};bottom:calc(var(--oy) + 72px);right:var(--ox);max-width:280px;display:flex;align-items:flex-start;background:#fff;border-radius:14px;box-shadow:0 6px 28px rgba(15,23,42,.18);animation:up .2s ease-out}
.teaser-text{border:0;background:none;padding:12px 4px 12px 14px;text-align:left;display:-webkit-box;-webkit-line-clamp:4;-webkit-box-orient:vertical;overflow:hidden;white-space:pre-wrap;overflow-wrap:anywhere}
.teaser-x{border:0;background:none;color:#6b7280;width:30px;height:30px;margin:4px;border-radius:8px;display:grid;place-items:center;flex:none}
.teaser-x:hover{background:#f1f3f6}
.panel{position:fixed;z-index:${Z_INDEX};bottom:calc(var(--oy) + 72px);right:var(--ox);width:360px;height:520px;max-height:calc(100vh - var(--oy) - 92px);background:#fff;border-radius:16px;box-shadow:0 12px 48px rgba(15,23,42,.24);display:flex;flex-direction:column;overflow:hidden;animation:up .18s ease-out}
.nolauncher .panel{bottom:var(--oy);max-height:calc(100vh - 2 * var(--oy))}
@keyframes up{from{opacity:0;transform:translateY(8px)}}
header{background:var(--fd);color:var(--fd-text);padding:14px 12px 14px 18px;display:flex;align-items:center;gap:10px;flex:none}
.head{min-width:0;flex:1}
.title{font-weight:600;font-size:16px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.state{font-size:12px;opacity:.92;display:flex;align-items:center;gap:6px;margin-top:1px}
.dot{width:8px;height:8px;border-radius:50%;background:#a3abb8;box-shadow:0 0 0 2px rgba(255,255,255,.55)}
.is-online .dot{background:#2fc463}
.x{background:transparent;border:0;color:inherit;width:34px;height:34px;border-radius:9px;display:grid;place-items:center;flex:none}
.x:hover{background:rgba(127,127,127,.2)}
header :focus-visible{outline-color:currentColor}
.conn{background:#fff6dc;color:#6f5200;font-size:12px;padding:5px 16px;text-align:center;flex:none}
.body{flex:1;overflow-y:auto;scrollbar-width:thin;padding:14px 14px 10px;background:#f6f7f9;overscroll-behavior:contain}
.log{display:flex;flex-direction:column}
.row{display:flex;flex-direction:column}
.divider{align-self:stretch;display:flex;align-items:center;gap:10px;color:#5f6673;font-size:11px;text-transform:uppercase;letter-spacing:.04em;margin:14px 0 6px}
.divider:before,.divider:after{content:"";flex:1;border-top:1px solid #e1e4ea}
.msg{display:flex;flex-direction:column;align-items:flex-start;max-width:84%;margin-top:3px}
.msg.visitor{align-self:flex-end;align-items:flex-end}
.who{font-size:12px;color:#6b7280;margin:9px 0 3px 4px;display:flex;align-items:center;gap:6px}
.who img{width:20px;height:20px;border-radius:50%;object-fit:cover;flex:none}
.bubble{padding:8px 12px;border-radius:16px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}
.bubble a{color:inherit;text-decoration:underline}
.agent .bubble{background:#fff;border:1px solid #e4e7ec;border-bottom-left-radius:5px}
.bot .bubble{background:#e9edf5;border-bottom-left-radius:5px}
.visitor .bubble{background:var(--fd);color:var(--fd-text);border-bottom-right-radius:5px}
.sending .bubble{opacity:.5}
.failed .bubble{opacity:.65;box-shadow:0 0 0 1px #e5484d}
.note{font-size:11px;color:#5f6673;margin:2px 4px 0}
.failed .note{color:#c62828}
.msg.system{align-self:center;align-items:center;max-width:90%;font-size:12px;color:#5f6673;text-align:center;margin:8px 0;white-space:pre-wrap;overflow-wrap:anywhere}
.choices{display:flex;flex-wrap:wrap;gap:6px;margin-top:7px}
.choice{border:1px solid var(--fd);color:var(--fd);background:#fff;border-radius:999px;padding:5px 13px;font-size:13px;line-height:1.3}
.choice:hover:not(:disabled){background:var(--fd);color:var(--fd-text)}
.choice:disabled{border-color:#d7dbe2;color:#a0a7b3;cursor:default}
.choice.chosen:disabled{background:#e6e9ef;border-color:#e6e9ef;color:#4b5563}
.typing{font-size:12px;color:#6b7280;margin:8px 4px 0;display:flex;align-items:center;gap:6px}
.typing i{width:5px;height:5px;border-radius:50%;background:#9aa3b2;animation:blink 1.2s infinite}
.typing i:nth-child(2){animation-delay:.2s}.typing i:nth-child(3){animation-delay:.4s}
@keyframes blink{50%{opacity:.25}}
.card{background:#fff;border:1px solid #e4e7ec;border-radius:14px;padding:14px;margin:14px 0 4px}
.card p{margin:0 0 8px}
.card-title{font-weight:600}
.linkbtn{display:block;margin:12px auto 2px;border:0;background:none;padding:2px 4px;color:#4b5563;font-size:12px;text-decoration:underline;cursor:pointer}
.linkbtn:hover{color:#111827}
.muted{color:#6b7280;font-size:13px}
.thanks{text-align:center;color:#374151;margin-bottom:4px}
label{display:block;font-size:12px;font-weight:600;color:#4b5563;margin:10px 0 0}
.field{display:block;width:100%;margin-top:4px;border:1px solid #d5dae1;border-radius:10px;padding:8px 10px;background:#fff;font-weight:400;font-size:14px;outline:none}
.field:focus,.input:focus{border-color:var(--fd);box-shadow:0 0 0 1px var(--fd);outline:none}
.field[aria-invalid="true"]{border-color:#e5484d;box-shadow:0 0 0 1px #e5484d}
textarea.field{resize:vertical;min-height:64px}
.ferr{display:block;color:#c62828;font-size:12px;margin-top:4px}
.primary{margin-top:12px;width:100%;border:0;border-radius:10px;padding:10px;background:var(--fd);color:var(--fd-text);font-weight:600}
.primary:hover{filter:brightness(1.07)}
.stars{display:flex;justify-content:center;gap:4px;margin:4px 0}
.star{border:0;background:none;font-size:28px;line-height:1;color:#cfd4dc;padding:2px 3px;border-radius:6px}
.star.on{color:#f5a623}
.composer{display:flex;align-items:flex-end;gap:8px;padding:10px 12px;border-top:1px solid #eceef2;background:#fff;flex:none}
.attachbtn{width:36px;height:40px;border:0;background:none;color:#5f6673;display:grid;place-items:center;flex:none;border-radius:8px}
.attachbtn:hover{color:#1f2430;background:#f2f4f7}
.tray{display:flex;flex-wrap:wrap;gap:6px;padding:8px 12px 0;background:#fff;flex:none}
.tray:empty{display:none}
.upload{display:flex;align-items:center;gap:6px;max-width:100%;border:1px solid #dde1e7;border-radius:10px;padding:4px 6px 4px 10px;font-size:12px;background:#f8f9fb}
.upload .name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:150px}
.upload progress{width:60px;height:6px}
.upload.error{border-color:#e5484d;color:#b42318}
.upload.error .name{max-width:none;white-space:normal}
.upload button{border:0;background:none;padding:2px;line-height:1;color:inherit;border-radius:4px}
.files{display:flex;flex-direction:column;gap:4px;margin-top:4px;max-width:100%}
.thumb{display:block;max-width:200px;max-height:160px;border-radius:12px;border:1px solid #e4e7ec;background:#fff}
.filecard{display:flex;flex-direction:column;gap:1px;padding:8px 12px;border:1px solid #e4e7ec;border-radius:12px;background:#fff;color:#1f2430;text-decoration:none;font-size:13px;max-width:240px}
.filecard .meta{font-size:11px;color:#5f6673}
.dropping .body{outline:2px dashed var(--fd);outline-offset:-6px}
.input{flex:1;resize:none;border:1px solid #dde1e7;border-radius:20px;padding:9px 14px;max-height:120px;min-height:40px;height:40px;outline:none;background:#fff;line-height:1.45}
.sendbtn{width:40px;height:40px;border-radius:50%;border:0;background:var(--fd);color:var(--fd-text);display:grid;place-items:center;flex:none}
.sendbtn:hover{filter:brightness(1.07)}
.privacy{font-size:11px;text-align:center;padding:0 12px 8px;background:#fff;flex:none}
.body~.privacy{padding-top:8px;border-top:1px solid #eceef2}
.privacy a{color:#6b7280}
@media (max-width:480px){
.panel{top:0;left:0!important;right:0!important;bottom:0!important;width:100%;height:100%;max-height:none;border-radius:0;animation:none}
.open .launcher,.open .teaser{display:none}
}`;

  const ICON_CHAT =
    '<svg class="i-chat" width="28" height="28" viewBox="0 0 24 24" fill="currentColor" aria-hidden="true"><path d="M12 3C6.5 3 2 6.8 2 11.5c0 2.4 1.2 4.6 3.1 6.1L4.5 21l3.9-1.9c1.1.3 2.3.5 3.6.5 5.5 0 10-3.8 10-8.5S17.5 3 12 3z"/></svg>';
  const ICON_X =
    '<svg width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18"/></svg>';
  const ICON_SEND =
    '<svg width="18" height="18" viewBox="0 0 24 24" fill="currentColor" aria-hidden="true"><path d="M3.4 20.4l17.5-7.5a1 1 0 000-1.8L3.4 3.6a1 1 0 00-1.4 1.2L4.5 12l-2.5 7.2a1 1 0 001.4 1.2zM5.8 13h6.2v-2H5.8z"/></svg>';

  const SHELL = `
<div class="teaser" data-r="teaser" hidden>
  <button type="button" class="teaser-text" data-r="teaserText"></button>
  <button type="button" class="teaser-x" data-r="teaserX" data-ta="dismiss">${ICON_X}</button>
</div>
<div class="panel" id="fd-panel" data-r="panel" role="dialog" hidden>
  <header>
    <div class="head">
      <div class="title" data-r="title"></div>
      <div class="state" data-r="state"><span class="dot" aria-hidden="true"></span><span data-r="stateText"></span></div>
    </div>
    <button type="button" class="x" data-r="closeBtn" data-ta="close">${ICON_X}</button>
  </header>
  <div class="conn" role="status" data-r="conn" data-t="reconnecting" hidden></div>
  <div class="body" data-r="body">
    <div class="log" data-r="log" role="log" aria-live="polite" aria-relevant="additions"></div>
    <div class="typing" data-r="typing" aria-live="polite" hidden><i></i><i></i><i></i><span data-r="typingText"></span></div>
    <div class="card" data-r="rating" hidden>
      <p class="card-title" data-t="ratePrompt"></p>
      <div class="stars" data-r="stars" role="group" data-ta="ratePrompt"></div>
      <div data-r="rateMore" hidden>
        <textarea class="field" data-r="rateComment" rows="2" maxlength="2000" data-tp="rateComment" data-ta="rateComment"></textarea>
        <button type="button" class="primary" data-r="rateSend" data-t="rateSend"></button>
      </div>
    </div>
    <p class="card thanks" data-r="rateThanks" data-t="rateThanks" hidden></p>
    <div class="card waiting" data-r="waiting" role="status" hidden>
      <p data-r="waitingText"></p>
      <p class="muted" data-r="waitingHours" hidden></p>
      <form data-r="waitingForm" novalidate hidden>
        <label><span data-t="emailLabel"></span><input class="field" name="email" type="email" autocomplete="email" maxlength="320" required aria-required="true" aria-describedby="fd-wait-err"></label>
        <span class="ferr" id="fd-wait-err" data-r="waitingErr" data-t="emailInvalid" hidden></span>
        <button type="submit" class="primary" data-t="waitingSave"></button>
      </form>
    </div>
    <button type="button" class="linkbtn" data-r="transcriptBtn" data-t="transcriptLink" aria-controls="fd-transcript" hidden></button>
    <form class="card" id="fd-transcript" data-r="transcript" novalidate hidden>
      <p class="card-title" data-t="transcriptTitle"></p>
      <label><span data-t="emailLabel"></span><input class="field" name="email" type="email" autocomplete="email" maxlength="320" required aria-required="true" aria-describedby="fd-tr-err"></label>
      <p class="ferr" id="fd-tr-err" data-r="transcriptErr" role="alert" hidden></p>
      <button type="submit" class="primary" data-t="transcriptSend"></button>
    </form>
    <p class="card thanks" data-r="transcriptThanks" role="status" hidden></p>
    <form class="card" data-r="offline" novalidate hidden>
      <p class="card-title" data-t="offlineTitle"></p>
      <p class="muted" data-t="offlineIntro"></p>
      <p class="muted" data-r="offlineHours" hidden></p>
      <p class="muted" data-r="offlineKnown" hidden></p>
      <label><span data-t="nameLabel"></span><input class="field" name="name" autocomplete="name" maxlength="200"></label>
      <label data-r="offlineEmail"><span data-t="emailLabel"></span><input class="field" name="email" type="email" autocomplete="email" maxlength="320" required aria-required="true" aria-describedby="fd-email-err"></label>
      <span class="ferr" id="fd-email-err" data-r="emailErr" data-t="emailInvalid" hidden></span>
      <label><span data-t="messageLabel"></span><textarea class="field" name="text" rows="3" required aria-required="true" aria-describedby="fd-text-err"></textarea></label>
      <span class="ferr" id="fd-text-err" data-r="textErr" data-t="messageRequired" hidden></span>
      <p class="ferr" data-r="offlineErr" role="alert" hidden></p>
      <button type="submit" class="primary" data-t="offlineSend"></button>
    </form>
    <p class="card thanks" data-r="offlineThanks" hidden></p>
    <p class="card thanks" data-r="blockedNote" data-t="blocked" role="status" hidden></p>
  </div>
  <div class="tray" data-r="tray" aria-live="polite"></div>
  <form class="composer" data-r="composer">
    <button type="button" class="attachbtn" data-r="attach" data-ta="attach"><svg width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M21 11.5l-8.6 8.6a5 5 0 01-7.1-7.1l8.6-8.6a3.3 3.3 0 014.7 4.7l-8.6 8.6a1.7 1.7 0 01-2.4-2.4l7.9-7.9"/></svg></button>
    <input type="file" data-r="fileInput" multiple hidden>
    <textarea class="input" data-r="input" rows="1" data-tp="placeholder" data-ta="placeholder"></textarea>
    <button type="submit" class="sendbtn" data-ta="send">${ICON_SEND}</button>
  </form>
  <div class="privacy" data-r="privacy" hidden><a data-r="privacyLink" target="_blank" rel="noopener noreferrer" data-t="privacy"></a></div>
</div>
<button type="button" class="launcher" data-r="launcher" aria-controls="fd-panel">${ICON_CHAT}<svg class="i-close" width="24" height="24" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" aria-hidden="true"><path d="M6 9l6 6 6-6"/></svg><span class="badge" data-r="badge" aria-hidden="true" hidden></span></button>`;

  /* ------------------------------------------------------------------ DOM helpers */

  let root = null; // .root inside the shadow root
  const $ = {}; // elements by their data-r name
  const rows = new WeakMap(); // message object -> its .row element

  function h(tag, cls, text) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text != null) el.textContent = text;
    return el;
  }

  // Message text goes in as text nodes; only http(s) URLs become links (their text is textContent too).
  function fillText(el, text) {
    text = String(text == null ? '' : text);
    let last = 0;
    text.replace(URL_RE, (url, at) => {
      el.append(text.slice(last, at));
      const a = h('a', '', url);
      a.href = url;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      el.append(a);
      last = at + url.length;
    });
    el.append(text.slice(last));
  }

  function mount() {
    const host = document.createElement('frontdesk-widget');
    host.style.setProperty('all', 'initial', 'important');
    const shadow = host.attachShadow({ mode: 'open' });
    if (shadow.adoptedStyleSheets && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
      const sheet = new CSSStyleSheet(); // constructed sheets also work under a strict style-src CSP
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
    } else {
      shadow.append(h('style', '', CSS));
    }
    root = h('div', 'root');
    root.innerHTML = SHELL; // static markup only; every text is set with textContent below
    shadow.append(root);
    root.querySelectorAll('[data-r]').forEach((el) => ($[el.dataset.r] = el));
    buildStars();
    bindUi();
    msgs.forEach(insertRow);
    applyLook();
    applyTexts();
    render();
    document.body.append(host);
  }

  function buildStars() {
    for (let n = 1; n <= 5; n++) {
      const b = h('button', 'star', '★');
      b.type = 'button';
      b.dataset.n = n;
      b.setAttribute('aria-pressed', 'false');
      b.addEventListener('click', () => pickRating(n));
      $.stars.append(b);
    }
  }

  function applyLook() {
    const color = opts.color || widgetCfg.color || DEFAULT_COLOR;
    const position = opts.position || (widgetCfg.position === 'left' ? 'left' : 'right');
    root.style.setProperty('--fd', color);
    root.style.setProperty('--fd-text', textOn(color));
    root.style.setProperty('--ox', opts.offsetX + 'px');
    root.style.setProperty('--oy', opts.offsetY + 'px');
    root.classList.toggle('left', position === 'left');
    root.classList.toggle('nolauncher', opts.hideWidget);
  }

  function applyTexts() {
    root.querySelectorAll('[data-t]').forEach((el) => (el.textContent = t(el.dataset.t)));
    root.querySelectorAll('[data-ta]').forEach((el) => el.setAttribute('aria-label', t(el.dataset.ta)));
    root.querySelectorAll('[data-tp]').forEach((el) => el.setAttribute('placeholder', t(el.dataset.tp)));
    $.stars.querySelectorAll('.star').forEach((b) => b.setAttribute('aria-label', t('rateStar', { n: b.dataset.n })));
    decorate();
  }

  /* ------------------------------------------------------------------ transcript */

  function kindOf(m) {
    const kind = m.author && m.author.kind;
    return ['visitor', 'agent', 'bot', 'system'].includes(kind) ? kind : 'agent';
  }

  function authorLabel(m) {
    const kind = kindOf(m);
    if (kind === 'visitor') return t('you');
    return (m.author && m.author.name) || t(kind === 'bot' ? 'bot' : kind === 'agent' ? 'agent' : 'title');
  }

  function findById(id) {
    return id == null ? null : msgs.find((m) => m.id === id) || null;
  }

  function findPending(clientId) {
    return clientId == null ? null : msgs.find((m) => !m.id && m.client_id === clientId) || null;
  }

  function cleanMessage(f) {
    const m = {};
    ['id', 'conversation_id', 'seq', 'client_id', 'author', 'text', 'buttons', 'attachments', 'flow_id', 'step_id', 'welcome', 'choice', 'at'].forEach(
      (k) => f[k] !== undefined && f[k] !== null && (m[k] = f[k])
    );
    if (!m.author) m.author = { kind: 'system' };
    return m;
  }

  // Where a server message goes: after messages of its conversation with a lower seq, before
  // the visitor's still-sending bubbles (they will get a later seq).
  function insertIndex(m) {
    let i = msgs.length;
    while (i > 0) {
      const p = msgs[i - 1];
      const sendingBefore = p.state === 'sending';
      const laterSeq = p.conversation_id === m.conversation_id && p.seq > m.seq;
      if (!sendingBefore && !laterSeq) break;
      i--;
    }
    return i;
  }

  function renderRow(m) {
    const kind = kindOf(m);
    const row = h('div', 'row');
    const divider = h('div', 'divider');
    divider.hidden = true;
    const msg = h('div', 'msg ' + kind);
    row.append(divider, msg);
    if (m.at) msg.title = new Date(m.at).toLocaleString();
    if (kind === 'system') {
      fillText(msg, m.text);
      return row;
    }
    const who = h('div', 'who'); // visual only: the bubble carries the author for screen readers
    who.hidden = true;
    who.setAttribute('aria-hidden', 'true');
    const bubble = h('div', 'bubble');
    bubble.append(h('span', 'sr', authorLabel(m) + ': '));
    fillText(bubble, m.text);
    msg.append(who);
    if (m.text || !hasFiles(m)) msg.append(bubble);
    if (hasFiles(m)) msg.append(renderFiles(m));
    if (Array.isArray(m.buttons) && m.buttons.length) msg.append(renderButtons(m));
    msg.append(h('div', 'note'));
    paintState(row, m);
    return row;
  }

  function hasFiles(m) {
    return Array.isArray(m.attachments) && m.attachments.length > 0;
  }

  function fileUrl(file) {
    return HTTP_BASE + file.url + '?visitor_token=' + encodeURIComponent(token || '');
  }

  function fileSize(bytes) {
    if (bytes < 1024) return bytes + ' B';
    if (bytes < 1024 * 1024) return Math.round(bytes / 1024) + ' KB';
    return (bytes / 1024 / 1024).toFixed(1) + ' MB';
  }

  // Raster images as thumbnails that open full size; any other file as a card (name, type, size).
  function renderFiles(m) {
    const box = h('div', 'files');
    m.attachments.forEach((file) => {
      const link = h('a', INLINE_IMAGES.includes(file.type) ? 'thumblink' : 'filecard');
      link.href = fileUrl(file);
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
      if (INLINE_IMAGES.includes(file.type)) {
        const img = h('img', 'thumb');
        img.src = link.href;
        img.alt = file.name;
        link.append(img);
      } else {
        link.append(h('span', 'fname', file.name), h('span', 'meta', file.type + ' · ' + fileSize(file.size)));
      }
      box.append(link);
    });
    return box;
  }

  function renderButtons(m) {
    const box = h('div', 'choices');
    m.buttons.forEach((btn) => {
      const b = h('button', 'choice', String(btn.label == null ? '' : btn.label) + (btn.url ? ' ↗' : ''));
      b.type = 'button';
      b.dataset.id = btn.id;
      if (btn.url) b.setAttribute('aria-label', btn.label + ' (' + t('opensNewTab') + ')');
      b.addEventListener('click', () => clickButton(m, btn));
      box.append(b);
    });
    return box;
  }

  function paintState(row, m) {
    const msg = row.querySelector('.msg');
    const note = row.querySelector('.note');
    msg.classList.toggle('sending', m.state === 'sending');
    msg.classList.toggle('failed', m.state === 'failed');
    if (!note) return;
    note.textContent =
      m.state === 'sending' ? t('sending') : m.state === 'failed' ? t('failed') + (m.error ? ': ' + m.error : '') : '';
    note.hidden = !m.state;
    note.setAttribute('aria-hidden', String(m.state !== 'failed')); // announce failures, not every "Sending…"
  }

  function insertRow(m, index) {
    const row = renderRow(m);
    rows.set(m, row);
    const next = msgs[index + 1];
    $.log.insertBefore(row, (next && rows.get(next)) || null);
  }

  function addMessage(m) {
    const follow = nearBottom() || kindOf(m) === 'visitor';
    const index = m.state === 'sending' ? msgs.length : insertIndex(m);
    msgs.splice(index, 0, m);
    insertRow(m, index);
    decorate();
    if (follow) scrollToBottom();
  }

  function updateMessage(m) {
    const row = rows.get(m);
    if (row) paintState(row, m);
  }

  function removeMessage(m) {
    const row = rows.get(m);
    if (row) row.remove();
    msgs = msgs.filter((x) => x !== m);
  }

  function clearTranscript(keep) {
    msgs.filter((m) => !keep(m)).forEach(removeMessage);
  }

  // Author names, "new conversation" dividers and which bot buttons are live; cheap enough to redo on each change.
  function decorate() {
    let prev = null;
    let prevConv = null;
    msgs.forEach((m) => {
      const row = rows.get(m);
      if (!row) return;
      const divider = row.firstChild;
      const isNew = !!(m.conversation_id && prevConv && m.conversation_id !== prevConv);
      divider.hidden = !isNew;
      divider.textContent = isNew ? t('newConversation') : '';
      if (m.conversation_id) prevConv = m.conversation_id;
      const who = row.querySelector('.who');
      if (who) {
        const kind = kindOf(m);
        const label = authorLabel(m);
        const same = prev && kindOf(prev) === kind && authorLabel(prev) === label && !isNew;
        fillAuthor(who, m, label);
        who.hidden = kind === 'visitor' || !!same;
      }
      if (kindOf(m) !== 'system') prev = m;
    });
    decorateButtons();
  }

  // The author above a bubble: an external bot's avatar (an http(s) image, decorative: the
  // name beside it says who wrote) and the name.
  function fillAuthor(who, m, label) {
    const avatar = kindOf(m) === 'bot' && m.author && typeof m.author.avatar === 'string' ? m.author.avatar : '';
    who.replaceChildren();
    if (/^https?:\/\//i.test(avatar)) {
      const img = document.createElement('img');
      img.src = avatar;
      img.alt = '';
      who.append(img);
    }
    who.append(document.createTextNode(label));
  }

  function decorateButtons() {
    let latestBot = null;
    for (let i = msgs.length - 1; i >= 0 && !latestBot; i--) if (kindOf(msgs[i]) === 'bot') latestBot = msgs[i];
    let nextVisitor = null;
    for (let i = msgs.length - 1; i >= 0; i--) {
      const m = msgs[i];
      if (kindOf(m) === 'visitor') {
        nextVisitor = m.state === 'failed' ? nextVisitor : m;
        continue;
      }
      const row = rows.get(m);
      if (!row || !m.buttons) continue;
      const chosen = nextVisitor && nextVisitor.choice;
      row.querySelectorAll('.choice').forEach((b) => {
        b.disabled = m !== latestBot || !!chosen;
        b.classList.toggle('chosen', !!chosen && b.dataset.id === String(chosen));
      });
    }
  }

  function nearBottom() {
    const b = $.body;
    return b.scrollHeight - b.scrollTop - b.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    $.body.scrollTop = $.body.scrollHeight;
  }

  /* ------------------------------------------------------------------ panel state */

  function lastAgentName() {
    for (let i = msgs.length - 1; i >= 0; i--) {
      const m = msgs[i];
      if (kindOf(m) === 'agent' && m.author.name) return m.author.name;
    }
    return null;
  }

  function botIsHandling() {
    return !!conversation && conversation.status === 'open' && conversation.handler === 'bot';
  }

  function offlineSending() {
    return outbox.some((e) => e.type === 'offline_message');
  }

  function offlineDone() {
    return !!conversation && conversation.status === 'open' && ui.offlineConv === conversation.id;
  }

  // Waiting in a team's queue: the waiting card speaks (and asks for an email if none is
  // known); the offline form is never shown beside it.
  function isWaiting() {
    return !!conversation && conversation.status === 'open' && conversation.waiting === true;
  }

  function showOfflineForm() {
    return online === false && !botIsHandling() && !isWaiting() && !offlineDone() && !offlineSending();
  }

  // The visitor's email as far as the widget knows: given through the JS API or a form, or
  // known to the server (offline form, a bot's `collect` step, `identify` on another page).
  function knownEmail() {
    return profile.email || ui.email || '';
  }

  function learnEmail(email) {
    if (typeof email !== 'string' || !email) return;
    ui.email = email;
  }

  function showRating() {
    return (
      opts.ratingEnabled &&
      !!conversation &&
      conversation.status === 'resolved' &&
      conversation.rating == null &&
      ui.rated !== conversation.id
    );
  }

  // Redraws everything that depends on state (not the transcript itself).
  function render() {
    if (!root) return;
    const title = widgetCfg.title || lastAgentName() || t('title');
    root.classList.toggle('open', isOpen);
    $.panel.hidden = !isOpen;
    $.panel.setAttribute('aria-label', title);
    $.title.textContent = title;
    $.panel.classList.toggle('is-online', online === true);
    $.stateText.textContent = online === null ? '' : t(online ? 'online' : 'offline');
    $.state.hidden = online === null;
    $.conn.hidden = ready || attempt === 0;
    renderLauncher();
    renderForms();
    renderBlocked();
  }

  // A blocked visitor sees one notice instead of the composer, forms and reconnect banner.
  function renderBlocked() {
    $.blockedNote.hidden = !blocked;
    if (!blocked) return;
    [$.composer, $.offline, $.offlineThanks, $.rating, $.rateThanks, $.privacy, $.conn, $.waiting, $.transcriptBtn, $.transcript, $.transcriptThanks]
      .forEach((el) => (el.hidden = true));
  }

  function renderLauncher() {
    $.launcher.hidden = opts.hideWidget;
    $.launcher.setAttribute('aria-expanded', String(isOpen));
    const label = isOpen ? t('close') : t('open') + (unread ? ', ' + t('unread', { n: unread }) : '');
    $.launcher.setAttribute('aria-label', label);
    $.badge.hidden = !unread || isOpen;
    $.badge.textContent = unread > 9 ? '9+' : String(unread);
    if (isOpen || opts.hideWidget) $.teaser.hidden = true;
  }

  function renderForms() {
    const follow = nearBottom();
    const offline = showOfflineForm();
    $.offline.hidden = !offline;
    const email = knownEmail();
    $.offlineEmail.hidden = !!email;
    $.offlineKnown.hidden = !email;
    $.offlineKnown.textContent = email ? t('emailKnown', { email }) : '';
    if (email) $.offline.elements.email.value = email;
    $.offlineErr.hidden = !offlineError;
    $.offlineErr.textContent = offlineError;
    const reply = replyText();
    $.offlineHours.hidden = !reply;
    $.offlineHours.textContent = reply;
    $.offlineThanks.hidden = !(online === false && offlineDone());
    $.offlineThanks.textContent = t('offlineThanks', { email: ui.offlineEmail || '' });
    $.composer.hidden = offline || !opts.writable;
    renderWaiting();
    $.rating.hidden = !showRating();
    $.rateMore.hidden = !rateValue;
    $.rateThanks.hidden = !(conversation && conversation.status === 'resolved' && ui.rated === conversation.id);
    const transcriptAction = showTranscriptAction();
    $.transcriptBtn.hidden = !transcriptAction || transcript.open;
    $.transcript.hidden = !transcriptAction || !transcript.open;
    $.transcriptErr.hidden = !transcript.error;
    $.transcriptErr.textContent = transcript.error;
    $.transcriptThanks.hidden = !transcript.sentTo || transcript.open;
    $.transcriptThanks.textContent = t('transcriptThanks', { email: transcript.sentTo });
    $.privacy.hidden = !opts.privacyNoticeUrl || ($.composer.hidden && !offline);
    if (opts.privacyNoticeUrl) $.privacyLink.href = opts.privacyNoticeUrl;
    $.stars.querySelectorAll('.star').forEach((b) => {
      b.classList.toggle('on', +b.dataset.n <= rateValue);
      b.setAttribute('aria-pressed', String(+b.dataset.n === rateValue));
    });
    if (follow) scrollToBottom(); // a card that just appeared below the transcript stays in view
  }

  // Waiting in a team's queue: the team will answer soon, or (nobody of it online) the
  // visitor may leave an email to be answered there too.
  function renderWaiting() {
    const waiting = isWaiting();
    $.waiting.hidden = !waiting;
    if (!waiting) return;
    const offline = conversation.team_online === false;
    const email = knownEmail();
    $.waitingText.textContent = !offline
      ? t('waitingBusy')
      : email
        ? t('waitingOfflineKnown', { email })
        : t('waitingOffline');
    $.waitingForm.hidden = !offline || !!email;
    const reply = offline ? replyText() : '';
    $.waitingHours.hidden = !reply;
    $.waitingHours.textContent = reply;
  }

  // Outside business hours: "We reply tomorrow at 9:00" (the day and time are the account's).
  function replyText() {
    const next = hours && !hours.open && hours.next_reply;
    if (!next || typeof next.time !== 'string') return '';
    const noon = new Date(next.date + 'T12:00:00Z');
    let day = next.weekday;
    let date = next.date;
    try {
      day = new Intl.DateTimeFormat(language, { weekday: 'long', timeZone: 'UTC' }).format(noon);
      date = new Intl.DateTimeFormat(language, { day: 'numeric', month: 'numeric', timeZone: 'UTC' }).format(noon);
    } catch (e) {
      /* no Intl for this language: the server's English weekday and ISO date */
    }
    const key = { today: 'replyToday', tomorrow: 'replyTomorrow', weekday: 'replyWeekday' }[next.day] || 'replyDate';
    return t(key, { time: next.time, day, date });
  }

  function submitWaitingEmail(e) {
    e.preventDefault();
    const input = $.waitingForm.elements.email;
    const email = input.value.trim();
    const ok = EMAIL_RE.test(email);
    markField(input, $.waitingErr, ok);
    if (!ok) return input.focus();
    profile.email = email;
    learnEmail(email);
    identify({ email });
    persist();
    renderForms();
  }

  function openPanel(focus) {
    if (!root || isOpen) return;
    isOpen = true;
    unread = 0;
    $.teaser.hidden = true;
    render();
    persist();
    scrollToBottom();
    if (focus !== false) focusFirst();
    sendOrQueue({ type: 'open' });
    emit('chat_opened');
    fireLocalTriggers('chat_opened');
  }

  function closePanel() {
    if (!root || !isOpen) return;
    const hadFocus = root.getRootNode().activeElement;
    isOpen = false;
    stopTyping();
    render();
    persist();
    if (hadFocus && !opts.hideWidget) $.launcher.focus();
    sendOrQueue({ type: 'close' });
    emit('chat_closed');
  }

  function focusFirst() {
    if (!$.composer.hidden) return $.input.focus();
    const field = $.offline.hidden ? null : $.offline.querySelector('.field');
    (field || $.closeBtn).focus();
  }

  function showTeaser(m) {
    if (isOpen || opts.hideWidget) return;
    $.teaserText.textContent = m.text || '';
    $.teaser.hidden = false;
  }

  function showAgentTyping(f) {
    clearTimeout(agentTypingTimer);
    const on = !!f.on && f.author && (f.author.kind === 'agent' || f.author.kind === 'bot');
    $.typing.hidden = !on;
    if (!on) return;
    $.typingText.textContent = t('typing', { name: f.author.name || t(f.author.kind === 'bot' ? 'bot' : 'agent') });
    agentTypingTimer = setTimeout(() => ($.typing.hidden = true), AGENT_TYPING_MS);
    if (nearBottom()) scrollToBottom();
  }

  /* ------------------------------------------------------------------ UI events */

  function bindUi() {
    $.launcher.addEventListener('click', () => (isOpen ? closePanel() : openPanel()));
    $.closeBtn.addEventListener('click', closePanel);
    $.teaserText.addEventListener('click', () => openPanel());
    $.teaserX.addEventListener('click', () => ($.teaser.hidden = true));
    root.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && isOpen) {
        e.stopPropagation();
        closePanel();
      }
    });
    $.composer.addEventListener('submit', (e) => {
      e.preventDefault();
      submitComposer();
    });
    $.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        submitComposer();
      }
    });
    $.input.addEventListener('input', onComposerInput);
    bindFiles();
    $.offline.addEventListener('submit', submitOffline);
    $.waitingForm.addEventListener('submit', submitWaitingEmail);
    $.rateSend.addEventListener('click', submitRating);
    $.transcriptBtn.addEventListener('click', openTranscript);
    $.transcript.addEventListener('submit', submitTranscript);
    $.transcript.elements.email.addEventListener('input', () => {
      if (!transcript.error) return;
      transcript.error = '';
      $.transcript.elements.email.setAttribute('aria-invalid', 'false');
      renderForms();
    });
  }

  function autoGrow() {
    $.input.style.height = 'auto';
    $.input.style.height = Math.min($.input.scrollHeight + 2, 120) + 'px';
  }

  function onComposerInput() {
    autoGrow();
    if (!$.input.value.trim()) return;
    if (!typingOn && ready) {
      typingOn = true;
      rawSend({ type: 'typing', on: true });
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, VISITOR_TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(typingTimer);
    if (!typingOn) return;
    typingOn = false;
    if (ready) rawSend({ type: 'typing', on: false });
  }

  function submitComposer() {
    const text = $.input.value.trim();
    if (uploads.some((u) => u.state === 'uploading')) return; // sent once every upload is done
    const files = uploads.filter((u) => u.state === 'done').map((u) => u.file);
    if (!text && !files.length) return;
    if (files.length) {
      const frame = { type: 'message', client_id: uuid(), text, attachments: files.map((f) => f.id) };
      queueOutgoing(frame, text, files);
      uploads = uploads.filter((u) => u.state !== 'done');
      renderTray();
    } else sendText(text);
    $.input.value = '';
    autoGrow();
    $.input.focus();
  }

  /* ------------------------------------------------------------------ file uploads */

  // Each file goes up at once (with progress and cancel); the message carries the ids of those done.
  function uploadFiles(list) {
    Array.from(list || []).forEach((blob) => {
      const name = blob.name || 'pasted-image.png';
      const upload = { name, state: 'uploading', loaded: 0, total: blob.size || 1 };
      uploads.push(upload);
      startUpload(upload, blob);
    });
    renderTray();
  }

  // Before the first welcome there is no visitor token yet: the file waits for it.
  function startUpload(upload, blob) {
    const name = upload.name;
    if (!token) {
      upload.waiting = blob;
      return;
    }
    delete upload.waiting;
    const xhr = new XMLHttpRequest();
    upload.xhr = xhr;
    xhr.open('POST', HTTP_BASE + '/widget/attachments?key=' + encodeURIComponent(KEY) + '&visitor_token=' + encodeURIComponent(token));
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) {
        upload.loaded = e.loaded;
        upload.total = e.total;
        renderTray();
      }
    };
    xhr.onload = () => {
      if (xhr.status === 201) {
        upload.state = 'done';
        try {
          upload.file = JSON.parse(xhr.responseText);
        } catch (e) {
          upload.state = 'error';
        }
      } else {
        upload.state = 'error';
        upload.error = t(xhr.status === 413 ? 'fileTooLarge' : xhr.status === 415 ? 'fileRefused' : 'uploadFailed', { name });
      }
      renderTray();
    };
    xhr.onerror = () => {
      upload.state = 'error';
      upload.error = t('uploadFailed', { name });
      renderTray();
    };
    const body = new FormData();
    body.append('file', blob, name);
    xhr.send(body);
  }

  function startWaitingUploads() {
    uploads.filter((u) => u.waiting).forEach((u) => startUpload(u, u.waiting));
  }

  function renderTray() {
    $.tray.textContent = '';
    uploads.forEach((upload) => {
      const item = h('div', 'upload' + (upload.state === 'error' ? ' error' : ''));
      item.append(h('span', 'name', upload.state === 'error' ? upload.error || upload.name : upload.name));
      if (upload.state === 'uploading') {
        const bar = h('progress');
        bar.max = upload.total;
        bar.value = upload.loaded;
        bar.setAttribute('aria-label', upload.name);
        item.append(bar);
      }
      const remove = h('button', '', '×');
      remove.type = 'button';
      remove.setAttribute('aria-label', t('removeFile', { name: upload.name }));
      remove.addEventListener('click', () => {
        if (upload.xhr && upload.state === 'uploading') upload.xhr.abort(); // cancel
        uploads = uploads.filter((u) => u !== upload);
        renderTray();
      });
      item.append(remove);
      $.tray.append(item);
    });
  }

  function bindFiles() {
    $.attach.addEventListener('click', () => $.fileInput.click());
    $.fileInput.addEventListener('change', () => {
      uploadFiles($.fileInput.files);
      $.fileInput.value = '';
    });
    $.input.addEventListener('paste', (e) => {
      const files = Array.from((e.clipboardData && e.clipboardData.files) || []);
      if (files.length) {
        e.preventDefault();
        uploadFiles(files);
      }
    });
    const panel = $.composer.parentNode;
    panel.addEventListener('dragover', (e) => {
      if (e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files')) {
        e.preventDefault();
        root.classList.add('dropping');
      }
    });
    panel.addEventListener('dragleave', () => root.classList.remove('dropping'));
    panel.addEventListener('drop', (e) => {
      root.classList.remove('dropping');
      if (e.dataTransfer && e.dataTransfer.files.length) {
        e.preventDefault();
        uploadFiles(e.dataTransfer.files);
      }
    });
  }

  function clickButton(m, btn) {
    if (btn.url) {
      const url = safeUrl(btn.url);
      if (url) window.open(url, '_blank', 'noopener');
      return;
    }
    const frame = { type: 'choose', client_id: uuid(), button_id: btn.id };
    if (m.step_id != null) frame.step_id = m.step_id;
    queueOutgoing(frame, String(btn.label == null ? '' : btn.label));
  }

  function submitOffline(e) {
    e.preventDefault();
    const form = $.offline;
    const name = form.elements.name.value.trim();
    const email = form.elements.email.value.trim();
    const text = form.elements.text.value.trim();
    const emailOk = EMAIL_RE.test(email);
    markField(form.elements.email, $.emailErr, emailOk);
    markField(form.elements.text, $.textErr, !!text);
    if (!emailOk) return form.elements.email.focus();
    if (!text) return form.elements.text.focus();
    offlineError = '';
    profile.name = name || profile.name;
    profile.email = email;
    learnEmail(email);
    ui.offlineEmail = email;
    const frame = { type: 'offline_message', client_id: uuid(), email, text };
    if (name) frame.name = name;
    form.elements.text.value = '';
    queueOutgoing(frame, text);
  }

  function markField(input, error, ok) {
    input.setAttribute('aria-invalid', String(!ok));
    error.hidden = ok;
  }

  function prefillOffline() {
    const els = $.offline.elements;
    if (profile.name && !els.name.value) els.name.value = profile.name;
    if (knownEmail() && !els.email.value) els.email.value = knownEmail();
  }

  function openTranscript() {
    transcript.open = true;
    transcript.error = '';
    transcript.sentTo = '';
    const input = $.transcript.elements.email;
    if (!input.value) input.value = knownEmail() || ui.offlineEmail || '';
    render();
    input.focus();
  }

  function submitTranscript(e) {
    e.preventDefault();
    const input = $.transcript.elements.email;
    const email = input.value.trim();
    const ok = EMAIL_RE.test(email);
    input.setAttribute('aria-invalid', String(!ok));
    transcript.error = ok ? '' : t('emailInvalid');
    if (ok) {
      const clientId = uuid();
      const frame = { type: 'transcript_request', client_id: clientId, email };
      if (convId) frame.conversation_id = convId;
      if (ready && rawSend(frame)) {
        transcript.pending = clientId;
        profile.email = profile.email || email;
      } else {
        transcript.error = t('reconnecting');
      }
    }
    render();
    if (!ok) input.focus();
  }

  function onTranscriptQueued(f) {
    if (!transcript.pending || f.client_id !== transcript.pending) return;
    transcript.pending = null;
    transcript.open = false;
    transcript.sentTo = String(f.email || '');
  }

  // An error answering our transcript request; true when it was one.
  function transcriptFailed(f) {
    if (!transcript.pending || f.client_id !== transcript.pending) return false;
    transcript.pending = null;
    transcript.error =
      f.code === 'invalid_email'
        ? t('emailInvalid')
        : f.code === 'too_many_transcripts'
          ? t('transcriptLimit')
          : f.code === 'no_conversation'
            ? t('transcriptNone')
            : t('transcriptFailed');
    if (f.code === 'invalid_email') $.transcript.elements.email.setAttribute('aria-invalid', 'true');
    return true;
  }

  // The action shows once there is a stored message to send (and the form is not open).
  function showTranscriptAction() {
    return opts.transcriptEnabled && !!conversation && msgs.some((m) => m.seq != null) && !showOfflineForm();
  }

  function pickRating(n) {
    rateValue = n;
    renderForms();
    $.rateComment.focus();
  }

  function submitRating() {
    if (!rateValue || !conversation) return;
    const frame = { type: 'rate', value: rateValue, conversation_id: conversation.id };
    const comment = $.rateComment.value.trim();
    if (comment) frame.comment = comment;
    sendOrQueue(frame);
    ui.rated = conversation.id;
    rateValue = 0;
    $.rateComment.value = '';
    persist();
    render();
  }

  /* ------------------------------------------------------------------ sending */

  function rawSend(frame) {
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  // Frames without an ack (identify, event, open, …): sent now when welcomed, else after the next welcome.
  function sendOrQueue(frame) {
    if (!(ready && rawSend(frame))) pending.push(frame);
  }

  function sendText(text) {
    text = String(text == null ? '' : text).trim();
    if (text) queueOutgoing({ type: 'message', client_id: uuid(), text }, text);
  }

  // message/choose/offline_message: shown at once, kept in the outbox until acked.
  function queueOutgoing(frame, shownText, files) {
    const m = {
      client_id: frame.client_id,
      author: { kind: 'visitor' },
      text: shownText,
      at: new Date().toISOString(),
      state: 'sending',
    };
    if (files && files.length) m.attachments = files;
    if (frame.type === 'choose') m.choice = frame.button_id;
    addMessage(m);
    outboxAdd(frame);
    if (ready && !retryTimer) rawSend(frame);
    stopTyping();
    persist();
    render();
    emit('message_sent', Object.assign({}, frame));
  }

  function flushOutbox() {
    retryTimer = 0;
    if (ready) outbox.forEach(rawSend);
  }

  function flushPending() {
    const frames = pending;
    pending = [];
    frames.forEach(sendOrQueue);
  }

  function helloFrame() {
    const frame = {
      type: 'hello',
      page: { url: location.href, title: document.title, referrer: document.referrer },
      language,
      device: device(),
    };
    if (token) frame.visitor_token = token;
    if (identity) frame.identity = identity;
    if (convId) {
      frame.conversation_id = convId;
      frame.last_seq = lastSeq;
    }
    lastPageUrl = location.href;
    return frame;
  }

  /* ------------------------------------------------------------------ connection */

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = 0;
    if (ws || blocked) return;
    let sock;
    try {
      sock = new WebSocket(WS_URL);
    } catch (e) {
      return scheduleReconnect();
    }
    ws = sock;
    ready = false;
    sock.onopen = () => {
      rawSend(helloFrame());
      welcomeTimer = setTimeout(() => sock.close(), WELCOME_TIMEOUT_MS);
    };
    sock.onmessage = (e) => sock === ws && onFrame(e.data);
    sock.onclose = () => sock === ws && onDisconnect();
  }

  function onDisconnect() {
    clearTimeout(welcomeTimer);
    ws = null;
    ready = false;
    typingOn = false;
    scheduleReconnect();
    render();
  }

  // Full jitter: a random wait in [0, min(cap, base * 2^attempt)), so many widgets do not reconnect in step.
  function scheduleReconnect() {
    if (blocked) return;
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * Math.pow(2, attempt));
    attempt++;
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, Math.random() * ceiling);
  }

  function reconnectNow() {
    if (!ws && root) connect();
  }

  function onFrame(data) {
    let f;
    try {
      f = JSON.parse(data);
    } catch (e) {
      return;
    }
    if (!f || typeof f !== 'object') return;
    const handler = FRAME_HANDLERS[f.type];
    if (handler) handler(f);
    persist();
    render();
  }

  const FRAME_HANDLERS = {
    welcome: onWelcome,
    message: (f) => onMessage(f, false),
    ack: onAck,
    typing: (f) => f.author && (f.author.kind === 'agent' || f.author.kind === 'bot') && showAgentTyping(f),
    conversation: onConversation,
    triggers: (f) => armTriggers(f.triggers), // after a `page`: the flows eligible there
    status: (f) => {
      online = !!f.online;
      if (showOfflineForm()) prefillOffline();
    },
    error: (f) => transcriptFailed(f) || onError(f),
    transcript_queued: onTranscriptQueued,
    identity: onIdentity,
  };

  // A verified identity: keep the user's visitor token; when the user's visitor is another
  // one (their other device came first), say hello again to join it.
  function onIdentity(f) {
    if (typeof f.visitor_token === 'string' && f.visitor_token) token = f.visitor_token;
    if (f.reconnect && ws) {
      convId = null;
      lastSeq = 0;
      ahead.clear();
      clearTranscript(() => false);
      ws.close();
    }
  }

  /* ------------------------------------------------------------------ incoming frames */

  function switchConversation(id, handler) {
    convId = id;
    lastSeq = 0;
    ahead.clear();
    if (!conversation || conversation.id !== id)
      conversation = { id, status: 'open', handler: handler || 'none', labels: [] };
  }

  // last_seq only moves over seqs we hold without a gap, so a frame still in flight is never skipped.
  function markHeld(seq) {
    if (typeof seq !== 'number' || seq <= lastSeq) return;
    ahead.add(seq);
    while (ahead.has(lastSeq + 1)) ahead.delete(++lastSeq);
  }

  function onWelcome(f) {
    clearTimeout(welcomeTimer);
    ready = true;
    attempt = 0;
    if (f.visitor_token) token = f.visitor_token;
    startWaitingUploads();
    widgetCfg = f.widget && typeof f.widget === 'object' ? f.widget : {};
    hours = f.business_hours && typeof f.business_hours === 'object' ? f.business_hours : null;
    online = !!f.online;
    const conv = f.conversation || null;
    if (f.visitor && typeof f.visitor === 'object') {
      learnEmail(f.visitor.email);
      if (typeof f.visitor.name === 'string' && !profile.name) profile.name = f.visitor.name;
    }
    if (conv) learnEmail(conv.visitor_email);
    if (f.reset) {
      clearTranscript((m) => m.state === 'sending');
      convId = conv ? conv.id : null;
      lastSeq = 0;
      ahead.clear();
    } else if (conv && conv.id !== convId) {
      switchConversation(conv.id);
    }
    if (conv) conversation = conv;
    const list = Array.isArray(f.messages) ? f.messages : [];
    list.forEach((m) => onMessage(m, true, !!f.reset));
    // welcome holds every message after last_seq, so its highest seq is held even across a gap
    list.forEach((m) => m.conversation_id === convId && m.seq > lastSeq && (lastSeq = m.seq));
    ahead.forEach((s) => s <= lastSeq && ahead.delete(s));
    applyLook();
    applyTexts();
    if (showOfflineForm()) prefillOffline();
    if (location.href !== lastPageUrl) sendPage();
    flushPending();
    flushOutbox();
    armTriggers(f.triggers);
  }

  function onMessage(f, fromWelcome, quiet) {
    if (!f || findById(f.id)) return; // already shown (our own echo, or another tab's resend)
    if (!fromWelcome && f.conversation_id && f.conversation_id !== convId)
      switchConversation(f.conversation_id, f.author && f.author.kind === 'bot' ? 'bot' : null);
    const mine = findPending(f.client_id);
    if (mine) {
      Object.assign(mine, cleanMessage(f));
      delete mine.state;
      delete mine.error;
      outboxRemove(f.client_id);
      updateMessage(mine);
      decorate();
    } else {
      addMessage(cleanMessage(f));
    }
    if (f.conversation_id === convId) markHeld(f.seq);
    if (kindOf(f) !== 'visitor' && !quiet) received(f);
  }

  function received(f) {
    const kind = kindOf(f);
    if (kind === 'agent' || kind === 'bot') showAgentTyping({ on: false });
    if (!isOpen && (kind === 'agent' || kind === 'bot')) unread++;
    if (f.welcome) showTeaser(f);
    emit('message_received', f);
  }

  function onAck(f) {
    const entry = outboxRemove(f.client_id);
    if (f.conversation_id && f.conversation_id !== convId) switchConversation(f.conversation_id);
    const mine = findPending(f.client_id);
    if (mine && findById(f.id)) removeMessage(mine); // the echo got here first
    else if (mine) {
      Object.assign(mine, { id: f.id, seq: f.seq, conversation_id: f.conversation_id });
      delete mine.state;
      delete mine.error;
      updateMessage(mine);
    }
    if (f.conversation_id === convId) markHeld(f.seq);
    if (entry && entry.type === 'offline_message') {
      ui.offlineConv = f.conversation_id;
    }
    decorate();
  }

  function onConversation(f) {
    if (!f.id) return;
    if (f.id !== convId) switchConversation(f.id);
    const wasResolved = conversation && conversation.status === 'resolved';
    conversation = f;
    learnEmail(f.visitor_email);
    if (f.status === 'resolved' && !wasResolved) rateValue = 0;
  }

  function onError(f) {
    if (f.code === 'blocked') {
      blocked = true; // the server closes the socket; onDisconnect then schedules nothing
      clearTimeout(welcomeTimer);
      clearTimeout(reconnectTimer);
      return;
    }
    let clientId = f.client_id;
    // invalid_email may come without client_id; it then belongs to the offline message in flight
    if (!clientId && f.code === 'invalid_email') {
      const entry = outbox.find((e) => e.type === 'offline_message');
      clientId = entry && entry.client_id;
    }
    const inOutbox = clientId && outbox.some((e) => e.client_id === clientId);
    if (!inOutbox) return console.warn('Frontdesk:', f.code, f.message || '');
    if (RETRY_ERRORS.includes(f.code)) {
      if (!retryTimer) retryTimer = setTimeout(flushOutbox, RETRY_DELAY_MS * (1 + Math.random()));
      return;
    }
    if (!FINAL_ERRORS.includes(f.code)) console.warn('Frontdesk: giving up on a frame:', f.code);
    failOutgoing(clientId, f.message || f.code);
  }

  function failOutgoing(clientId, message) {
    const entry = outboxRemove(clientId);
    const mine = findPending(clientId);
    if (mine) {
      mine.state = 'failed';
      mine.error = message;
      updateMessage(mine);
      decorate();
    }
    if (entry && entry.type === 'offline_message') {
      offlineError = message;
      const els = $.offline.elements;
      els.text.value = entry.text || '';
      els.email.value = entry.email || els.email.value;
    }
  }

  /* ------------------------------------------------------------------ page tracking and triggers */

  function sendPage() {
    clearTimeout(pageTimer);
    if (location.href === lastPageUrl || !ready) return;
    const frame = { type: 'page', url: location.href, title: document.title, referrer: lastPageUrl };
    lastPageUrl = location.href;
    rawSend(frame);
  }

  function watchNavigation() {
    const later = () => {
      clearTimeout(pageTimer);
      pageTimer = setTimeout(sendPage, PAGE_DEBOUNCE_MS);
    };
    ['pushState', 'replaceState'].forEach((name) => {
      const original = history[name];
      history[name] = function () {
        const result = original.apply(this, arguments);
        later();
        return result;
      };
    });
    window.addEventListener('popstate', later);
  }

  // Welcome's `triggers`: [{flow_id, when: {type, ...}}]. The widget watches `when`; the server decides.
  let disarm = [];
  const firedFlows = new Set();
  const localTriggers = { chat_opened: [], custom_event: [] };

  function armTriggers(list) {
    disarm.forEach((off) => off());
    disarm = [];
    localTriggers.chat_opened = [];
    localTriggers.custom_event = [];
    if (!opts.triggerable || !Array.isArray(list)) return;
    list.forEach((trigger) => {
      const flowId = trigger && (trigger.flow_id || trigger.id);
      if (!flowId || firedFlows.has(flowId)) return;
      const fire = () => {
        if (firedFlows.has(flowId)) return;
        firedFlows.add(flowId);
        sendOrQueue({ type: 'trigger', flow_id: flowId });
      };
      watchWhen(trigger.when || {}, fire);
    });
  }

  function watchWhen(when, fire) {
    const on = (target, type, fn) => {
      target.addEventListener(type, fn, { passive: true });
      disarm.push(() => target.removeEventListener(type, fn));
    };
    if (when.type === 'delay') {
      const wait = Math.max(0, (Number(when.seconds) || 0) * 1000 - performance.now());
      const timer = setTimeout(fire, wait);
      disarm.push(() => clearTimeout(timer));
    } else if (when.type === 'scroll') {
      const check = () => {
        const el = document.documentElement;
        const pct = ((window.scrollY + window.innerHeight) / Math.max(1, el.scrollHeight)) * 100;
        if (pct >= (Number(when.percent) || 0)) fire();
      };
      on(window, 'scroll', check);
      check();
    } else if (when.type === 'exit_intent') {
      on(document, 'mouseout', (e) => !e.relatedTarget && e.clientY <= 0 && fire());
    } else if (when.type === 'returning_visit') {
      if (returningVisit) fire();
    } else if (when.type === 'chat_opened') {
      localTriggers.chat_opened.push({ fire });
    } else if (when.type === 'custom_event') {
      localTriggers.custom_event.push({ name: when.name, fire });
    }
  }

  function fireLocalTriggers(type, name) {
    localTriggers[type].forEach((tr) => (type !== 'custom_event' || tr.name === name) && tr.fire());
  }

  let returningVisit = false;
  function countVisit() {
    try {
      if (sessionStorage.getItem(PREFIX + 'session')) return;
      sessionStorage.setItem(PREFIX + 'session', '1');
    } catch (e) {
      /* no sessionStorage: count every page */
    }
    ui.visits = (ui.visits || 0) + 1;
    returningVisit = ui.visits > 1;
  }

  /* ------------------------------------------------------------------ JS API */

  function emit(name, arg) {
    (handlers[name] || []).forEach((fn) => {
      try {
        fn(arg);
      } catch (e) {
        console.error('Frontdesk: a "' + name + '" handler failed', e);
      }
    });
  }

  function identify(fields) {
    const frame = Object.assign({ type: 'identify' }, fields);
    if (identity) frame.identity = identity;
    sendOrQueue(frame);
  }

  // frontdesk('identify', {user_id, signature, email?, name?}): the signature is made by the
  // site's server (docs/widget.md); sent with every hello and identify from now on.
  function setIdentity(input) {
    if (!input || typeof input !== 'object' || input.user_id == null || !input.signature) {
      return console.warn('Frontdesk: identify needs {user_id, signature}');
    }
    identity = { user_id: String(input.user_id), signature: String(input.signature) };
    if (input.email != null) identity.email = String(input.email);
    if (input.name != null) identity.name = String(input.name);
    if (identity.email) learnEmail(identity.email);
    identify({});
  }

  // The server takes {key: {label, value}} with string label and value; a bare value gets its key as label.
  function variables(input) {
    const out = {};
    Object.keys(input).forEach((key) => {
      const v = input[key];
      const full = v && typeof v === 'object';
      const label = full && v.label != null ? v.label : key;
      const value = full ? v.value : v;
      out[key] = { label: String(label), value: value == null ? '' : String(value) };
    });
    return out;
  }

  function setLanguage(code) {
    const lang = shortLang(code);
    if (!lang) return;
    language = lang;
    if (root) {
      applyTexts();
      render();
    }
  }

  function api(command) {
    const a = Array.prototype.slice.call(arguments, 1);
    switch (command) {
      case 'chat:open':
        return openPanel();
      case 'chat:close':
        return closePanel();
      case 'chat:send':
        return sendText(a[0]);
      case 'name':
      case 'email':
      case 'phone': {
        const value = a[0] == null ? '' : String(a[0]);
        if (command !== 'phone') profile[command] = value;
        if (command === 'email') learnEmail(value);
        return identify({ [command]: value });
      }
      case 'variables':
        return a[0] && typeof a[0] === 'object' ? identify({ variables: variables(a[0]) }) : undefined;
      case 'group':
        return identify({ group: String(a[0]) });
      case 'identify':
        return setIdentity(a[0]);
      case 'language':
        return setLanguage(a[0]);
      case 'event':
        if (!a[0]) return;
        sendOrQueue({ type: 'event', name: String(a[0]) });
        return fireLocalTriggers('custom_event', String(a[0]));
      case 'on':
        if (handlers[a[0]] && typeof a[1] === 'function') handlers[a[0]].push(a[1]);
        else console.warn('Frontdesk: unknown event', a[0]);
        return;
      default:
        console.warn('Frontdesk: unknown command', command);
    }
  }

  function installApi() {
    const queued = (typeof window.frontdesk === 'function' && window.frontdesk.q) || [];
    api.loaded = true;
    window.frontdesk = api;
    queued.forEach((args) => {
      try {
        api.apply(null, Array.prototype.slice.call(args));
      } catch (e) {
        console.error('Frontdesk: a queued call failed', e);
      }
    });
  }

  /* ------------------------------------------------------------------ start */

  function start() {
    countVisit();
    mount();
    installApi();
    if (isOpen) scrollToBottom();
    watchNavigation();
    window.addEventListener('online', reconnectNow);
    window.addEventListener('pageshow', reconnectNow);
    document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && reconnectNow());
    persist();
    connect();
  }

  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
