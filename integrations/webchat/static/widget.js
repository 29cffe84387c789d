/*
 * Tiếp Dân web chat widget. Embed with one tag:
 *   <script src="https://<platform>/webchat/widget.js" defer></script>
 * It talks to the platform that served it: POST /api/v1/webchat/sessions and /messages,
 * and the WebSocket /api/v1/webchat/ws/{session_id} for messages sent later (staff replies).
 * Its style sheet is /webchat/widget.css, from the same platform. No dependencies, no CDN, no
 * inline style or script (a strict Content-Security-Policy allows it with the platform in
 * script-src, style-src, img-src and connect-src). Vietnamese, keyboard and screen-reader
 * friendly, mobile first (360 px and up).
 */
(function () {
  "use strict";
  if (window.TiepDanChat) return;

  var script = document.currentScript;
  var BASE = script ? new URL(script.src, location.href).origin : location.origin;
  var STORAGE_KEY = "tiepdan-webchat-session";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  // The style sheet comes from the platform too (no inline style: a portal's CSP can forbid it).
  // Until it has loaded, the launcher stays hidden rather than show unstyled.
  var sheet = el("link", { rel: "stylesheet", href: BASE + "/webchat/widget.css" });
  document.head.appendChild(sheet);

  // Icons are inline SVG, drawn here: an emoji shows as an empty box where no emoji font is
  // installed. They are decoration: each button's name is in its text or aria-label.
  var ICONS = {
    chat: ["M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H10l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
      "M7 9h10M7 13h6"],
    camera: ["M4 7h3l2-3h6l2 3h3a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1z",
      "M12 17a4 4 0 1 0 0-8 4 4 0 0 0 0 8z"],
    pin: ["M12 22s7-7.2 7-12.5a7 7 0 0 0-14 0C5 14.8 12 22 12 22z",
      "M12 12a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5z"],
    close: ["M6 6l12 12M18 6L6 18"]
  };
  function icon(name) {
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", "td-icon");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    ICONS[name].forEach(function (d) {
      var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    return svg;
  }
  function iconButton(name, label, className) {
    var button = el("button", { type: "button", "class": className, "aria-label": label,
      title: label });
    button.appendChild(icon(name));
    return button;
  }

  var launcher = el("button", { "class": "td-launcher", type: "button", lang: "vi",
    "aria-haspopup": "dialog", "aria-controls": "td-panel", "aria-expanded": "false",
    hidden: "" });
  launcher.appendChild(icon("chat"));
  launcher.appendChild(el("span", {}, "Phản ánh, kiến nghị"));
  var panel = el("section", { id: "td-panel", "class": "td-panel", role: "dialog", lang: "vi",
    "aria-modal": "false", "aria-labelledby": "td-title", hidden: "" });
  var head = el("div", { "class": "td-head" });
  head.appendChild(el("h2", { id: "td-title" }, "Tiếp Dân – Gửi phản ánh"));
  var close = iconButton("close", "Đóng khung chat", "td-close");
  head.appendChild(close);
  // Focusable, so that the conversation can be scrolled with the keyboard.
  var log = el("div", { "class": "td-log", role: "log", "aria-live": "polite",
    "aria-label": "Tin nhắn", tabindex: "0" });
  var status = el("div", { "class": "td-status", role: "status" });
  var form = el("form", { "class": "td-form" });
  var label = el("label", { "for": "td-input", "class": "td-sr" }, "Nhập tin nhắn");
  var input = el("input", { id: "td-input", type: "text", autocomplete: "off", maxlength: "5000",
    placeholder: "Nhập nội dung phản ánh…" });
  var camera = iconButton("camera", "Gửi ảnh", "td-tool");
  var locate = iconButton("pin", "Gửi vị trí hiện tại", "td-tool");
  var picker = el("input", { type: "file", accept: "image/*", "class": "td-sr", tabindex: "-1",
    "aria-label": "Chọn ảnh để gửi" });
  var send = el("button", { type: "submit" }, "Gửi");
  form.appendChild(label); form.appendChild(input); form.appendChild(camera); form.appendChild(picker);
  form.appendChild(locate); form.appendChild(send);
  panel.appendChild(head); panel.appendChild(log); panel.appendChild(status); panel.appendChild(form);
  document.body.appendChild(launcher);
  document.body.appendChild(panel);
  function ready() { if (panel.hidden) launcher.hidden = false; }
  sheet.addEventListener("load", ready);
  sheet.addEventListener("error", ready);  // unstyled, but usable

  var sessionId = null;
  var lastId = 0;
  // Ids of the messages on screen. A pushed message may come with an id below one already
  // shown (ids are taken at insert, not at commit), so the highest id alone would drop it.
  var shown = {};
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
      var img = el("img", { src: absolute(message.image), alt: "Hình ảnh",
        "class": "td-img" + (direction === "in" ? " td-img-in" : "") });
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
            history.messages.forEach(function (m) {
              show(m, m.direction); shown[m.id] = true; lastId = m.id;
            });
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
        if (shown[m.id]) return;
        shown[m.id] = true;
        lastId = Math.max(lastId, m.id);
        show(m, "out");
      });
    };
    socket.onclose = function () {
      socket = null;
      status.textContent = "Đang kết nối lại…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }

  function messageId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();  // secure pages only
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 14);
  }

  // An answer lost on the way (the network, or a server restarting behind the portal's proxy)
  // is asked again under the same message id: the server stores the message once and gives
  // the retry the first try's replies.
  function sendMessage(body, attempt) {
    return request("/api/v1/webchat/messages", body).catch(function (error) {
      var lost = !error.status || error.status === 502 || error.status === 503 || error.status === 504;
      if (!lost || attempt >= 2) throw error;
      return new Promise(function (resolve) { setTimeout(resolve, 1000 * (attempt + 1)); })
        .then(function () { return sendMessage(body, attempt + 1); });
    });
  }

  function post(body, echo) {
    show({ text: echo }, "in");
    // A button's title goes with its payload: it is what the person chose, and what the chat's
    // history (after a reload) and the staff desk show, instead of "/affirm".
    if (body.payload && !body.text) body.text = echo;
    send.disabled = true;
    body.client_message_id = messageId();
    return ensureSession().then(function (id) {
      body.session_id = id;
      return sendMessage(body, 0);
    }).then(function (r) {
      r.messages.forEach(function (m) { show(m, "out"); });
      return request("/api/v1/webchat/sessions/" + encodeURIComponent(sessionId) + "/messages?after=" + lastId);
    }).then(function (history) {
      history.messages.forEach(function (m) { shown[m.id] = true; lastId = Math.max(lastId, m.id); });
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
        "Vị trí: " + lat + ", " + lon);
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
      post({ payload: '/share_photo{"photo_url": "' + body.url + '"}' }, "Đã gửi ảnh");
    }).catch(function (error) {
      show({ text: error.reason || "Không gửi được ảnh. Bạn vui lòng thử lại sau ít phút." }, "out");
    });
  });

  // On a phone the panel covers the page: it is then modal, and Tab stays inside it.
  function covers() { return panel.offsetWidth >= window.innerWidth; }
  function open() {
    panel.hidden = false;
    launcher.hidden = true;  // the panel sits where the launcher was
    launcher.setAttribute("aria-expanded", "true");
    panel.setAttribute("aria-modal", covers() ? "true" : "false");
    ensureSession().catch(function () {
      show({ text: "Hệ thống đang bận, bạn vui lòng thử lại sau." }, "out");
    });
    input.focus();
  }
  function shut() {
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }
  launcher.addEventListener("click", open);
  close.addEventListener("click", shut);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { shut(); return; }
    if (event.key !== "Tab" || !covers()) return;
    var stops = Array.prototype.filter.call(
      panel.querySelectorAll("button, input, a[href], [tabindex='0']"),
      function (x) { return !x.disabled && x.tabIndex >= 0 && x.offsetParent !== null; });
    var first = stops[0], last = stops[stops.length - 1];
    if (event.shiftKey && document.activeElement === first) { last.focus(); event.preventDefault(); }
    else if (!event.shiftKey && document.activeElement === last) { first.focus(); event.preventDefault(); }
  });

  window.TiepDanChat = { open: open, close: shut };
})();
