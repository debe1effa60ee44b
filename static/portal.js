// The console's shell. The one shared <dialog>: htmx fills #dialog-body, we open it, name it
// after its heading and move focus into it; a response that sets HX-Trigger "closeDialog"
// closes it, and focus goes back to what opened it. Responses may also set "announce"
// (read to screen readers) and "showMessage" (a toast, read too). Forms in the dialog show
// their submit button's data-busy-label while their request runs. Copy buttons copy.
(function () {
  "use strict";
  const dialog = document.getElementById("dialog");
  const dialogBody = document.getElementById("dialog-body");
  const live = document.getElementById("live");
  const dialogLive = document.getElementById("dialog-live");
  const toasts = document.getElementById("toasts");
  let opener = null;
  let openerId = "";

  function announce(message) {
    if (!message) return;
    // While the modal dialog is open the rest of the page is inert, #live included.
    const region = dialog.open ? dialogLive : live;
    region.textContent = "";
    // Written after a pause, so that the same message twice is still a change to read.
    setTimeout(function () { region.textContent = message; }, 100);
  }

  function showMessage(message, level) {
    if (!message) return;
    const toast = document.createElement("p");
    toast.className = "toast" + (level ? " " + level : "");
    toast.textContent = message;
    toasts.append(toast);
    announce(message);
    setTimeout(function () { toast.remove(); }, 8000);
  }

  // HX-Trigger {"announce": "text"} arrives as {value: "text"}; {"showMessage": {"message":
  // "text", "level": "success"}} as that object.
  function messageOf(event) {
    const detail = event.detail || {};
    return typeof detail === "string" ? detail : detail.message || detail.value || "";
  }
  document.addEventListener("announce", function (event) { announce(messageOf(event)); });
  document.addEventListener("showMessage", function (event) {
    showMessage(messageOf(event), event.detail && event.detail.level);
  });

  function focusIntoDialog(opening) {
    const invalid = dialogBody.querySelector('[aria-invalid="true"]');
    const heading = dialogBody.querySelector("h1, h2, h3");
    if (heading) {
      heading.id = heading.id || "dialog-title";
      dialog.setAttribute("aria-labelledby", heading.id);
    } else {
      dialog.removeAttribute("aria-labelledby");
    }
    const problem = dialogBody.querySelector(".errorlist, .error");
    if (problem) announce(problem.textContent.trim());
    if (invalid) {
      invalid.focus();
    } else if (opening || !dialog.contains(document.activeElement)) {
      // The heading, not the first button: it tells where we are, and Tab goes on from it.
      const target = heading || dialogBody;
      target.setAttribute("tabindex", "-1");
      target.focus();
    }
  }

  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target !== dialogBody) return;
    const opening = !dialog.open;
    if (opening) {
      const config = event.detail.requestConfig;
      opener = (config && config.elt) || document.activeElement;
      openerId = (opener && opener.id) || "";
      dialog.showModal();
    }
    focusIntoDialog(opening);
  });

  document.addEventListener("closeDialog", function () { if (dialog.open) dialog.close(); });

  dialog.addEventListener("close", function () {
    // A swap may have replaced the opener (the tables are redrawn after a change): then its
    // successor with the same id takes the focus.
    const target = opener && opener.isConnected ? opener : openerId && document.getElementById(openerId);
    if (target) target.focus();
    opener = null;
    openerId = "";
  });

  function busyForm(event) {
    const form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("form");
    return form && dialog.contains(form) ? form : null;
  }

  document.body.addEventListener("htmx:beforeRequest", function (event) {
    const form = busyForm(event);
    if (!form) return;
    form.setAttribute("aria-busy", "true");
    const button = form.querySelector("[type=submit][data-busy-label]") || form.querySelector("[type=submit]");
    if (!button) return;
    button.disabled = true;
    form.busyButton = button;
    if (button.dataset.busyLabel) {
      button.dataset.idleLabel = button.textContent;
      button.textContent = button.dataset.busyLabel;
      announce(button.dataset.busyLabel);
    }
  });

  document.body.addEventListener("htmx:afterRequest", function (event) {
    const form = busyForm(event);
    if (!form) return;
    form.removeAttribute("aria-busy");
    const button = form.busyButton;
    if (!button) return;
    button.disabled = false;
    if (button.dataset.idleLabel) button.textContent = button.dataset.idleLabel;
    delete button.dataset.idleLabel;
    form.busyButton = null;
  });

  document.body.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (button) {
      navigator.clipboard.writeText(button.dataset.copy).then(function () {
        // The page's language: base.html writes the word on <body>; the button's own
        // label comes back afterwards.
        const label = button.textContent;
        const copied = document.body.dataset.copiedLabel || "Copied";
        button.textContent = copied;
        announce(copied);
        setTimeout(function () { button.textContent = label; }, 1500);
      });
    }
    if (event.target.closest("[data-close-dialog]")) { event.preventDefault(); dialog.close(); }
    if (event.target.closest("[data-close-dialog-link]")) { dialog.close(); }
  });

  window.portal = { announce: announce, showMessage: showMessage };
})();

// A filter form that htmx submits with hx-push-url (data-follows-url): when Back or
// Forward brings an earlier page back from htmx's history, its fields show what that page's
// URL says, not what was typed last (the saved page keeps the values the server rendered).
document.body.addEventListener("htmx:historyRestore", function () {
  const params = new URLSearchParams(location.search);
  document.querySelectorAll("form[data-follows-url]").forEach(function (form) {
    Array.from(form.elements).forEach(function (field) {
      if (!field.name || field.type === "submit" || field.type === "button") return;
      const value = params.get(field.name) || "";
      if (field.type === "checkbox" || field.type === "radio") {
        field.checked = params.getAll(field.name).includes(field.value);
        return;
      }
      field.value = value;
      // A value the list does not offer leaves a <select> blank: show its first choice.
      if (field.tagName === "SELECT" && field.value !== value) field.selectedIndex = 0;
    });
  });
});
