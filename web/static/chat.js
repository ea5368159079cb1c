/* Starts the rasa-webchat widget (window.WebChat, served from /vendor/webchat.js) on Rasa's socket.io
 * channel. The socket URL comes from /config.js, which bot/channels/web.py generates. */
(function () {
  "use strict";

  var config = window.IPBOT_CONFIG || {};
  var SESSION_KEY = "chat_session"; // where rasa-webchat keeps the conversation (params.storage: "local")

  /* zh or en: ?lang= first, then the browser's languages; Chinese when nothing says otherwise. */
  function pickLanguage() {
    var forced = new URLSearchParams(window.location.search).get("lang");
    if (forced === "zh" || forced === "en") return forced;
    var wanted = (navigator.languages && navigator.languages.length)
      ? navigator.languages : [navigator.language || ""];
    for (var i = 0; i < wanted.length; i += 1) {
      var tag = String(wanted[i]).toLowerCase();
      if (tag.indexOf("zh") === 0) return "zh";
      if (tag.indexOf("en") === 0) return "en";
    }
    return "zh";
  }

  var TEXT = {
    zh: {
      title: "海外知识产权纠纷预警助手",
      subtitle: "一线参考信息，不构成法律意见",
      hint: "请输入您的问题…",
      connecting: "正在连接…"
    },
    en: {
      title: "Overseas IP assistant",
      subtitle: "First-line information, not legal advice",
      hint: "Type your question…",
      connecting: "Connecting…"
    }
  };

  var lang = pickLanguage();
  var text = TEXT[lang];
  document.documentElement.setAttribute("data-chat-lang", lang);

  /* The widget renders bot texts as Markdown; ours are plain text. Without this, "[1]" shows as "1"
   * (a link reference) and a URL followed by "，审核于" becomes one broken link. So: URLs become
   * <autolinks> that end before CJK punctuation, and Markdown characters elsewhere are escaped. */
  var URL_PATTERN = /https?:\/\/[^\s<>"'\u3000-\u303f\uff00-\uffef]+/g;
  var MARKDOWN_CHARS = /[\\`*_[\]#>~|]/g;

  function escapeMarkdown(plain) {
    return plain
      .replace(MARKDOWN_CHARS, "\\$&")
      .replace(/^(\s*)(\d+)\.(?=\s)/gm, "$1$2\\.") // "1. " would start a list
      .replace(/^(\s*)([-+])(?=\s)/gm, "$1\\$2");
  }

  function plainToMarkdown(text) {
    var out = "";
    var last = 0;
    text.replace(URL_PATTERN, function (url, offset) {
      var trimmed = url.replace(/[.,;:!?\]]+$/, "");
      if (/\)$/.test(trimmed) && trimmed.indexOf("(") < 0) trimmed = trimmed.replace(/\)+$/, "");
      out += escapeMarkdown(text.slice(last, offset)) + "<" + trimmed + ">";
      last = offset + trimmed.length;
      return url;
    });
    return out + escapeMarkdown(text.slice(last));
  }

  /* Runs before the widget's own bot_uttered handler (rasa-webchat attaches onSocketEvent first)
   * and rewrites the text in place. */
  function prepareBotMessage(message) {
    if (message && typeof message.text === "string") message.text = plainToMarkdown(message.text);
  }

  if (!window.WebChat || !window.WebChat.default) {
    document.body.setAttribute("data-chat-error", "bundle");
    return;
  }

  window.WebChat.default({
    socketUrl: config.socketUrl || window.location.origin, // empty: Rasa behind the same origin (a proxy)
    socketPath: config.socketPath || "/socket.io/",
    // Messages starting with "/" skip NLU; the language entity fills the slot that picks zh/en replies.
    initPayload: "/greet{\"language\":\"" + lang + "\"}",
    params: { storage: "local" },
    title: text.title,
    subtitle: text.subtitle,
    inputTextFieldHint: text.hint,
    connectingText: text.connecting,
    onSocketEvent: { bot_uttered: prepareBotMessage },
    withRules: false,
    hideWhenNotConnected: false,
    showFullScreenButton: false,
    // No customComponent on purpose: without one, rasa-webchat 1.0.1 drops `custom` messages (an
    // answer's citations as data; the same sources are in its text), so no raw JSON and no empty
    // bubble. A component, even one that renders nothing, would add a message to the list, and quick
    // replies only show on the last message.
    // The default waits 0.8-3 s before each message; an answer is several messages.
    customMessageDelay: function (message) {
      return Math.min(500, 120 + String(message || "").length);
    },
    mainColor: "#1f4e79",
    userBackgroundColor: "#1f4e79",
    userTextColor: "#ffffff"
  }, null);

  function openChat() {
    if (document.querySelector(".rw-conversation-container")) return;
    var launcher = document.querySelector(".rw-launcher");
    if (launcher) launcher.click();
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-open-chat]"), function (button) {
    button.addEventListener("click", openChat);
  });

  var reset = document.getElementById("new-conversation");
  if (reset) {
    reset.addEventListener("click", function () {
      window.localStorage.removeItem(SESSION_KEY);
      window.location.reload();
    });
  }
})();
