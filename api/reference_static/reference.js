// Starts Swagger UI on this service's own OpenAPI document (the page's #swagger-ui says where it is).
// BaseLayout: no top bar, so no other document can be loaded; validatorUrl null: no call to swagger.io;
// deepLinking off: each operation's summary is one button with no link nested inside it.
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  // Controls Swagger UI renders without an accessible name, or scrollable without being focusable.
  var NAMES = [
    ["select#servers", "Server"],
    ["select.examples-select-element", "Example"],
    ["select.content-type", "Media type"],
    ["button.close-modal", "Close"],
    [".copy-to-clipboard button", "Copy to clipboard"],
  ];
  function mend() {
    NAMES.forEach(function (pair) {
      root.querySelectorAll(pair[0] + ":not([aria-label])").forEach(function (element) {
        element.setAttribute("aria-label", pair[1]);
      });
    });
    root.querySelectorAll("pre:not([tabindex])").forEach(function (element) {
      element.setAttribute("tabindex", "0");
    });
  }
  new MutationObserver(mend).observe(root, { childList: true, subtree: true });
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: false,
    validatorUrl: null,
    syntaxHighlight: false,
    tryItOutEnabled: false,
    persistAuthorization: false,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
  });
})();
