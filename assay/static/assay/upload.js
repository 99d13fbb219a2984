// Uploads a form's file with a progress bar; the server answers with the page to show (the form again with
// its errors next to the fields and what was typed kept, or the page to go to), which replaces this one.
(function () {
  const form = document.querySelector("form[data-upload]");
  if (!form || !window.XMLHttpRequest) return;
  const box = form.querySelector(".progress");
  const bar = box.querySelector("div");
  const status = form.querySelector("[data-upload-status]");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action || window.location.href);
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      const percent = Math.round((100 * e.loaded) / e.total);
      box.hidden = false;
      bar.style.width = percent + "%";
      box.setAttribute("aria-valuenow", percent);
      status.textContent = percent < 100 ? "Uploading… " + percent + "%" : "Checking the file on the server…";
    });
    xhr.addEventListener("load", function () {
      // The page the server answered (it carries its one-time notices); its address, where it redirected.
      if (xhr.responseURL && xhr.responseURL !== window.location.href) history.replaceState(null, "", xhr.responseURL);
      document.open(); document.write(xhr.responseText); document.close();
    });
    xhr.addEventListener("error", function () { status.textContent = "The upload failed: check the connection and try again."; });
    form.querySelector("button[type=submit]").disabled = true;
    xhr.send(new FormData(form));
  });
})();
