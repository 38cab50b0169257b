// Staff: correct the transcript in place. Saving re-indexes the talk on the server (nothing is
// transcribed again); the names and terms a correction brings in can join the glossary in one click.
(function () {
  "use strict";
  var article = document.getElementById("recording");
  var transcript = document.getElementById("transcript");
  var toggle = document.getElementById("edit-toggle");
  if (!article || !transcript || !toggle) return;
  var api = article.dataset.apiUrl + "/segments/";

  function button(label, className) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = className;
    b.textContent = label;
    return b;
  }

  function send(method, url, body) {
    return fetch(url, {
      method: method,
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRF-Token": document.querySelector("meta[name=csrf-token]").content
      },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.error || "the server said " + response.status);
        return data;
      });
    });
  }

  toggle.addEventListener("click", function () {
    var on = transcript.classList.toggle("editing");
    toggle.setAttribute("aria-pressed", String(on));
    toggle.textContent = on ? "Done correcting" : "Correct transcript";
    transcript.querySelectorAll("li[data-start]").forEach(function (li) {
      var existing = li.querySelector(".seg-edit");
      if (on && !existing) li.insertBefore(button("Edit", "seg-edit"), li.querySelector(".seg-copy"));
      if (!on && existing && !li.querySelector(".editor")) existing.remove();
    });
  });

  transcript.addEventListener("click", function (event) {
    var edit = event.target.closest("button.seg-edit");
    if (edit) open(edit.closest("li"));
  });

  function open(li) {
    if (li.querySelector(".editor")) return;
    var text = li.querySelector(".text");
    var editButton = li.querySelector(".seg-edit");
    var editor = document.createElement("div");
    editor.className = "editor";
    var area = document.createElement("textarea");
    area.value = text.textContent;
    area.rows = 3;
    area.setAttribute("aria-label", "Corrected text at " + li.querySelector(".time").textContent);
    var save = button("Save", "save");
    var cancel = button("Cancel", "cancel");
    var revert = button("Revert to what was transcribed", "revert");
    revert.hidden = !li.hasAttribute("data-edited");
    var message = document.createElement("p");
    message.className = "hint";
    message.setAttribute("role", "status");
    editor.append(area, save, cancel, revert, message);
    text.hidden = true;
    editButton.hidden = true;
    li.appendChild(editor);
    area.focus();

    function close() {
      editor.remove();
      text.hidden = false;
      editButton.hidden = false;
      editButton.focus();
    }
    function apply(data) {
      text.textContent = data.segment.text;
      if (data.segment.edited) li.setAttribute("data-edited", ""); else li.removeAttribute("data-edited");
      close();
      offerTerms(li, data.new_terms || []);
    }
    function run(request) {
      save.disabled = revert.disabled = true;
      message.textContent = "Saving and re-indexing…";
      request.then(apply, function (error) {
        message.textContent = "Not saved: " + error.message;
        save.disabled = revert.disabled = false;
      });
    }
    save.addEventListener("click", function () { run(send("PUT", api + li.dataset.idx, { text: area.value })); });
    revert.addEventListener("click", function () { run(send("POST", api + li.dataset.idx + "/revert")); });
    cancel.addEventListener("click", close);
    area.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { event.preventDefault(); close(); }
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); save.click(); }
    });
  }

  function offerTerms(li, terms) {
    var old = li.querySelector(".glossary-offer");
    if (old) old.remove();
    if (!terms.length) return;
    var offer = document.createElement("p");
    offer.className = "glossary-offer";
    offer.append("Teach the archive this spelling for later talks: ");
    terms.forEach(function (term) {
      var add = button("Add \u201c" + term + "\u201d to the glossary", "add-term");
      add.addEventListener("click", function () {
        add.disabled = true;
        send("POST", article.dataset.glossaryUrl, { term: term }).then(function () {
          add.textContent = "\u201c" + term + "\u201d is in the glossary";
        }, function (error) {
          add.disabled = false;
          add.textContent = "Could not add \u201c" + term + "\u201d: " + error.message;
        });
      });
      offer.append(add, " ");
    });
    li.appendChild(offer);
  }
})();
