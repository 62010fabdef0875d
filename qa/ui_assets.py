"""The chat page's style sheet and browser script (plain strings: Gradio inlines them into the page).

Wide screens show the chat beside the Sources panel. Below PHONE_WIDTH the page is answer-first:
the panel is hidden, each answer unfolds its own sources underneath, and the question box stays
pinned to the bottom of the screen.
"""

PHONE_WIDTH = 820  # px: below this Gradio stacks the chat column (420) and the sources column (360)

CSS = """
.qa-upload-status { font-size: .85rem; line-height: 1.45; margin-top: .4rem; }
.qa-upload-status.qa-upload-failed { color: #b91c1c; }
.qa-upload-status.qa-upload-done div:last-child { font-weight: 600; }
.qa-header h1 { margin: 0 0 .2rem; font-size: 1.6rem; }
.qa-header p { margin: 0; color: var(--body-text-color-subdued); max-width: 70rem; }
.qa-doc-list { font-size: .85rem; color: var(--body-text-color-subdued); margin-top: .2rem; }
.qa-doc-list summary { cursor: pointer; width: fit-content; }
.qa-doc-list ul { max-height: 12rem; overflow-y: auto; margin: .2rem 0 0 1.2rem; padding: 0; }
.qa-article { white-space: pre-wrap; font-size: .92rem; line-height: 1.5; max-height: 28rem; overflow-y: auto; }
.qa-meta { font-size: .78rem; color: var(--body-text-color-subdued); margin-top: .35rem; }
.qa-verdict { font-weight: 600; cursor: help; }
.qa-prob, .qa-scores { display: none; }  /* shown by "Show scores" (qaPage.showScores) */
.qa-error { color: var(--error-text-color, #b91c1c); }
a.qa-cite { color: var(--color-accent) !important; font-size: .85em; font-weight: 700; text-decoration: none !important;
            white-space: nowrap; padding: 0 .1em; }
a.qa-cite:hover { text-decoration: underline !important; }
#qa-count { min-height: 0; padding: 0 .3rem; }
#qa-count .qa-count { font-size: .75rem; text-align: right; color: var(--body-text-color-subdued); }
#qa-count .qa-count.qa-over { color: var(--error-text-color, #b91c1c); font-weight: 600; }
#qa-ask:disabled { opacity: .45; cursor: not-allowed; }
/* !important: Gradio writes "overflow: visible" inline on the block, which beats a plain rule. */
#qa-sources { max-height: 680px; overflow-y: auto !important; padding-right: .3rem; }
/* Errors are no answers: no 👍/👎 under them (nothing could be recorded). */
#qa-chat .message-row:has(.qa-error) + .message-buttons { display: none !important; }
.qa-sources h3 { margin: .2rem 0; font-size: 1.1rem; }
.qa-sources h3.qa-warn { color: #b45309; }
.qa-sources .qa-empty, .qa-for { color: var(--body-text-color-subdued); font-size: .85rem; margin: 0 0 .6rem; }
.qa-turn { display: none; }
.qa-turn.qa-current { display: block; }
.qa-turn-head { display: flex; justify-content: space-between; align-items: center; gap: .5rem; }
.qa-nav { display: inline-flex; align-items: center; gap: .3rem; font-size: .78rem; color: var(--body-text-color-subdued);
          flex: 0 0 auto; white-space: nowrap; }
.qa-go { border: 1px solid var(--border-color-primary); border-radius: 6px; background: var(--background-fill-primary);
         min-width: 1.8rem; height: 1.8rem; cursor: pointer; font-size: 1rem; line-height: 1; }
.qa-go:disabled { opacity: .35; cursor: default; }
.qa-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: .7rem .9rem;
           margin-bottom: .7rem; background: var(--background-fill-secondary); scroll-margin: 1rem 0 5rem;
           transition: box-shadow .3s; }
.qa-card.qa-closest { border-style: dashed; opacity: .9; }
.qa-card.qa-flash { animation: qa-flash 1.6s ease-out; }
@keyframes qa-flash { from { box-shadow: 0 0 0 3px var(--color-accent); } to { box-shadow: 0 0 0 3px transparent; } }
.qa-card-head { display: flex; gap: .6rem; align-items: center; margin-bottom: .35rem; }
.qa-ns { display: inline-flex; gap: .2rem; }
.qa-n { font-weight: 700; min-width: 1.6rem; height: 1.6rem; border-radius: 50%; display: inline-flex;
        align-items: center; justify-content: center; background: var(--color-accent); color: white; font-size: .85rem; }
.qa-where { display: flex; flex-direction: column; font-size: .8rem; line-height: 1.3; }
.qa-doc { color: var(--body-text-color-subdued); font-family: var(--font-mono); font-size: .75rem; }
.qa-sec { font-weight: 600; }
.qa-passage { font-size: .9rem; line-height: 1.5; }
.qa-passage p { margin: 0 0 .4rem; }
.qa-passage p.qa-h { font-weight: 700; }
.qa-passage ul, .qa-passage ol { margin: 0 0 .4rem 1.2rem; padding: 0; }
.qa-passage ul { list-style: disc; }
.qa-passage ol { list-style: decimal; }
.qa-passage li { margin: 0 0 .2rem; }
.qa-passage mark { background: #fde68a; color: #1f2937; padding: 0 .1em; border-radius: 3px; }  /* dark text: readable in dark mode too */
.qa-mark-n { font-size: .7em; font-weight: 700; color: var(--color-accent); margin-left: .1em; }
.qa-scores { margin-top: .4rem; font-size: .75rem; font-family: var(--font-mono); color: var(--body-text-color-subdued); }
.qa-inline { display: none; margin-top: .5rem; }
.qa-inline summary { cursor: pointer; font-size: .85rem; font-weight: 600; color: var(--color-accent); padding: .3rem 0; }
.qa-inline .qa-card { margin: .5rem 0; }
a.qa-back { display: inline-block; font-size: .85rem; padding: .3rem 0; color: var(--color-accent) !important; }
#qa-composer { gap: .2rem; }
#qa-under-input { align-items: center; flex-wrap: nowrap; }
#qa-under-input > #qa-count { flex: 1 1 auto; }
#qa-examples { flex-wrap: wrap !important; gap: .4rem; }
#qa-examples::before { content: "Example questions"; flex: 1 0 100%; font-size: .85rem; font-weight: 600;
                       color: var(--body-text-color-subdued); }
#qa-examples button.qa-example { flex: 0 1 auto !important; min-width: 0 !important; max-width: 100%; white-space: normal;
                                 text-align: left; font-weight: 400; line-height: 1.3; }
@media (max-width: %(phone)dpx) {
  .qa-header h1 { font-size: 1.3rem; }
  .qa-header p { font-size: .82rem; line-height: 1.4; }
  #qa-sources-col { display: none !important; }
  .qa-inline { display: block; }
  #qa-chat { height: auto !important; min-height: 9rem; overflow: visible !important; }
  #qa-chat .bubble-wrap { height: auto !important; max-height: none !important; overflow: visible !important;
                          padding: 8px 6px 0 !important; }
  #qa-chat .message-row.bot-row { margin: 12px 0 6px !important; max-width: 100% !important; }
  #qa-chat .message-row.user-row { margin: 12px 2px 6px auto !important; max-width: 88% !important; }
  #qa-composer { position: sticky; bottom: 0; z-index: 20; background: var(--body-background-fill);
                 padding: .4rem 0 .1rem; box-shadow: 0 -6px 8px -6px rgba(0, 0, 0, .15); }
  #qa-input-row { flex-wrap: nowrap !important; gap: .4rem; }
  #qa-input-row > * { min-width: 0 !important; }
  #qa-input-row > #qa-ask { flex: 0 0 4.5rem !important; min-width: 4.5rem !important; }
}
""".replace("%(phone)d", str(PHONE_WIDTH))

