// keyward back office: small enhancements over pages that work without
// script. Copy buttons for secrets shown once; a block's title in the
// method tree ticks or clears the whole block; methods the chosen
// permissions cannot allow are shown unavailable; ticking a store or method
// chooses "selected"; the API Access toggle shows for Merchant Level 2
// only; refused forms and shown-once secrets take focus.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function announce(text) {
    var live = document.getElementById("live");
    if (!live) {
      live = document.createElement("div");
      live.id = "live";
      live.className = "sr-only";
      live.setAttribute("aria-live", "polite");
      document.body.appendChild(live);
    }
    live.textContent = "";
    setTimeout(function () { live.textContent = text; }, 50);
  }

  function copyFrom(input) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(input.value);
    }
    input.focus();
    input.select();
    var ok = document.execCommand && document.execCommand("copy");
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function setUpCopy() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      var input = document.getElementById(button.getAttribute("data-copy"));
      if (!input) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        copyFrom(input).then(function () {
          button.textContent = "Copied";
          button.classList.add("done");
          announce("Copied to the clipboard.");
          setTimeout(function () { button.textContent = "Copy"; button.classList.remove("done"); }, 2000);
        }, function () {
          input.focus();
          input.select();
          announce("Copying is blocked here; the text is selected, press Control+C or Command+C.");
        });
      });
    });
    document.querySelectorAll("[data-secret]").forEach(function (input) {
      input.addEventListener("focus", function () { input.select(); });
    });
  }

  // level returns the permission level chosen for a resource in the key
  // form: "", "read" or "write".
  function level(resource) {
    var r = document.querySelector('input[name="perm.' + resource + '"]:checked');
    return r ? r.value : "";
  }

  function allows(held, want) {
    return want === "read" ? held === "read" || held === "write" : want === "write" && held === "write";
  }

  // A method the chosen permissions cannot allow is shown unavailable,
  // cleared and cannot be ticked; its note says which permission it needs.
  function syncAvailability() {
    document.querySelectorAll("[data-method][data-resource]").forEach(function (m) {
      var ok = allows(level(m.getAttribute("data-resource")), m.getAttribute("data-access"));
      m.disabled = !ok;
      if (!ok) m.checked = false;
      m.closest("li").classList.toggle("unavailable", !ok);
    });
    document.querySelectorAll("[data-block]").forEach(function (b) { b.dispatchEvent(new Event("sync")); });
  }

  function setUpAvailability() {
    var perms = document.querySelectorAll('input[name^="perm."]');
    if (perms.length === 0) return;
    perms.forEach(function (p) { p.addEventListener("change", syncAvailability); });
    syncAvailability();
  }

  function setUpBlocks() {
    document.querySelectorAll("[data-block]").forEach(function (block) {
      var all = block.querySelector("[data-block-all]");
      var boxes = Array.prototype.slice.call(block.querySelectorAll("[data-method]"));
      var title = block.querySelector("[data-block-title]");
      function available() { return boxes.filter(function (m) { return !m.disabled; }); }
      var methods = boxes;
      function sync() {
        methods = available();
        var on = methods.filter(function (m) { return m.checked; }).length;
        all.checked = methods.length > 0 && on === methods.length;
        all.indeterminate = on > 0 && on < methods.length;
        all.disabled = methods.length === 0;
      }
      block.addEventListener("sync", sync);
      function setAll(on) {
        available().forEach(function (m) { m.checked = on; });
        sync();
        if (on && methods.length > 0) choose(block);
      }
      if (title) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "block-toggle";
        button.textContent = title.textContent;
        button.setAttribute("aria-label", title.textContent + ": tick or clear the whole block");
        button.addEventListener("click", function () {
          var ms = available();
          setAll(ms.length === 0 || !ms.every(function (m) { return m.checked; }));
        });
        title.replaceWith(button);
      }
      all.addEventListener("change", function () { setAll(all.checked); });
      boxes.forEach(function (m) { m.addEventListener("change", sync); });
      sync();
    });
  }

  // Ticking something under a "selected …" choice chooses it.
  function choose(el) {
    var box = el.closest("[data-auto]");
    var radio = box && document.getElementById(box.getAttribute("data-auto"));
    if (radio) radio.checked = true;
  }

  function setUpAutoChoice() {
    document.querySelectorAll("[data-auto]").forEach(function (box) {
      box.addEventListener("change", function (e) {
        if (e.target.checked) choose(e.target);
      });
    });
  }

  // The API Access toggle is hidden, and left out of the form, while
  // Merchant Level 1 is chosen. A refusal shown beside it stays visible
  // until the level is changed.
  function setUpLevel2Only() {
    var box = document.querySelector("[data-level2-only]");
    var levels = Array.prototype.slice.call(document.querySelectorAll("input[data-level]"));
    if (!box || levels.length === 0) return;
    var inputs = Array.prototype.slice.call(box.querySelectorAll("input"));
    function sync(initial) {
      var level2 = levels.some(function (l) { return l.checked && l.value === "2"; });
      if (initial && !level2 && box.querySelector(".field-error")) return;
      box.hidden = !level2;
      inputs.forEach(function (i) { i.disabled = !level2; });
    }
    levels.forEach(function (l) { l.addEventListener("change", function () { sync(false); }); });
    sync(true);
  }

  function focusFirst() {
    var el = document.querySelector("[data-focus]");
    if (el) el.focus();
  }

  function ready() {
    setUpCopy();
    setUpBlocks();
    setUpAvailability();
    setUpAutoChoice();
    setUpLevel2Only();
    focusFirst();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
