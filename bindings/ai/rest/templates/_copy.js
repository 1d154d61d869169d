// Copy buttons of the usage snippets.
(() => {
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const code = button.closest(".snippet").querySelector("code").textContent;
      try { await navigator.clipboard.writeText(code); button.textContent = "Copied"; }
      catch (e) { button.textContent = "Select and copy"; }
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
  }
})();
