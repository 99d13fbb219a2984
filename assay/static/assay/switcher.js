// The organisation switcher submits itself when another organisation is picked (a listener, not an inline
// handler: the CSP allows only scripts served by Assay); its button stays for browsers without JavaScript.
(function () {
  const form = document.getElementById("org-switcher");
  if (!form) return;
  const select = form.querySelector("select");
  const button = form.querySelector("button[type=submit]");
  if (button) button.classList.add("js-hidden");
  select.addEventListener("change", function () { form.submit(); });
})();
