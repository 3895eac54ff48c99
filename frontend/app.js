// The dashboard's only script: htmx, bundled so the page needs nothing but 'self'.
import htmx from "htmx.org";
import { drawCharts } from "./chart.js";
import { setUpSlugs } from "./forms.js";
import { setUpMenus } from "./menu.js";
import { setUpScrollBoxes } from "./tables.js";

htmx.config.includeIndicatorStyles = false;
htmx.config.allowEval = false;
window.htmx = htmx;

// Proof of work for the subscribe form (ALTCHA v1 protocol): find the number whose
// SHA-256 with the signed salt is the challenge, then let the form submit.
async function sha256Hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function solveProofOfWork(input) {
  const form = input.form;
  const challenge = JSON.parse(document.getElementById(input.dataset.powChallenge).textContent);
  for (let number = 0; number <= challenge.maxNumber; number += 1) {
    if ((await sha256Hex(challenge.salt + number)) === challenge.challenge) {
      const payload = { ...challenge, number };
      delete payload.maxNumber;
      input.value = btoa(JSON.stringify(payload));
      form.querySelector("[data-pow-status]").textContent = input.dataset.powDone || "✓";
      form.querySelector("[data-pow-submit]").disabled = false;
      return;
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("input[data-pow-challenge]").forEach(solveProofOfWork);
  setUpMenus();
  setUpSlugs();
  setUpScrollBoxes();
  drawCharts();
});
document.addEventListener("htmx:afterSettle", (event) => {
  setUpScrollBoxes(event.target);
  drawCharts(event.target);
});
