"use strict";
// Swagger UI reads the live contract and builds the page from it.
const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.url,
  domNode: root,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  deepLinking: true,
  // Left unset, Swagger UI shows a badge from validator.swagger.io whenever the page is served
  // under any name but localhost or 127.0.0.1: a request to the outside world.
  validatorUrl: null,
});