# Runs in the page (Gradio puts it in <head>): document-level listeners only, because Gradio
# draws and redraws the page's elements after this runs.
HEAD = r"""
<style>
/* Outside CSS: Gradio prefixes the page's rules with its container, which cannot then match the
   container itself. Its "overflow: hidden" would keep the question box from sticking on phones. */
@media (max-width: %(phone)dpx) { .gradio-container { overflow: clip !important; } }
</style>
<script>
(function () {
  var waits = {}, questions = 0, SIZE_IN_TOAST = /allowed size of ([\d.]+) ([KMG])b\b/;
  function byId(id) { return document.getElementById(id); }
  // Wide screens show the Sources panel; on phones CSS hides it and the sources sit under each answer.
  function wide() { var panel = byId("qa-sources"); return !!(panel && panel.offsetParent !== null); }
  function flash(el) {
    el.classList.remove("qa-flash"); void el.offsetWidth; el.classList.add("qa-flash");
  }
  // Show answer `turn`'s section of the Sources panel.
  function showTurn(turn) {
    var found = null;
    document.querySelectorAll("#qa-sources .qa-turn").forEach(function (s) {
      var on = s.getAttribute("data-turn") === String(turn);
      s.classList.toggle("qa-current", on);
      if (on) found = s;
    });
    return found;
  }
  // A marker [n] leads to its own answer's card: in the panel on wide screens, or in the
  // sources unfolded under that answer on phones.
  function followMarker(link) {
    var where = /^#src-(\d+)-(\d+)$/.exec(link.getAttribute("href") || ""), target;
    if (!where) return false;
    if (wide()) {
      showTurn(where[1]);
      target = byId("src-" + where[1] + "-" + where[2]);
    } else {
      var details = byId("inline-" + where[1]);
      if (details) details.open = true;
      target = byId("in-" + where[1] + "-" + where[2]);
    }
    if (!target) return false;
    target.scrollIntoView({behavior: "smooth", block: wide() ? "nearest" : "start"});
    flash(target);
    return true;
  }
  // "Back to the answer" under an answer's sources (phones): fold them and show the answer.
  function backToAnswer(link) {
    var turn = /^#answer-(\d+)$/.exec(link.getAttribute("href") || "");
    if (!turn) return false;
    var details = byId("inline-" + turn[1]), answer = byId("answer-" + turn[1]);
    if (details) details.open = false;
    if (answer) answer.scrollIntoView({behavior: "smooth", block: "start"});
    return true;
  }
  document.addEventListener("click", function (event) {
    var el = event.target && event.target.closest ? event.target : null;
    if (!el) return;
    var link = el.closest("a.qa-cite"), go = el.closest("button.qa-go"), back = el.closest("a.qa-back");
    if ((link && followMarker(link)) || (back && backToAnswer(back))) {
      event.preventDefault(); event.stopPropagation();
    } else if (go && !go.disabled) {
      var section = showTurn(go.getAttribute("data-go"));
      if (section) section.scrollIntoView({block: "nearest"});
    }
  }, true);

  // The question box: nothing is sent while it is blank or over the engine's limit; a counter says so.
  function check(value) {
    var counter = document.querySelector("#qa-count .qa-count"), ask = byId("qa-ask");
    var max = counter ? parseInt(counter.getAttribute("data-max"), 10) : Infinity;
    var text = value || "", blank = !text.trim(), over = text.length > max;
    if (counter) {
      counter.textContent = text.length.toLocaleString("en") + " / " + max.toLocaleString("en") +
        (over ? " characters: too long to ask, please shorten it" : "");
      counter.classList.toggle("qa-over", over);
    }
    if (ask) ask.disabled = blank || over;
    return !(blank || over);
  }
  function stopIfUnsendable(event) {
    var box = event.target;
    if (event.key !== "Enter" || event.shiftKey || !box.closest || !box.closest("#qa-question")) return;
    if (!check(box.value)) { event.preventDefault(); event.stopImmediatePropagation(); }
  }
  document.addEventListener("keydown", stopIfUnsendable, true);
  // The top-k number box takes any number until it loses focus (Gradio then snaps it, through
  // the slider's release event): Enter commits it the same way, so what the box shows is what
  // the next answer uses.
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (event.key === "Enter" && box.matches && box.matches("#qa-top-k input[type=number]")) {
      event.preventDefault();
      box.blur();
    }
  }, true);
  document.addEventListener("keypress", stopIfUnsendable, true);
  document.addEventListener("input", function (event) {
    if (event.target.closest && event.target.closest("#qa-question")) check(event.target.value);
  }, true);

  // Redraws: show each answer's wait as measured here (from sending to the complete answer),
  // give example buttons their full text as a tooltip, and set up the Ask button once it exists.
  function tidy() {
    // Phones: the page grows with the chat, so bring each new question to the top of the
    // screen; its answer then streams in right under it.
    var asked = document.querySelectorAll("#qa-chat .message-row.user-row");
    if (asked.length > questions && !wide()) {
      asked[asked.length - 1].scrollIntoView({behavior: "smooth", block: "start"});
    }
    questions = asked.length;
    document.querySelectorAll("#qa-chat .qa-wait[id^='wait-']").forEach(function (wait) {
      var sent = wait.id.slice(5);
      if (!(sent in waits)) waits[sent] = (performance.now() - parseInt(sent, 10)) / 1000;
      var text = waits[sent].toFixed(2) + " s";
      if (wait.textContent !== text) wait.textContent = text;
    });
    document.querySelectorAll("#qa-examples button:not([title])").forEach(function (b) {
      b.title = b.textContent.trim();
    });
    // Gradio's toast for a file over the size limit gives it in binary units ("19.1 Mb" for
    // 20,000,000 bytes) where the upload box says "20 MB": say it in the box's unit.
    document.querySelectorAll(".toast-wrap *").forEach(function (el) {
      if (el.children.length || !SIZE_IN_TOAST.test(el.textContent)) return;
      el.textContent = el.textContent.replace(SIZE_IN_TOAST, function (_, size, unit) {
        var mb = parseFloat(size) * Math.pow(1024, " KMG".indexOf(unit)) / 1e6;
        return "allowed size of " + (mb < 0.1 ? Math.round(mb * 1e6).toLocaleString("en") + " bytes"
                                              : String(Math.round(mb * 10) / 10) + " MB");
      });
    });
    var box = document.querySelector("#qa-question textarea"), ask = byId("qa-ask");
    if (box && ask && !ask.hasAttribute("data-qa")) { ask.setAttribute("data-qa", "1"); check(box.value); }
  }
  new MutationObserver(tidy).observe(document.documentElement, {childList: true, subtree: true});

  window.qaPage = {
    check: check,
    // Gradio prefixes the page's CSS rules with its container, so a class on <body> cannot turn
    // them on: a style element of our own (with !important) does.
    showScores: function (on) {
      var style = byId("qa-show-scores");
      if (on && !style) {
        style = document.createElement("style");
        style.id = "qa-show-scores";
        style.textContent = ".qa-scores { display: block !important; } .qa-prob { display: inline !important; }";
        document.head.appendChild(style);
      } else if (!on && style) {
        style.remove();
      }
    },
    sentAt: function () { return Math.floor(performance.now()); }
  };
})();
</script>
""".replace("%(phone)d", str(PHONE_WIDTH))

# Event hooks run in the browser before the server is called (Gradio's `js=`).
# Sending: stamp the moment the question left, in the browser's clock (the last input).
STAMP_SENT_JS = "(...args) => { args[args.length - 1] = window.qaPage.sentAt(); return args; }"
COUNT_JS = "(text) => { window.qaPage.check(text); return []; }"
SCORES_JS = "(on) => { window.qaPage.showScores(on); return []; }"
