/*
 * Tiếp Dân web chat widget. Embed with one tag:
 *   <script src="https://<platform>/webchat/widget.js" defer></script>
 * It talks to the platform that served it: POST /api/v1/webchat/sessions and /messages,
 * and the WebSocket /api/v1/webchat/ws/{session_id} for messages sent later (staff replies).
 * No dependencies, no CDN. Vietnamese, keyboard and screen-reader friendly, mobile first.
 */
(function () {
  "use strict";
  if (window.TiepDanChat) return;

  var script = document.currentScript;
  var BASE = script ? new URL(script.src, location.href).origin : location.origin;
  var STORAGE_KEY = "tiepdan-webchat-session";

  var css = [
    ".td-launcher{position:fixed;right:16px;bottom:16px;z-index:2147483000;border:0;border-radius:28px;",
    "padding:14px 20px;background:#b71c1c;color:#fff;font:600 16px/1.2 system-ui,sans-serif;",
    "box-shadow:0 4px 14px rgba(0,0,0,.3);cursor:pointer}",
    ".td-launcher:focus-visible,.td-panel button:focus-visible,.td-panel input:focus-visible{outline:3px solid #ffb300;outline-offset:2px}",
    ".td-panel{position:fixed;z-index:2147483001;inset:0;display:none;flex-direction:column;background:#fff;",
    "font:15px/1.45 system-ui,sans-serif;color:#1a1a1a}",
    ".td-panel[data-open=true]{display:flex}",
    "@media (min-width:600px){.td-panel{inset:auto 16px 16px auto;width:380px;height:560px;border-radius:12px;",
    "box-shadow:0 8px 30px rgba(0,0,0,.35);overflow:hidden}}",
    ".td-head{display:flex;align-items:center;justify-content:space-between;padding:12px 14px;background:#b71c1c;color:#fff}",
    ".td-head h2{margin:0;font-size:17px}",
    ".td-close{background:transparent;border:0;color:#fff;font-size:24px;line-height:1;cursor:pointer;padding:4px 8px}",
    ".td-log{flex:1;overflow-y:auto;padding:12px;background:#f6f6f6}",
    ".td-msg{max-width:85%;margin:6px 0;padding:8px 12px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}",
    ".td-in{margin-left:auto;background:#1565c0;color:#fff}",
    ".td-out{background:#fff;border:1px solid #ddd}",
    ".td-buttons{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 8px}",
    ".td-buttons button{border:1px solid #b71c1c;background:#fff;color:#b71c1c;border-radius:16px;padding:6px 12px;cursor:pointer;font:inherit}",
    ".td-form{display:flex;gap:6px;padding:10px;border-top:1px solid #ddd;background:#fff}",
    ".td-form input{flex:1;min-width:0;padding:10px;border:1px solid #bbb;border-radius:8px;font:inherit}",
    ".td-form button{border:0;border-radius:8px;padding:0 14px;background:#b71c1c;color:#fff;font:inherit;cursor:pointer}",
    ".td-form .td-loc{background:#455a64}",
    ".td-status{font-size:13px;color:#555;padding:0 12px 6px;background:#fff}",
    ".td-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}"
  ].join("");

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  var style = el("style");
  style.textContent = css;
  document.head.appendChild(style);

  var launcher = el("button", { "class": "td-launcher", type: "button", "aria-haspopup": "dialog",
    "aria-controls": "td-panel" }, "💬 Phản ánh, kiến nghị");
  var panel = el("section", { id: "td-panel", "class": "td-panel", role: "dialog",
    "aria-modal": "false", "aria-labelledby": "td-title" });
  var head = el("div", { "class": "td-head" });
  head.appendChild(el("h2", { id: "td-title" }, "Tiếp Dân – Gửi phản ánh"));
  var close = el("button", { "class": "td-close", type: "button", "aria-label": "Đóng khung chat" }, "×");
  head.appendChild(close);
  var log = el("div", { "class": "td-log", role: "log", "aria-live": "polite",
    "aria-label": "Tin nhắn" });
  var status = el("div", { "class": "td-status", role: "status" });
  var form = el("form", { "class": "td-form" });
  var label = el("label", { "for": "td-input", "class": "td-sr" }, "Nhập tin nhắn");
  var input = el("input", { id: "td-input", type: "text", autocomplete: "off", maxlength: "5000",
    placeholder: "Nhập nội dung phản ánh…" });
  var locate = el("button", { type: "button", "class": "td-loc", "aria-label": "Gửi vị trí hiện tại" }, "📍");
  var camera = el("button", { type: "button", "class": "td-loc", "aria-label": "Gửi ảnh chụp" }, "📷");
  var picker = el("input", { type: "file", accept: "image/*", "class": "td-sr", tabindex: "-1",
    "aria-label": "Chọn ảnh để gửi" });
  var send = el("button", { type: "submit" }, "Gửi");
  form.appendChild(label); form.appendChild(input); form.appendChild(camera); form.appendChild(picker);
  form.appendChild(locate); form.appendChild(send);
  panel.appendChild(head); panel.appendChild(log); panel.appendChild(status); panel.appendChild(form);
  document.body.appendChild(launcher);
  document.body.appendChild(panel);

  var sessionId = null;
  var lastId = 0;
  var socket = null;
  var retry = 1000;

  // The platform's own files are given by path: on a portal of another origin they are the
  // platform's, not the portal's.
  function absolute(url) {
    return url.charAt(0) === "/" ? BASE + url : url;
  }

  function show(message, direction) {
    if (message.text) {
      log.appendChild(el("div", { "class": "td-msg " + (direction === "in" ? "td-in" : "td-out") },
        message.text));
    }
    if (message.image) {
      var img = el("img", { src: absolute(message.image), alt: "Hình ảnh", style: "max-width:85%" });
      log.appendChild(img);
    }
    (message.documents || []).forEach(function (url, index) {
      var link = el("a", { href: absolute(url), target: "_blank", rel: "noopener", download: "" },
        "Tài liệu kết quả xử lý" + (message.documents.length > 1 ? " " + (index + 1) : "") +
        " (PDF)");
      var bubble = el("div", { "class": "td-msg td-out" });
      bubble.appendChild(link);
      log.appendChild(bubble);
    });
    if (message.buttons && message.buttons.length) {
      var row = el("div", { "class": "td-buttons", role: "group", "aria-label": "Lựa chọn" });
      message.buttons.forEach(function (b) {
        var button = el("button", { type: "button" }, b.title);
        button.addEventListener("click", function () {
          row.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
          post({ payload: b.payload }, b.title);
        });
        row.appendChild(button);
      });
      log.appendChild(row);
    }
    log.scrollTop = log.scrollHeight;
  }

  function request(path, body) {
    return fetch(BASE + path, {
      method: body ? "POST" : "GET",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      if (r.ok) return r.json();
      var e = new Error("HTTP " + r.status); e.status = r.status;
      // Over a limit (429) the server says, in Vietnamese, when to send again.
      if (r.status !== 429) throw e;
      return r.json().then(function (body) { e.reason = body.detail; throw e; });
    });
  }

  var starting = null;  // one session, even when opening and sending race
  function ensureSession() {
    if (sessionId) return Promise.resolve(sessionId);
    if (!starting) starting = startSession().catch(function (error) { starting = null; throw error; });
    return starting;
  }

  function startSession() {
    var saved = null;
    try { saved = localStorage.getItem(STORAGE_KEY); } catch (e) { /* private mode */ }
    var resume = saved
      ? request("/api/v1/webchat/sessions/" + encodeURIComponent(saved) + "/messages?after=0")
          .then(function (history) {
            sessionId = saved;
            history.messages.forEach(function (m) { show(m, m.direction); lastId = m.id; });
            return sessionId;
          })
      : Promise.reject(new Error("no session"));
    return resume.catch(function () {
      return request("/api/v1/webchat/sessions", {}).then(function (r) {
        sessionId = r.session_id;
        try { localStorage.setItem(STORAGE_KEY, sessionId); } catch (e) { /* private mode */ }
        show({ text: "Xin chào! Bạn muốn phản ánh, kiến nghị điều gì? Hãy cho biết chuyện gì và ở đâu." }, "out");
        return sessionId;
      });
    }).then(function (id) { connect(); return id; });
  }

  function connect() {
    if (!sessionId || socket) return;
    var url = BASE.replace(/^http/, "ws") + "/api/v1/webchat/ws/" + encodeURIComponent(sessionId) +
      "?after=" + lastId;
    socket = new WebSocket(url);
    socket.onopen = function () { retry = 1000; status.textContent = ""; };
    socket.onmessage = function (event) {
      var data = JSON.parse(event.data);
      (data.messages || []).forEach(function (m) {
        if (m.id > lastId) { lastId = m.id; show(m, "out"); }
      });
    };
    socket.onclose = function () {
      socket = null;
      status.textContent = "Đang kết nối lại…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }

  function post(body, echo) {
    show({ text: echo }, "in");
    // A button's title goes with its payload: it is what the person chose, and what the chat's
    // history (after a reload) and the staff desk show, instead of "/affirm".
    if (body.payload && !body.text) body.text = echo;
    send.disabled = true;
    return ensureSession().then(function (id) {
      body.session_id = id;
      return request("/api/v1/webchat/messages", body);
    }).then(function (r) {
      r.messages.forEach(function (m) { show(m, "out"); });
      return request("/api/v1/webchat/sessions/" + encodeURIComponent(sessionId) + "/messages?after=" + lastId);
    }).then(function (history) {
      history.messages.forEach(function (m) { lastId = Math.max(lastId, m.id); });
    }).catch(function (error) {
      show({ text: error.reason || "Không gửi được tin nhắn. Bạn vui lòng thử lại sau ít phút." }, "out");
    }).then(function () { send.disabled = false; input.focus(); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    post({ text: text }, text);
  });

  locate.addEventListener("click", function () {
    if (!navigator.geolocation) {
      show({ text: "Trình duyệt không hỗ trợ chia sẻ vị trí." }, "out");
      return;
    }
    navigator.geolocation.getCurrentPosition(function (p) {
      var lat = p.coords.latitude.toFixed(6), lon = p.coords.longitude.toFixed(6);
      post({ payload: '/share_location{"latitude": ' + lat + ', "longitude": ' + lon + '}' },
        "📍 Vị trí: " + lat + ", " + lon);
    }, function () {
      show({ text: "Không lấy được vị trí. Bạn có thể gõ địa chỉ thay thế." }, "out");
    });
  });

  // Phone photos are large: shrink to 1600 px JPEG before sending, when the browser can.
  function shrink(file) {
    return new Promise(function (resolve) {
      if (!/^image\//.test(file.type) || !window.createImageBitmap) { resolve(file); return; }
      createImageBitmap(file).then(function (bitmap) {
        var scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
        var canvas = document.createElement("canvas");
        canvas.width = Math.round(bitmap.width * scale);
        canvas.height = Math.round(bitmap.height * scale);
        canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
        canvas.toBlob(function (blob) { resolve(blob || file); }, "image/jpeg", 0.85);
      }).catch(function () { resolve(file); });  // not decodable: the server says why
    });
  }

  camera.addEventListener("click", function () { picker.click(); });
  picker.addEventListener("change", function () {
    var file = picker.files && picker.files[0];
    picker.value = "";
    if (!file) return;
    shrink(file).then(function (blob) {
      return ensureSession().then(function (id) {
        return fetch(BASE + "/api/v1/webchat/photos?session_id=" + encodeURIComponent(id), {
          method: "POST", headers: { "Content-Type": blob.type || "application/octet-stream" }, body: blob
        });
      });
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { var e = new Error(body.detail || ""); e.reason = body.detail; throw e; }
        return body;
      });
    }).then(function (body) {
      show({ image: body.url }, "in");
      post({ payload: '/share_photo{"photo_url": "' + body.url + '"}' }, "📷 Đã gửi ảnh");
    }).catch(function (error) {
      show({ text: error.reason || "Không gửi được ảnh. Bạn vui lòng thử lại sau ít phút." }, "out");
    });
  });

  function open() {
    panel.setAttribute("data-open", "true");
    launcher.setAttribute("aria-expanded", "true");
    ensureSession().catch(function () {
      show({ text: "Hệ thống đang bận, bạn vui lòng thử lại sau." }, "out");
    });
    input.focus();
  }
  function shut() {
    panel.setAttribute("data-open", "false");
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }
  launcher.addEventListener("click", open);
  close.addEventListener("click", shut);
  panel.addEventListener("keydown", function (event) { if (event.key === "Escape") shut(); });

  window.TiepDanChat = { open: open, close: shut };
})();
