// Swagger UI for /openapi.json, from the packaged bundle (no CDN). An external file, not an inline
// script, so the page's Content-Security-Policy can forbid inline scripts.
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#ui",
  // No badge fetched from swagger.io's online validator: the page stays on this origin.
  validatorUrl: null,
  deepLinking: true,
});
