// Polls a job's API row and moves the progress bar without a reload; reloads once it finishes.
(function () {
  const box = document.querySelector("[data-job-url]");
  if (!box) return;
  const bar = box.querySelector(".progress > div");
  const label = box.querySelector("[data-job-stage]");
  // The status badge sits in the page title, outside the progress box.
  const status = document.querySelector("[data-job-status]");
  async function poll() {
    try {
      const r = await fetch(box.dataset.jobUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (r.ok) {
        const job = await r.json();
        bar.style.width = job.progress + "%";
        bar.setAttribute("aria-valuenow", job.progress);
        if (label) label.textContent = job.progress + "% " + (job.stage || "");
        if (status) { status.textContent = job.status; status.className = "badge " + job.status; }
        if (["succeeded", "failed", "cancelled"].includes(job.status)) { window.location.reload(); return; }
      }
    } catch (e) { /* keep polling */ }
    setTimeout(poll, 1500);
  }
  poll();
})();
