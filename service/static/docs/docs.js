// Starts Swagger UI on /openapi.json. A file, not an inline script: /docs allows scripts from this origin only.
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    // Off: its links sit inside each operation's toggle button, a control nested in a control (axe: nested-interactive).
    deepLinking: false,
    // No badge fetched from the public validator: the page works offline and talks to this origin only.
    validatorUrl: null,
    defaultModelsExpandDepth: 0,
    // A reference to read, not a console: no "Try it out" (its form fields have no labels). docs/api.md has curl.
    supportedSubmitMethods: [],
    // Plain examples: the highlighter's colours are inline and too faint on its dark background (axe: contrast).
    syntaxHighlight: false,
  });
  // Names Swagger UI leaves out: each operation's responses table is a live region, named after its operation so
  // that, with several open, the regions can be told apart (axe: landmark-unique); a parameter's list of allowed
  // values is named after the parameter (axe: select-name).
  new MutationObserver(function () {
    document.querySelectorAll("tr[data-param-name] select:not([aria-label])").forEach(function (select) {
      select.setAttribute("aria-label", select.closest("tr").getAttribute("data-param-name"));
    });
    document.querySelectorAll("table.responses-table[role=region]:not([aria-label])").forEach(function (table) {
      var summary = table.closest(".opblock");
      var method = summary && summary.querySelector(".opblock-summary-method");
      var path = summary && summary.querySelector(".opblock-summary-path");
      var name = method && path ? method.textContent + " " + path.textContent.replace(/\u200b/g, "") : "an operation";
      table.setAttribute("aria-label", "Responses of " + name);
    });
  }).observe(document.getElementById("swagger-ui"), {childList: true, subtree: true});
});
